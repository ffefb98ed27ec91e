"""Real tiny training runs: the loss falls, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from segmodel.errors import CheckpointError, ConfigError, PromptError
from segmodel.training import build_config, train

SMALL = {
    "model": {"preset": "tiny", "overrides": {"image_size": 64}},
    "prompts": {"classes": "seen"},
    "data": {"dataset": "shapes", "options": {"size": 64, "length": 64}, "resize_short": 64,
             "crop": 64, "workers": 0},
    "optim": {"lr": 2e-3, "encoder_lr_mult": 1.0, "clip_grad_norm": 1.0},
    "run": {"steps": 8, "batch_size": 4, "log_every": 1, "checkpoint_every": 4,
            "tensorboard": False},
}  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """The CI box is shared: one intra-op thread avoids oversubscription (tests only)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(tmp_path, name, *overrides):
    return build_config(SMALL, [f"run.out={tmp_path / name}", *overrides])


def test_tiny_training_loss_falls(tmp_path):
    result = train(_config(tmp_path, "run", "run.steps=30", "run.checkpoint_every=30"),
                   progress=False)  # fmt: skip
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 30 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, losses
    out = tmp_path / "run"
    assert (out / "model.safetensors").is_file() and (out / "config.toml").is_file()
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 31))
    assert {"loss", "lr", "data_wait_s", "step_time_s"} <= set(lines[0])
    assert lines[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # cosine to 0 at the last step
    ckpt = out / "checkpoints" / "step-000030"
    assert (ckpt / "config.toml").read_text() == (out / "config.toml").read_text()
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-000030"


def test_resume_equals_uninterrupted_run(tmp_path):
    whole = train(_config(tmp_path, "whole"), progress=False)
    part = train(_config(tmp_path, "split"), progress=False, stop_at=4)
    assert part.steps_done == 4 and part.model_path is None
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        train(_config(tmp_path, "split"), progress=False)
    with pytest.raises(ConfigError, match=r"changed settings \['optim.lr'\]"):
        train(_config(tmp_path, "split", "optim.lr=0.1"), resume=True, progress=False)
    rest = train(_config(tmp_path, "split"), resume=True, progress=False)
    assert rest.steps_done == 8
    a = load_file(str(whole.model_path))
    b = load_file(str(rest.model_path))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert [x for x in whole.losses if x[0] > 4] == rest.losses


def test_resume_after_a_kill_between_checkpoints_logs_each_step_once(tmp_path):
    whole = train(_config(tmp_path, "whole"), progress=False)
    train(_config(tmp_path, "split"), progress=False, stop_at=4)
    log = tmp_path / "split" / "log.jsonl"
    whole_lines = (tmp_path / "whole" / "log.jsonl").read_text().splitlines(keepends=True)
    with log.open("a") as f:  # what a run killed at step 6 wrote past its checkpoint at step 4
        f.writelines(whole_lines[4:6])
    train(_config(tmp_path, "split"), resume=True, progress=False)
    records = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 9))
    assert [r["loss"] for r in records] == [loss for _, loss in whole.losses]


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        train(_config(tmp_path, "none"), resume=True, progress=False)


def test_training_reads_dual_prompts_from_a_bank(tmp_path):
    from promptbank.build import build_bank
    from segmodel.checkpoint import read_header

    bank = build_bank("shapes", tmp_path / "bank", generator="procedural", encoder="tiny",
                      templates=2, images_per_template=1, resolution=64, steps=2,
                      device="cpu", progress=False)  # fmt: skip
    common = [f"prompts.bank={bank}", "run.steps=2"]
    plain = train(_config(tmp_path, "plain", *common), progress=False)
    result = train(_config(tmp_path, "banked", *common, "eval.every=1", "eval.limit=2",
                           "eval.inference=2"), progress=False)  # fmt: skip
    a, b = load_file(str(plain.model_path)), load_file(str(result.model_path))
    assert all(torch.equal(a[k], b[k]) for k in a)  # evaluating leaves the training untouched
    assert result.steps_done == 2 and all(
        torch.isfinite(torch.tensor([x for _, x in result.losses]))
    )
    extra = read_header(result.model_path)["extra"]
    assert extra["bank"] == str(bank) and "red circle" in extra["classes"]
    assert "yellow star" not in extra["classes"]  # prompts.classes = "seen"
    records = [json.loads(x) for x in (tmp_path / "banked" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and records == result.evals
    assert {"mIoU", "pACC", "seen_mIoU", "unseen_mIoU"} <= set(records[0])
    with pytest.raises(ConfigError, match="eval.every"):
        _config(tmp_path, "x", "eval.every=5")  # evaluation needs a bank


def test_model_follows_the_bank_templates_and_records_its_absolute_path(tmp_path, monkeypatch):
    from promptbank.build import build_bank
    from segmodel.checkpoint import read_header

    monkeypatch.chdir(tmp_path)
    build_bank("shapes", "bank3", generator="procedural", encoder="tiny", templates=3,
               images_per_template=1, resolution=64, steps=2, device="cpu",
               progress=False)  # fmt: skip
    result = train(_config(tmp_path, "t3", "prompts.bank=bank3", "run.steps=1"), progress=False)
    header = read_header(result.model_path)
    assert header["config"]["num_templates"] == 3  # the tiny preset alone says 2
    assert header["extra"]["bank"] == str(tmp_path / "bank3")
    with pytest.raises(PromptError, match="build the bank with 2 templates"):
        train(_config(tmp_path, "t2", "prompts.bank=bank3", "run.steps=1",
                      "model.overrides.num_templates=2"), progress=False)  # fmt: skip
