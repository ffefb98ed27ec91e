"""Line charts drawn with PIL alone (no plotting library): training curves for people to look at.

from segmodel.plots import line_chart, read_loss_curve, write_loss_chart
curves = {"dual": read_loss_curve("runs/demo/dual/log.jsonl")}
line_chart(curves, title="training loss", xlabel="step", ylabel="loss").save("loss.png")
write_loss_chart({"run": "runs/try/log.jsonl"}, "runs/try/loss.png")   # smoothed, atomic
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SERIES_RGB = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
MARGIN = (56, 28, 16, 40)  # left, top, right, bottom: room for tick labels, title, axis label


def read_loss_curve(log: str | Path, key: str = "loss") -> list[tuple[float, float]]:
    """(step, value) pairs of one training log (`log.jsonl` of `dpseg train`)."""
    points = []
    for line in Path(log).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if key in record and "step" in record:
            points.append((float(record["step"]), float(record[key])))
    return points


def smooth(points: Sequence[tuple[float, float]], window: int) -> list[tuple[float, float]]:
    """Centred moving average of the values over `window` points (1 = unchanged)."""
    if window <= 1 or len(points) < window:
        return list(points)
    half, ys = window // 2, [y for _, y in points]
    out = []
    for i, (x, _) in enumerate(points):
        part = ys[max(0, i - half) : i + half + 1]
        out.append((x, sum(part) / len(part)))
    return out


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering lo..hi (steps of 1, 2 or 5 times a power of 10)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda s: abs((hi - lo) / s - count))
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (640, 400),
) -> Image.Image:
    """One RGB picture: every series as a line, axes with round ticks, a legend top right."""
    drawn = {name: pts for name, pts in series.items() if pts}
    if not drawn:
        raise ValueError("line_chart needs at least one series with points")
    xs = [x for pts in drawn.values() for x, _ in pts]
    ys = [y for pts in drawn.values() for _, y in pts]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pad = 0.05 * ((max(ys) - min(ys)) or 1.0)
    y0, y1 = min(ys) - pad, max(ys) + pad
    w, h = size
    left, top, right, bottom = MARGIN
    plot_w, plot_h = w - left - right, h - top - bottom
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def to_px(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * plot_w, top + (y1 - y) / (y1 - y0) * plot_h

    for tick in nice_ticks(y0, y1, 6):
        _, py = to_px(x0, tick)
        draw.line([(left, py), (w - right, py)], fill=(230, 230, 230))
        draw.text((4, py - 6), f"{tick:g}", fill="black", font=font)
    for tick in nice_ticks(x0, x1):
        px, _ = to_px(tick, y0)
        draw.line([(px, top), (px, h - bottom)], fill=(230, 230, 230))
        draw.text((px - 10, h - bottom + 4), f"{tick:g}", fill="black", font=font)
    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for i, (name, pts) in enumerate(drawn.items()):
        colour = SERIES_RGB[i % len(SERIES_RGB)]
        draw.line([to_px(x, y) for x, y in pts], fill=colour, width=2)
        ly = top + 8 + 14 * i
        draw.line([(w - right - 150, ly + 6), (w - right - 130, ly + 6)], fill=colour, width=3)
        draw.text((w - right - 125, ly), name, fill="black", font=font)
    draw.text((left, 8), title, fill="black", font=font)
    draw.text((left + plot_w // 2 - 10, h - 16), xlabel, fill="black", font=font)
    draw.text((4, top - 16), ylabel, fill="black", font=font)
    return image


def write_loss_chart(logs: Mapping[str, str | Path], path: str | Path, window: int = 9) -> Path:
    """The training-loss curves of `logs` ({name: log.jsonl}) as one PNG at `path`, each
    smoothed over `window` log points; written to a temporary name and renamed into place."""
    curves = {name: smooth(read_loss_curve(log), window) for name, log in logs.items()}
    title = f"training loss (moving average of {window} log points)" if window > 1 else "loss"
    chart = line_chart(curves, title=title, xlabel="step", ylabel="loss")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    chart.save(tmp)
    os.replace(tmp, path)
    return path


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """One RGB picture: a group of bars per entry of `groups`, one bar per series, each
    `(height, spread)` drawn as a bar with a whisker of +- spread; group labels below, wrapped."""
    names = list(series)
    if not groups or not names or any(len(series[n]) != len(groups) for n in names):
        raise ValueError("bar_chart needs one (height, spread) per group in every series")
    w, h = size or (max(480, 40 + 150 * len(groups)), 420)
    left, top, right, bottom = MARGIN[0], MARGIN[1] + 14, MARGIN[2], 74
    plot_w, plot_h = w - left - right, h - top - bottom
    tops = [v + e for n in names for v, e in series[n]]
    y1 = max(1.0, max(tops)) * 1.08
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def y_px(value: float) -> float:
        return top + (y1 - max(0.0, value)) / y1 * plot_h

    for tick in nice_ticks(0.0, y1, 6):
        draw.line([(left, y_px(tick)), (w - right, y_px(tick))], fill=(230, 230, 230))
        draw.text((4, y_px(tick) - 6), f"{tick:g}", fill="black", font=font)
    group_w = plot_w / len(groups)
    bar_w = group_w * 0.8 / len(names)
    for g, label in enumerate(groups):
        x0 = left + g * group_w + group_w * 0.1
        for i, name in enumerate(names):
            value, spread = series[name][g]
            bx = x0 + i * bar_w
            colour = SERIES_RGB[i % len(SERIES_RGB)]
            draw.rectangle([bx + 1, y_px(value), bx + bar_w - 1, y_px(0.0)], fill=colour)
            if spread > 0:
                cx = bx + bar_w / 2
                draw.line([(cx, y_px(value - spread)), (cx, y_px(value + spread))], fill="black")
                for y in (value - spread, value + spread):
                    draw.line([(cx - 3, y_px(y)), (cx + 3, y_px(y))], fill="black")
        chars = max(8, int(group_w / 6.5))
        for j, part in enumerate(_wrap(label, chars)[:4]):
            draw.text((x0, h - bottom + 6 + 12 * j), part, fill="black", font=font)
    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for i, name in enumerate(names):
        lx = left + 8 + 90 * i
        draw.rectangle([lx, top - 12, lx + 12, top - 2], fill=SERIES_RGB[i % len(SERIES_RGB)])
        draw.text((lx + 16, top - 13), name, fill="black", font=font)
    draw.text((left, 6), title, fill="black", font=font)
    return image


def _wrap(text: str, width: int) -> list[str]:
    """Words of `text` in lines of at most `width` characters (a longer word gets its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines
