"""`dpseg world pretrain-clip` writes a real open_clip checkpoint that the encoder-name path loads."""

import hashlib
import json

import pytest
import torch

from promptbank.encoder import load_encoder


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("world") / "mini.safetensors"
    exe = Path(sys.executable).parent / "dpseg"
    result = subprocess.run(
        [str(exe), "world", "pretrain-clip", "--out", str(out), "--steps", "6",
         "--pool", "64", "--batch-size", "16", "--seed", "3"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result


def test_checkpoint_is_fp16_safetensors_with_its_recipe(pretrained):
    from safetensors.torch import load_file

    out, result = pretrained
    assert "step 6/6" in result.stderr and "ETA" in result.stderr  # progress
    state = load_file(str(out))
    assert {t.dtype for t in state.values()} == {torch.float16}
    record = json.loads(out.with_name("mini.json").read_text())
    assert record["recipe"]["seed"] == 3 and record["recipe"]["steps"] == 6
    assert record["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert not list(out.parent.glob("*.tmp"))


def test_checkpoint_loads_through_the_encoder_name_path_and_differs_from_random(pretrained):
    out, _ = pretrained
    trained = load_encoder("tiny-world", weights=out)
    random = load_encoder("tiny")
    assert (
        trained.identity()["weights_sha256"]
        == json.loads(out.with_name("mini.json").read_text())["sha256"]
    )
    text = ["a rendering of a red circle.", "a rendering of sand."]
    assert not torch.allclose(trained.encode_text(text), random.encode_text(text))
    state = {k: v.half() for k, v in trained.clip.state_dict().items()}
    from safetensors.torch import load_file

    on_disk = load_file(str(out))
    assert all(torch.equal(state[k], on_disk[k]) for k in on_disk)


def test_pretraining_goes_on_from_a_checkpoint(pretrained, tmp_path, run_dpseg):
    first, _ = pretrained
    out = tmp_path / "longer.safetensors"
    run_dpseg("world", "pretrain-clip", "--out", str(out), "--steps", "2", "--pool", "32",
              "--batch-size", "16", "--seed", "4", "--init", str(first), "--lr", "1e-4",
              "--scene-fraction", "0", check=True)  # fmt: skip
    record = json.loads(out.with_name("longer.json").read_text())
    first_sha = json.loads(first.with_name("mini.json").read_text())["sha256"]
    assert record["init"] == f"{first} (sha256 {first_sha})"
    assert record["recipe"]["lr"] == 1e-4 and record["recipe"]["scene_fraction"] == 0.0
    text = ["a rendering of a red circle."]
    before = load_encoder("tiny-world", weights=first).encode_text(text)
    after = load_encoder("tiny-world", weights=out).encode_text(text)
    random = load_encoder("tiny").encode_text(text)
    assert not torch.equal(before, after)  # it trained
    assert (after - before).norm() < (
        after - random
    ).norm()  # from the checkpoint, not from scratch


def test_the_pool_follows_the_recipe_scene_fraction():
    from promptbank.world.pretrain import PretrainRecipe, render_pool

    for fraction, concepts in ((0.0, {1}), (1.0, {2, 3, 4, 5, 6})):
        recipe = PretrainRecipe(pool=12, render_size=32, scene_fraction=fraction)
        pool = render_pool(recipe, workers=1, progress=False)
        assert {int((row > 0).sum()) for row in pool.targets} <= concepts


def test_shipped_world_clip_is_listed_and_loads(run_dpseg):
    from promptbank import catalog

    listed = json.loads(run_dpseg("models", "list", "--json", check=True).stdout)
    row = next(r for r in listed if r["name"] == "tiny-world")
    assert row["weights"] == f"shipped: {catalog.TINY_WORLD_WEIGHTS}"
    record = json.loads(catalog.TINY_WORLD_WEIGHTS.with_suffix(".json").read_text())
    assert load_encoder("tiny-world").identity()["weights_sha256"] == record["sha256"]


def test_bad_output_name_is_one_line(run_dpseg):
    result = run_dpseg("world", "pretrain-clip", "--out", "clip.pt")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "must end in .safetensors" in result.stderr
