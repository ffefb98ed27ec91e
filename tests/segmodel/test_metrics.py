"""Metric values against hand-computed confusion matrices, for both protocols."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segmodel.metrics import ConfusionMatrix, MetricError, background_remap


def _cm(pred, gt, num_classes, ignore=255, **kwargs) -> ConfusionMatrix:
    cm = ConfusionMatrix(num_classes, ignore, **kwargs)
    cm.update(np.array(pred, dtype=np.int64), np.array(gt, dtype=np.int64))
    return cm


def test_basic_values_match_hand_computation_for_both_protocols():
    # pixels (pred, gt): (0,0) (1,0) (1,1) (1,1) (0,2) and (2, ignore)
    gt = [[0, 0, 1], [1, 2, 255]]
    pred = [[0, 1, 1], [1, 0, 2]]
    cm = _cm(pred, gt, 3, class_names=["a", "b", "c"])
    assert cm.ignored == 1
    expected_core = np.array([[1, 0, 1], [1, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(cm.matrix[:3, :3], expected_core)
    for protocol in ("detectron2", "mmseg"):
        r = cm.compute(protocol)
        # tp=[1,2,0] gt=[2,2,1] pred=[2,3,0] union=[3,3,1]
        assert r["mIoU"] == pytest.approx(100 * (1 / 3 + 2 / 3 + 0) / 3)
        assert r["fwIoU"] == pytest.approx(100 * (1 / 3 * 2 + 2 / 3 * 2) / 5)
        assert r["mACC"] == pytest.approx(100 * (0.5 + 1 + 0) / 3)
        assert r["pACC"] == pytest.approx(60.0)
        assert r["per_class"]["b"]["IoU"] == pytest.approx(100 * 2 / 3)
        assert r["per_class"]["c"]["ACC"] == pytest.approx(0.0)


def test_predicted_but_absent_class_differs_between_protocols():
    # valid pixels: (0,0) (3,0) (1,1) (1,1); the two ignore pixels carry predictions 3 and 0
    gt = [0, 0, 1, 1, 255, 255]
    pred = [0, 3, 1, 1, 3, 0]
    cm = _cm([pred], [gt], 4)
    d2 = cm.compute("detectron2")
    # detectron2: classes 2 and 3 have no GT -> NaN, excluded although 3 was predicted
    assert d2["per_class"]["3"] == {"IoU": None, "ACC": None}
    assert d2["per_class"]["2"] == {"IoU": None, "ACC": None}
    assert d2["per_class"]["0"]["IoU"] == pytest.approx(50.0)  # tp 1 / (gt 2 + pred 1 - 1)
    assert d2["mIoU"] == pytest.approx(75.0)
    assert d2["mACC"] == pytest.approx(75.0)
    assert d2["pACC"] == pytest.approx(75.0)
    assert d2["fwIoU"] == pytest.approx(75.0)
    mm = cm.compute("mmseg")
    # mmseg: class 3 has union 1, intersection 0 -> IoU 0 and counts; class 2 is 0/0 -> NaN
    assert mm["per_class"]["3"] == {"IoU": 0.0, "ACC": None}
    assert mm["per_class"]["2"] == {"IoU": None, "ACC": None}
    assert mm["mIoU"] == pytest.approx(100 * (0.5 + 1 + 0) / 3)
    assert mm["mACC"] == pytest.approx(75.0)
    assert mm["pACC"] == pytest.approx(75.0)
    assert mm["fwIoU"] == pytest.approx(75.0)


def test_predictions_on_ignore_pixels_never_count():
    gt = np.full((4, 4), 255)
    gt[0, 0] = 1
    pred = np.zeros((4, 4), dtype=np.int64)  # class 0 predicted everywhere, incl. ignore
    pred[0, 0] = 1
    cm = _cm(pred, gt, 2)
    assert cm.ignored == 15
    for protocol in ("detectron2", "mmseg"):
        r = cm.compute(protocol)
        assert r["mIoU"] == pytest.approx(100.0)
        assert r["pACC"] == pytest.approx(100.0)
        assert r["per_class"]["0"]["IoU"] is None


def test_out_of_range_prediction_dropped_by_detectron2_missed_by_mmseg():
    cm = _cm([255, 1], [0, 1], 2)
    d2 = cm.compute("detectron2")
    # detectron2 reads only the first N rows: the pixel vanishes, class 0 has no GT left
    assert d2["per_class"]["0"]["IoU"] is None
    assert d2["mIoU"] == pytest.approx(100.0)
    assert d2["pACC"] == pytest.approx(100.0)
    mm = cm.compute("mmseg")
    # mmseg's histc drops the prediction but keeps the GT: a miss for class 0
    assert mm["per_class"]["0"] == {"IoU": 0.0, "ACC": 0.0}
    assert mm["mIoU"] == pytest.approx(50.0)
    assert mm["pACC"] == pytest.approx(50.0)


def test_stray_gt_refused_by_detectron2_false_positive_in_mmseg():
    cm = _cm([0, 1], [0, 7], 2)
    with pytest.raises(MetricError, match="outside 0..1.*7"):
        cm.compute("detectron2")
    mm = cm.compute("mmseg")
    # GT 7 is out of histc range: only the prediction 1 counts (false positive of class 1)
    assert mm["per_class"]["1"] == {"IoU": 0.0, "ACC": None}
    assert mm["mIoU"] == pytest.approx(50.0)
    assert mm["mACC"] == pytest.approx(100.0)
    assert mm["pACC"] == pytest.approx(100.0)


def test_voc20b_predictions_beyond_20_count_as_background():
    remap = background_remap(59, 20)
    cm = _cm([25, 58, 40, 3], [20, 20, 3, 255], 21, pred_remap=remap)
    assert cm.matrix[20, 20] == 2 and cm.matrix[20, 3] == 1 and cm.ignored == 1
    r = cm.compute("detectron2")
    assert r["per_class"]["20"]["IoU"] == pytest.approx(100 * 2 / 3)
    assert r["per_class"]["3"]["IoU"] == pytest.approx(0.0)
    assert r["mIoU"] == pytest.approx(100 / 3)


def test_merge_equals_single_accumulation_and_result_is_json_safe():
    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 5, (7, 9)) for _ in range(4)]
    gts = [np.where(rng.random((7, 9)) < 0.1, 255, rng.integers(0, 4, (7, 9))) for _ in range(4)]
    whole, a, b = (ConfusionMatrix(5, 255) for _ in range(3))
    for i, (p, g) in enumerate(zip(preds, gts)):
        whole.update(p, g)
        (a if i % 2 else b).update(p, g)
    a.merge(b)
    np.testing.assert_array_equal(a.matrix, whole.matrix)
    assert a.images == 4 and a.ignored == whole.ignored
    for protocol in ("detectron2", "mmseg"):
        result = whole.compute(protocol)
        json.dumps(result, allow_nan=False)
        assert result == a.compute(protocol)


def _mmseg_reference(preds, gts, n, ignore):
    """Independent per-image histogram implementation of MMSegmentation's IoUMetric."""
    inter = np.zeros(n)
    union = np.zeros(n)
    label = np.zeros(n)
    for p, g in zip(preds, gts):
        keep = g != ignore
        p, g = p[keep], g[keep]

        def hist(v):
            v = v[(v >= 0) & (v <= n - 1)]
            return np.bincount(v, minlength=n)[:n].astype(float)

        i, hp, hl = hist(p[p == g]), hist(p), hist(g)
        inter, union, label = inter + i, union + hp + hl - i, label + hl
    with np.errstate(divide="ignore", invalid="ignore"):
        iou, acc = inter / union, inter / label
    return np.nanmean(iou) * 100, np.nanmean(acc) * 100, inter.sum() / label.sum() * 100


