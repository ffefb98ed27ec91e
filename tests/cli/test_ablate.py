"""`dpseg ablate`: the verdict rule, the bar chart, bad seeds, and (slow) one ablation end to end."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from cli.ablation.catalog import ABLATIONS, Claim
from cli.ablation.report import verdict
from segmodel.plots import bar_chart


def _results(better: list[float], worse: list[float]) -> dict:
    return {
        **{("a", s): {"miou": v} for s, v in enumerate(better)},
        **{("b", s): {"miou": v} for s, v in enumerate(worse)},
    }


@pytest.mark.parametrize(
    ("better", "worse", "word"),
    [
        ([50.0, 52.0, 51.0], [45.0, 46.0, 44.0], "holds"),  # +6 every seed
        ([40.0, 41.0, 40.5], [45.0, 46.0, 44.0], "does not hold"),  # -4.5 every seed
        ([50.0, 40.0, 46.0], [45.0, 46.0, 44.0], "within noise"),  # +5, -6, +2
        ([45.2, 46.1, 44.3], [45.0, 46.0, 44.0], "within noise"),  # below the 0.5 floor
    ],
)
def test_verdict_compares_rows_seed_by_seed(better, worse, word):
    record = verdict(Claim("a beats b", "a", "b"), _results(better, worse), [0, 1, 2])
    assert record["verdict"] == word
    gain = sum(b - w for b, w in zip(better, worse)) / 3
    assert record["gain"] == pytest.approx(gain)
    assert record["seeds"] == 3


def test_every_claim_names_rows_of_its_ablation():
    for ablation in ABLATIONS.values():
        keys = [row.key for row in ablation.rows]
        assert len(keys) == len(set(keys)), ablation.name
        for claim in ablation.claims:
            assert {claim.better, claim.worse} <= set(keys), (ablation.name, claim)


def test_bar_chart_draws_every_group():
    chart = bar_chart(["one", "two", "three"], {"all": [(40, 2), (50, 0), (10, 5)],
                                               "seen": [(45, 1), (55, 2), (12, 1)]})  # fmt: skip
    assert isinstance(chart, Image.Image) and chart.width >= 480
    blue = (31, 119, 180)
    assert sum(1 for p in chart.getdata() if p == blue) > 500  # the first series' bars
    with pytest.raises(ValueError, match="one .height, spread. per group"):
        bar_chart(["one", "two"], {"all": [(1, 0)]})


def test_bad_seeds_are_a_usage_error(run_dpseg, tmp_path):
    result = run_dpseg("ablate", "prompts", "--seeds", "zero", "--out", tmp_path / "a")
    assert result.returncode == 2
    assert "--seeds" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_prompts_ablation_end_to_end_at_toy_size(run_dpseg, tmp_path):
    out = tmp_path / "ablations"
    first = run_dpseg("ablate", "prompts", "--quick", "--seeds", "0,1", "--out", out,
                      env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "ETA" in first.stderr and "[6/6 jobs" in first.stderr
    record = json.loads((out / "prompts.json").read_text())
    assert list(record["rows"]) == ["text", "visual", "dual"]
    for row in record["rows"].values():
        assert len(row["miou"]["values"]) == 2 and 0 <= row["miou"]["mean"] <= 100
        assert len(row["per_class"]) == 13
    assert [c["verdict"] in ("holds", "does not hold", "within noise")
            for c in record["claims"]] == [True] * 3  # fmt: skip
    page = (out / "prompts.md").read_text()
    assert "| visual only |" in page and "The paper:" in page and "| dual | 12.0 |" in page
    assert Image.open(out / "prompts.png").size[0] >= 480

    models = sorted(out.glob("models/*/model.safetensors"))
    assert len(models) == 6
    stamps = [m.stat().st_mtime_ns for m in models]
    again = run_dpseg("ablate", "prompts", "--quick", "--seeds", "0,1", "--out", out)
    assert again.returncode == 0, again.stderr
    assert [m.stat().st_mtime_ns for m in models] == stamps  # reused, not retrained
    assert json.loads((out / "prompts.json").read_text())["rows"] == record["rows"]
