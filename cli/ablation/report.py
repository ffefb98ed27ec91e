"""An ablation's results: per-row statistics over seeds, a verdict per claim, and the files.

Verdicts compare two rows seed by seed (both trained with the same seeds): the claim *holds* when
the mean gain exceeds twice its standard error over the seeds, *does not hold* when the mean gain
is below minus twice its standard error, and is *within noise* otherwise. Training-free rows have
no seed spread; for them the noise is the rounding of a table (0.5 mIoU).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

from cli.ablation.catalog import Ablation, Claim
from cli.demo_steps import atomic_text

METRICS = (("miou", "all"), ("seen_miou", "seen"), ("unseen_miou", "unseen"))
NOISE_FLOOR = 0.5  # mIoU: the smallest difference a table shows as real


def row_stats(figures: list[dict]) -> dict:
    """Mean, sample standard deviation and per-seed values of each metric over one row's seeds."""
    stats = {}
    for key, _ in METRICS:
        values = [f[key] for f in figures]
        stats[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values,
        }
    classes = figures[0]["per_class"]
    stats["per_class"] = {
        name: statistics.fmean(f["per_class"][name] or 0.0 for f in figures) for name in classes
    }
    return stats


def verdict(claim: Claim, results: dict[tuple[str, int], dict], seeds: list[int]) -> dict:
    """Whether `claim` holds on mIoU (all 13 classes), from the per-seed differences."""
    gains = [
        results[(claim.better, s)]["miou"] - results[(claim.worse, s)]["miou"]
        for s in seeds
        if (claim.better, s) in results and (claim.worse, s) in results
    ]
    mean = statistics.fmean(gains)
    error = statistics.stdev(gains) / math.sqrt(len(gains)) if len(gains) > 1 else 0.0
    noise = max(2 * error, NOISE_FLOOR)
    word = "holds" if mean > noise else "does not hold" if mean < -noise else "within noise"
    return {"claim": claim.text, "better": claim.better, "worse": claim.worse, "gain": mean,
            "noise": noise, "seeds": len(gains), "verdict": word}  # fmt: skip


def summarise(
    ablation: Ablation, results: dict[tuple[str, int], dict], seeds: list[int], meta: dict
) -> dict:
    """The JSON record of one ablation run."""
    seeds = seeds if ablation.seeded else [0]
    rows = {}
    for row in ablation.rows:
        figures = [results[(row.key, s)] for s in seeds]
        rows[row.key] = {"label": row.label, **row_stats(figures),
                         "per_seed": {str(s): f for s, f in zip(seeds, figures)}}  # fmt: skip
    return {
        "ablation": ablation.name,
        "title": ablation.title,
        "seeds": seeds,
        "rows": rows,
        "claims": [verdict(c, results, seeds) for c in ablation.claims],
        "paper": ablation.paper,
        "note": ablation.note,
        **meta,
    }


def markdown(record: dict) -> str:
    """The record as a Markdown page: the table, the verdicts, the paper's numbers, the chart."""
    seeds = record["seeds"]
    lines = [
        f"# {record['title']}",
        "",
        f"`dpseg ablate {record['ablation']}`: shapes world, world CLIP, {record['steps']} "
        f"training steps, {record['val_scenes']} val scenes, seeds {', '.join(map(str, seeds))}. "
        "mIoU in percent (detectron2 rules), mean ± standard deviation over seeds.",
        "",
        "| row | mIoU | seen | unseen |",
        "|---|---:|---:|---:|",
    ]
    for r in record["rows"].values():
        cells = [f"{r[k]['mean']:.1f} ± {r[k]['std']:.1f}" for k, _ in METRICS]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    lines += ["", "| claim (mIoU, all classes) | gain | noise | verdict |", "|---|---:|---:|---|"]
    for c in record["claims"]:
        lines.append(f"| {c['claim']} | {c['gain']:+.1f} | {c['noise']:.1f} | {c['verdict']} |")
    lines += ["", "The paper:", "", record["paper"], ""]
    if record["note"]:
        lines += [f"Note: {record['note']}", ""]
    lines += [f"![{record['ablation']}]({record['ablation']}.png)", ""]
    minutes = record["seconds"] / 60
    lines.append(f"Wall time of this run: {minutes:.1f} min (models reused from earlier runs "
                 "are not retrained).")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(record: dict, out: Path) -> list[Path]:
    """out/NAME.json, out/NAME.md and out/NAME.png, each written to a temporary name first."""
    from segmodel.plots import bar_chart

    name = record["ablation"]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json", out / f"{name}.md", out / f"{name}.png"]
    atomic_text(paths[0], json.dumps(record, indent=2, allow_nan=False) + "\n")
    atomic_text(paths[1], markdown(record))
    groups = [r["label"] for r in record["rows"].values()]
    series = {
        label: [(r[key]["mean"], r[key]["std"]) for r in record["rows"].values()]
        for key, label in METRICS
    }
    chart = bar_chart(groups, series, title=f"{record['title']} (mIoU, mean and spread over seeds)")
    tmp = paths[2].with_name(f".{paths[2].name}.tmp{os.getpid()}.png")
    chart.save(tmp)
    os.replace(tmp, paths[2])
    return paths