def test_mmseg_matches_independent_histogram_reference_on_messy_labels():
    rng = np.random.default_rng(1)
    n, ignore = 6, 255
    preds = [rng.integers(-1, 9, (11, 13)) for _ in range(5)]  # some out of range
    gts = [rng.choice([0, 1, 2, 4, 7, 255], (11, 13)) for _ in range(5)]  # 3, 5 absent; 7 stray
    cm = ConfusionMatrix(n, ignore)
    for p, g in zip(preds, gts):
        cm.update(p, g)
    miou, macc, aacc = _mmseg_reference(preds, gts, n, ignore)
    r = cm.compute("mmseg")
    assert r["mIoU"] == pytest.approx(miou)
    assert r["mACC"] == pytest.approx(macc)
    assert r["pACC"] == pytest.approx(aacc)


def test_detectron2_matches_direct_bincount_formula():
    rng = np.random.default_rng(2)
    n = 5
    preds = [rng.integers(0, n, (8, 8)) for _ in range(3)]
    gts = [rng.choice([0, 1, 3, 255], (8, 8)) for _ in range(3)]
    conf = np.zeros((n + 1, n + 1), dtype=np.int64)
    cm = ConfusionMatrix(n, 255)
    for p, g in zip(preds, gts):
        cm.update(p, g)
        g = np.where(g == 255, n, g)
        conf += np.bincount((n + 1) * p.ravel() + g.ravel(), minlength=(n + 1) ** 2).reshape(
            n + 1, n + 1
        )
    tp = conf.diagonal()[:-1]
    pos_gt = conf[:-1, :-1].sum(0)
    pos_pred = conf[:-1, :-1].sum(1)
    valid = pos_gt > 0
    iou = tp[valid] / (pos_gt + pos_pred - tp)[valid]
    r = cm.compute("detectron2")
    assert r["mIoU"] == pytest.approx(100 * iou.mean())
    assert r["fwIoU"] == pytest.approx(100 * np.sum(iou * pos_gt[valid] / pos_gt.sum()))
    assert r["mACC"] == pytest.approx(100 * np.mean(tp[valid] / pos_gt[valid]))
    assert r["pACC"] == pytest.approx(100 * tp.sum() / pos_gt.sum())
    assert r["per_class"]["2"]["IoU"] is None


