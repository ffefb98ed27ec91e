"""`dpseg eval` runs on a root that `dpseg data prepare` wrote (slow: loads torch and a tiny CLIP)."""

from __future__ import annotations

import json

import pytest

from tests.datasets_prepare import miniature


@pytest.mark.slow
def test_eval_runs_on_the_prepared_root(tmp_path, run_dpseg):
    root = tmp_path / "datasets"
    miniature.voc(root)
    run_dpseg("data", "prepare", "voc20", "--root", root, "-q", check=True)
    out = tmp_path / "eval"
    run_dpseg(
        "eval", "--method", "vip", "--backbone", "tiny", "--dataset", "voc20",
        "--data-root", root, "--out", out, "--quiet", check=True,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["images"] == 2 and results["num_classes"] == 20, results
