"""`dpseg data prepare` and `dpseg data list` as a user runs them: resume after a kill, re-runs,
`--force`, and bad input (exit 2, one line naming the file and the fix, nothing half-written)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from segmodel.datasets import DatasetError, open_dataset
from segmodel.datasets.base import PrepareError
from segmodel.datasets.benchmarks import LAYOUTS
from segmodel.datasets.prepare import prepare
from segmodel.datasets.prepare.tables import coco_stuff
from tests.conftest import dpseg_executable
from tests.datasets_prepare import miniature


def _one_line_error(result, *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _no_partials(root) -> None:
    assert not [p for p in root.rglob(".*.tmp")], "temporary files left behind"


def test_resume_after_kill_completes_with_correct_files(tmp_path, run_dpseg):
    root = tmp_path / "datasets"
    labels = root / "coco-stuff/annotations/val2017"
    labels.mkdir(parents=True)
    (root / "coco-stuff/annotations/train2017").mkdir(parents=True)
    miniature.write_png(root / "coco-stuff/annotations/train2017/a.png", np.zeros((4, 4), np.uint8))
    raw = miniature.blocks(48, 64, miniature.COCO_RAW, np.uint8)
    total = 600
    for i in range(total):
        miniature.write_png(labels / f"{i:012d}.png", np.roll(raw, i, axis=1))
    out = root / "coco-stuff/annotations_detectron2/val2017"
    args = ["data", "prepare", "coco-stuff171", "--root", str(root), "--workers", "2"]
    proc = subprocess.Popen(
        [*dpseg_executable(), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches the pool's workers
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and len(os.listdir(out)) >= 60:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(out.glob("*.png")))
    assert 0 < done_at_kill < total, f"the kill came at {done_at_kill} of {total} files"
    for path in out.glob("*.png"):  # every visible file is complete
        with Image.open(path) as im:
            im.load()

    result = run_dpseg(*args, check=True)
    assert f"{done_at_kill} already done" in result.stdout
    _no_partials(root)
    assert len(list(out.glob("*.png"))) == total
    table = coco_stuff()
    for i in (0, 17, total - 1):
        with Image.open(out / f"{i:012d}.png") as im:
            np.testing.assert_array_equal(np.asarray(im), table[np.roll(raw, i, axis=1)])


def test_rerun_is_a_no_op_and_force_rewrites(tmp_path, run_dpseg):
    miniature.voc(tmp_path)
    args = ["data", "prepare", "voc20", "--root", str(tmp_path), "--workers", "2", "-q"]
    first = run_dpseg(*args, check=True)
    assert "5 files written" in first.stdout
    files = sorted((tmp_path / "VOCdevkit/VOC2012").glob("annotations_detectron2*/val/*.png"))
    stamps = [p.stat().st_mtime_ns for p in files]
    second = run_dpseg(*args, check=True)
    assert "0 files written" in second.stdout
    assert [p.stat().st_mtime_ns for p in files] == stamps
    forced = run_dpseg(*args, "--force", check=True)
    assert "5 files written" in forced.stdout


def test_data_list_shows_ready_layouts_and_how_to_get_the_others(tmp_path, run_dpseg):
    miniature.ade150(tmp_path)
    before = run_dpseg("data", "list", "--root", tmp_path, check=True).stdout
    assert "ADE-150               missing" in before
    assert "run: dpseg data prepare ade150 --root" in before
    run_dpseg("data", "prepare", "ade150", "--root", tmp_path, check=True)
    after = run_dpseg("data", "list", "--root", tmp_path, check=True).stdout
    row = next(line for line in after.splitlines() if line.startswith("ADE-150"))
    assert row.split() == ["ADE-150", "ready", "3", "3", "3", "/", "2000"]
    assert "run: dpseg data prepare ade150" not in after
    assert "ADEChallengeData2016" not in after.split("to get")[1:]  # no fix for a ready one
    assert "download ADE20K_2021_17_01.zip" in after


def test_root_defaults_to_detectron2_datasets(tmp_path, run_dpseg):
    miniature.voc(tmp_path / "d2")
    env = {"DETECTRON2_DATASETS": str(tmp_path / "d2")}
    run_dpseg("data", "prepare", "all", "-q", env=env, check=True)
    assert (
        tmp_path / "d2/VOCdevkit/VOC2012/annotations_detectron2_bg/val/2007_000042.png"
    ).exists()


@pytest.mark.parametrize(("name", "split"), sorted(LAYOUTS))
def test_not_prepared_errors_of_train_and_eval_name_the_command(tmp_path, name, split):
    """`dpseg train` and `dpseg eval` open benchmarks through `open_dataset`."""
    target = "voc20" if name == "voc20b" else name
    with pytest.raises(DatasetError, match=f"dpseg data prepare {target} --root {tmp_path} "):
        open_dataset(name, tmp_path, split=split)


def test_root_without_download_is_one_line(tmp_path, run_dpseg):
    result = run_dpseg("data", "prepare", "ade150", "--root", tmp_path)
    _one_line_error(result, "ADEChallengeData2016.zip", "dpseg data prepare ade150")


def test_half_extracted_label_names_the_file(tmp_path, run_dpseg):
    miniature.coco_stuff(tmp_path)
    victim = tmp_path / "coco-stuff/annotations/val2017/000001000000.png"
    victim.write_bytes(victim.read_bytes()[:60])  # extraction stopped inside the file
    result = run_dpseg("data", "prepare", "coco-stuff171", "--root", tmp_path, "-q")
    _one_line_error(result, str(victim), "extract stuffthingmaps_trainval2017.zip again")
    _no_partials(tmp_path)
    assert not (tmp_path / "coco-stuff/annotations_detectron2/val2017/000001000000.png").exists()


def test_missing_val_label_is_a_half_extracted_archive(tmp_path, run_dpseg):
    miniature.voc(tmp_path)
    (tmp_path / "VOCdevkit/VOC2012/SegmentationClassAug/2007_000123.png").unlink()
    result = run_dpseg("data", "prepare", "voc20", "--root", tmp_path)
    _one_line_error(result, "2007_000123.png", "extract SegmentationClassAug.zip again")
    assert not (tmp_path / "VOCdevkit/VOC2012/annotations_detectron2").exists()


@pytest.mark.parametrize(
    ("label", "needle"),
    [
        (np.zeros((20, 24, 3), np.uint8), "has mode RGB, expected L or P"),
        (np.zeros((20, 25), np.uint8), "is 25x20 but its image"),
    ],
)
def test_label_of_wrong_mode_or_size(tmp_path, run_dpseg, label, needle):
    miniature.coco_stuff(tmp_path)
    victim = tmp_path / "coco-stuff/annotations/train2017/000000000001.png"
    Image.fromarray(label).save(victim)
    result = run_dpseg("data", "prepare", "coco-stuff171", "--root", tmp_path, "-q")
    _one_line_error(result, str(victim), needle)
    _no_partials(tmp_path)


def test_json_that_is_not_the_detail_apis(tmp_path, run_dpseg):
    miniature.pascal_context(tmp_path)
    path = tmp_path / "VOCdevkit/VOC2010/trainval_merged.json"
    path.write_text('{"images": [], "annotations": []}')  # a COCO-style file, not Detail's
    result = run_dpseg("data", "prepare", "pc59", "--root", tmp_path)
    _one_line_error(result, str(path), "Detail API's trainval_merged.json")
    assert not (tmp_path / "VOCdevkit/VOC2010/annotations_detectron2").exists()


def test_ade_index_that_would_run_code_is_refused_unrun(tmp_path, run_dpseg):
    miniature.ade_full(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    index = tmp_path / "ADE20K_2021_17_01/index_ade20k.pkl"
    index.write_bytes(pickle.dumps({"folder": ["x"], "filename": [Payload()]}))
    result = run_dpseg("data", "prepare", "ade847", "--root", tmp_path)
    _one_line_error(result, str(index), "which an index never needs")
    assert not marker.exists()


def test_ade_index_of_the_wrong_shape_is_refused(tmp_path, run_dpseg):
    miniature.ade_full(tmp_path)
    index = tmp_path / "ADE20K_2021_17_01/index_ade20k.pkl"
    index.write_bytes(pickle.dumps({"folder": "ADE20K_2021_17_01", "filename": ["a.jpg"]}))
    result = run_dpseg("data", "prepare", "ade847", "--root", tmp_path)
    _one_line_error(result, str(index), "lists of strings 'folder' and 'filename'")
    index.write_bytes(pickle.dumps({"folder": ["../../etc"], "filename": ["ADE_val_1.jpg"]}))
    result = run_dpseg("data", "prepare", "ade847", "--root", tmp_path)
    _one_line_error(result, "outside the datasets root")


def test_ade_full_without_its_seg_png_is_half_extracted(tmp_path, run_dpseg):
    miniature.ade_full(tmp_path, sizes=((30, 40), (20, 30)))
    seg = tmp_path / "ADE20K_2021_17_01/images/ADE/validation/urban/street/ADE_val_00000002_seg.png"
    seg.unlink()
    result = run_dpseg("data", "prepare", "ade847", "--root", tmp_path, "-q")
    _one_line_error(result, str(seg), "extract ADE20K_2021_17_01.zip again")
    _no_partials(tmp_path)


def test_mat_without_labelmap_is_refused(tmp_path):
    import scipy.io

    miniature.pascal_context(tmp_path)
    mat = tmp_path / "VOCdevkit/VOC2010/trainval/2008_000003.mat"
    scipy.io.savemat(mat, {"Segmentation": np.zeros((18, 22), np.uint16)})
    with pytest.raises(PrepareError, match=f"{mat} has no 2-D uint16 'LabelMap'"):
        prepare("pc459", tmp_path, workers=1, progress=False)