def test_bad_inputs_give_metric_errors():
    cm = ConfusionMatrix(3, 255)
    with pytest.raises(MetricError, match="shape"):
        cm.update(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64))
    with pytest.raises(MetricError, match="integer"):
        cm.update(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int64))
    with pytest.raises(MetricError, match="unknown protocol"):
        cm.compute("coco")
    with pytest.raises(MetricError, match="class_names"):
        ConfusionMatrix(3, 255, class_names=["a"])


def test_empty_accumulator_reports_none():
    r = ConfusionMatrix(2, 255).compute("detectron2")
    assert r["mIoU"] is None and r["pACC"] is None and r["fwIoU"] is None


def _reduce_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    cm = ConfusionMatrix(3, 255)
    cm.update(np.array([rank, 2]), np.array([rank, 255]))
    cm.all_reduce()
    if rank == 0:
        np.save(out_file, cm.matrix)
    dist.destroy_process_group()


def test_all_reduce_sums_over_two_processes(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "m.npy"
    args = (2, str(tmp_path / "init"), str(out))
    mp.start_processes(_reduce_worker, args=args, nprocs=2, join=True, start_method="fork")
    matrix = np.load(out)
    assert matrix[0, 0] == 1 and matrix[1, 1] == 1 and matrix.sum() == 2


def test_all_reduce_without_distributed_is_a_no_op():
    cm = _cm([0], [0], 2)
    before = cm.matrix.copy()
    cm.all_reduce()
    np.testing.assert_array_equal(cm.matrix, before)
