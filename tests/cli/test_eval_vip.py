"""`dpseg eval --method vip`: training-free evaluation with every VIP setting as a flag."""

import dataclasses
import json

from cli.vip_options import vip_flag_parameters
from segmodel.vip.settings import VipSettings


def test_every_vip_setting_has_a_flag():
    flags = {p.name.removeprefix("vip_") for p in vip_flag_parameters()}
    assert flags == {f.name for f in dataclasses.fields(VipSettings)}


def test_eval_vip_on_shapes_applies_flags(run_dpseg, tmp_path):
    out = tmp_path / "vip"
    run_dpseg(
        "eval", "--method", "vip", "--backbone", "tiny", "--dataset", "shapes", "--limit", "2",
        "--protocol", "mmseg", "--vip-evolve-steps", "1", "--vip-pamr-steps", "1",
        "--vip-pamr-dilations", "2,4", "--no-vip-saliency", "--out", out, "-q", check=True,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["images"] == 2 and results["protocol"] == "mmseg"
    settings = results["source"]["settings"]
    assert settings["evolve_steps"] == 1 and settings["pamr_steps"] == 1
    assert settings["pamr_dilations"] == [2, 4] and settings["saliency"] is False
    assert settings["short_side"] == 384  # the shapes preset's value, not overridden
    assert 0 <= results["mIoU"] <= 100


def test_eval_vip_bad_setting_is_one_line(run_dpseg, tmp_path):
    result = run_dpseg("eval", "--method", "vip", "--dataset", "shapes", "--vip-tau", "-1",
                       "--out", tmp_path / "x")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dpseg: error: VIP setting tau=-1.0: expected > 0"
    ]
    assert not (tmp_path / "x" / "results.json").exists()


def test_segment_vip_takes_the_same_flags(run_dpseg, tmp_path):
    from PIL import Image

    from promptbank.world.shapes import render_scene

    image, _ = render_scene(5, 96)
    Image.fromarray(image).save(tmp_path / "scene.png")
    run_dpseg("segment", tmp_path / "scene.png", "--method", "vip", "--classes", "sky, grass",
              "--vip-evolve-steps", "1", "--out", tmp_path / "seg", "-q", check=True)  # fmt: skip
    record = json.loads((tmp_path / "seg" / "scene.json").read_text())
    assert record["vip_overrides"] == {"evolve_steps": 1}
