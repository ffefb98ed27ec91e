"""Line charts with PIL: ticks, smoothing, a real log file drawn to a PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segmodel.plots import (
    SERIES_RGB,
    line_chart,
    nice_ticks,
    read_loss_curve,
    smooth,
    write_loss_chart,
)


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert nice_ticks(10, 1600) == [500, 1000, 1500]
    ticks = nice_ticks(0.53, 1.87, 6)
    assert ticks[0] >= 0.53 and ticks[-1] <= 1.87 and len(ticks) >= 4


def test_smoothing_averages_neighbours_and_keeps_steps():
    points = [(float(i), float(i % 2)) for i in range(10)]
    out = smooth(points, 3)
    assert [x for x, _ in out] == [x for x, _ in points]
    assert out[4][1] == pytest.approx(2 / 3) and out[5][1] == pytest.approx(1 / 3)
    assert smooth(points, 1) == points


def test_loss_chart_from_a_log_file(tmp_path):
    log = tmp_path / "log.jsonl"
    rows = [{"step": s, "loss": 2.0 / s, "lr": 1e-3} for s in range(1, 41)]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert read_loss_curve(log)[:2] == [(1.0, 2.0), (2.0, 1.0)]
    path = write_loss_chart({"run": log, "again": log}, tmp_path / "loss.png", window=3)
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    colours = {tuple(p) for p in pixels}
    assert SERIES_RGB[0] in colours and SERIES_RGB[1] in colours  # both lines and legend drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "loss.png"]  # no temp left


def test_a_chart_needs_points():
    with pytest.raises(ValueError, match="at least one series"):
        line_chart({"empty": []})
