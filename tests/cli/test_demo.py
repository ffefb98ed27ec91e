"""`dpseg demo --quick` end to end through the console script: every step, toy sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from promptbank.format import bank_id

DPSEG = Path(sys.executable).with_name("dpseg")
ROWS = ("text_only", "dual_inference1", "dual_inference2", "vip_training_free", "vip_bank_seeded")


def _demo(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the test box is shared
    return subprocess.run(
        [str(DPSEG), "demo", "--quick", "--out", str(out), *extra], capture_output=True,
        text=True, env=env, timeout=600,
    )  # fmt: skip


def test_quick_demo_runs_every_step_and_reuses_its_bank(tmp_path):
    out = tmp_path / "demo"
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr
    for n in range(1, 5):
        assert f"[{n}/4]" in proc.stderr
    assert "steps/s" in proc.stderr and "ETA" in proc.stderr  # progress with rate and ETA
    assert "| model | mIoU | seen mIoU | unseen mIoU |" in proc.stdout
    assert "| dual, inference II |" in proc.stdout and "| VIP, bank-seeded |" in proc.stdout

    results = json.loads((out / "results.json").read_text())
    for row in ROWS:
        assert {"miou", "seen_miou", "unseen_miou", "per_class"} <= results[row].keys()
        assert 0 <= results[row]["miou"] <= 100
        assert len(results[row]["per_class"]) == 13
    assert results["unseen_classes"] == ["yellow star", "cyan diamond", "pink heart", "sand"]
    assert results["timing"]["cpu_seconds"] > 0
    assert results["encoder"]["name"] == "tiny-world" and len(results["encoder"]["sha256"]) == 64
    manifest = json.loads((out / "bank" / "manifest.json").read_text())
    assert manifest["recipe"]["encoder"]["name"] == "tiny-world"
    assert "| text only |" in (out / "results.md").read_text()

    sheet = Image.open(out / "overlays.png")
    rows = sorted((out / "overlays").glob("val_*.png"))
    assert len(rows) == 2 and sheet.height >= 2 * Image.open(rows[0]).height - 1
    assert Image.open(out / "loss.png").size == (640, 400)  # both training curves

    again = _demo(out)
    assert again.returncode == 0, again.stderr
    assert "reusing the bank" in again.stderr and "reusing the trained model" in again.stderr
    assert (
        json.loads((out / "results.json").read_text())["dual_inference1"]
        == (results["dual_inference1"])
    )

    # A bank from another recipe (an older world, say) is rebuilt, and the models with it.
    manifest = out / "bank" / "manifest.json"
    record = json.loads(manifest.read_text())
    original = record["bank_id"]
    record["recipe"]["seed"] += 1  # an honest older recipe: its id and checksum agree with it
    record["bank_id"] = bank_id(record["recipe"])
    record.pop("manifest_sha256")
    manifest.write_text(json.dumps(record))
    third = _demo(out, "--steps", "3", "--seed", "5", "--prototypes", "2",
                  "--set", "optim.weight_decay=0.001")  # fmt: skip
    assert third.returncode == 0, third.stderr
    log = (out / "dual" / "log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["step"] == 3  # --steps overrides the quick settings' 4
    config = (out / "dual" / "config.toml").read_text()
    assert "seed = 5" in config and "weight_decay = 0.001" in config
    assert "visual_cost_prototypes = 2" in config  # the quick settings' P is 1
    assert "another recipe" in third.stderr and "trained with the old bank" in third.stderr
    assert json.loads(manifest.read_text())["bank_id"] == original
    assert "reusing the trained model" not in third.stderr
