"""`dpseg eval --pred/--gt` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DPSEG = Path(sys.executable).with_name("dpseg")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DPSEG), "eval", *args], capture_output=True, text=True, timeout=120)


def _save(folder: Path, stem: str, array, ext: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(folder / f"{stem}{ext}")


@pytest.fixture
def scored(tmp_path):
    """Two images whose confusion matrix is the hand-computed one of test_metrics."""
    _save(tmp_path / "gt", "a", np.array([[0, 0, 1]], np.uint8))
    _save(tmp_path / "gt", "b", np.array([[1, 2, 255]], np.uint8))
    _save(tmp_path / "pred", "a", np.array([[0, 1, 1]], np.uint8))
    _save(tmp_path / "pred", "b", np.array([[1, 0, 2]], np.uint16), ".tif")
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\n")
    return tmp_path


def test_eval_pred_mode_writes_results(scored):
    out = scored / "out"
    proc = _run("--pred", str(scored / "pred"), "--gt", str(scored / "gt"),
                "--classes", str(scored / "classes.txt"), "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "images/s" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == "detectron2" and results["images"] == 2
    assert results["mIoU"] == pytest.approx(100 / 3)
    assert results["fwIoU"] == pytest.approx(40.0)
    assert results["mACC"] == pytest.approx(50.0)
    assert results["pACC"] == pytest.approx(60.0)
    assert results["per_class"]["road"]["IoU"] == pytest.approx(200 / 3)
    table = (out / "results.md").read_text()
    assert "| 33.33 | 40.00 | 50.00 | 60.00 |" in table and "| road | 66.67 | 100.00 |" in table
    assert not list(out.glob(".*tmp*"))


def test_eval_mmseg_protocol_and_shipped_vocabulary(tmp_path):
    _save(tmp_path / "gt", "x", np.array([[0, 0, 1, 1, 255]], np.uint8))
    _save(tmp_path / "pred", "x", np.array([[0, 19, 1, 1, 19]], np.uint8))
    out = tmp_path / "out"
    proc = _run("--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--classes",
                "voc20", "--protocol", "mmseg", "--out", str(out), "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    # mmseg: class 19 (tvmonitor) predicted but absent scores IoU 0 and counts
    assert results["per_class"]["tvmonitor"]["IoU"] == 0.0
    assert results["mIoU"] == pytest.approx((50 + 100 + 0) / 3)


def test_eval_voc20b_folds_query_indices_into_background(tmp_path):
    _save(tmp_path / "gt", "v", np.array([[20, 20, 3, 255]], np.uint8))
    _save(tmp_path / "pred", "v", np.array([[25, 58, 40, 3]], np.uint8))
    out = tmp_path / "out"
    proc = _run("--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--classes",
                "voc20b", "--out", str(out), "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["num_classes"] == 21
    assert results["per_class"]["background"]["IoU"] == pytest.approx(200 / 3)
    assert results["per_class"]["boat"]["IoU"] == 0.0


def test_eval_reports_unpaired_and_mismatched_files_in_one_line(scored):
    _save(scored / "pred", "extra", np.zeros((1, 3), np.uint8))
    args = ["--gt", str(scored / "gt"), "--classes", str(scored / "classes.txt"),
            "--out", str(scored / "out")]  # fmt: skip
    proc = _run("--pred", str(scored / "pred"), *args)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dpseg: error: 1 prediction(s) have no ground truth with the same stem")
    (scored / "pred" / "extra.png").unlink()
    _save(scored / "pred", "a", np.zeros((2, 3), np.uint8))
    proc = _run("--pred", str(scored / "pred"), *args)
    assert proc.returncode == 1
    assert "a.png is 3x2 but its ground truth is 3x1" in proc.stderr
    proc = _run("--pred", str(scored / "nowhere"), *args)
    assert proc.returncode == 1 and "prediction folder not found" in proc.stderr
    proc = _run("--pred", str(scored / "pred"), "--gt", str(scored / "gt"), "--out", "x")
    assert proc.returncode == 2 and "--classes" in proc.stderr  # a usage error


def test_eval_without_a_mode_explains_both(tmp_path):
    proc = _run("--out", str(tmp_path))
    assert proc.returncode == 2
    assert "--pred DIR --gt DIR --classes FILE, or --checkpoint" in proc.stderr


def test_eval_help_does_not_import_numpy():
    code = (
        "import sys, cli.evaluate; "
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture(scope="module")
def tiny_checkpoint_and_bank(tmp_path_factory):
    """A shapes bank (2 templates) and a random tiny DPSeg saved with the same encoder."""
    import torch

    from promptbank.build import build_bank
    from segmodel import build_model, save_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test box is shared
    root = tmp_path_factory.mktemp("model-eval")
    bank = build_bank("shapes", root / "bank", generator="procedural", encoder="tiny",
                      templates=2, images_per_template=1, resolution=64, steps=2,
                      device="cpu", progress=False)  # fmt: skip
    torch.manual_seed(0)
    model = build_model("tiny", num_templates=2, image_size=64)
    yield save_model(model, root / "model.safetensors"), bank
    torch.set_num_threads(threads)


def test_eval_checkpoint_mode_on_the_shapes_world(tiny_checkpoint_and_bank, tmp_path):
    checkpoint, bank = tiny_checkpoint_and_bank
    out = tmp_path / "out"
    env = {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(DPSEG), "eval", "--checkpoint", str(checkpoint.parent), "--dataset", "shapes",
         "--bank", str(bank), "--limit", "3", "--device", "cpu", "--inference", "2", "--out",
         str(out), "--refine", "features-pooled"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["images"] == 3 and results["source"]["inference"] == 2
    assert results["source"]["refine"]["replaces"] == "pooled"
    assert results["source"]["checkpoint"] == str(checkpoint)  # the run folder's model
    assert results["num_classes"] == 13 and 0.0 <= results["pACC"] <= 100.0
    assert {"seen_mIoU", "unseen_mIoU", "harmonic_mIoU"} <= set(results)
    assert "seen_mIoU" in (out / "results.md").read_text()


def test_eval_checkpoint_mode_names_missing_options(tiny_checkpoint_and_bank, tmp_path):
    proc = _run("--checkpoint", str(tmp_path / "x.safetensors"), "--out", str(tmp_path))
    assert proc.returncode == 2 and "needs --dataset besides --checkpoint" in proc.stderr
    checkpoint, _ = tiny_checkpoint_and_bank  # dual, records no bank: one needs to be given
    proc = _run("--checkpoint", str(checkpoint), "--dataset", "shapes", "--out", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"dpseg: error: --bank is missing and checkpoint {checkpoint} records no bank that "
        "exists (none); pass --bank DIR built with the model's encoder"
    )


def test_eval_text_only_checkpoint_needs_no_bank(tmp_path):
    import torch

    from segmodel import build_model, save_model

    torch.manual_seed(0)
    text = build_model("tiny", image_size=64, prompt_mode="text", visual_cost_prototypes=1,
                       visual_cost=("upsample",) * 3)  # fmt: skip
    checkpoint = save_model(text, tmp_path / "text.safetensors")
    proc = _run("--checkpoint", str(checkpoint), "--dataset", "shapes", "--limit", "2",
                "--device", "cpu", "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["images"] == 2 and results["source"]["bank"] is None


@pytest.mark.slow
def test_eval_two_processes_sum_to_one(tiny_checkpoint_and_bank, tmp_path):
    """torchrun with 2 CPU processes: each scores half the images, the matrices are summed."""
    checkpoint, bank = tiny_checkpoint_and_bank
    args = ["eval", "--checkpoint", str(checkpoint), "--dataset", "shapes", "--bank", str(bank),
            "--limit", "4", "--device", "cpu", "-q"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([str(DPSEG), *args, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run([str(torchrun), "--nproc_per_node", "2", str(DPSEG), *args, "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / "one" / "results.json").read_text())
    b = json.loads((tmp_path / "two" / "results.json").read_text())
    assert b["images"] == 4 and b["per_class"] == a["per_class"] and b["mIoU"] == a["mIoU"]
