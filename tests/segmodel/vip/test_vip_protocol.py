import pytest
import torch

from segmodel.vip.protocol import (
    labels_from_probs,
    pamr,
    resized_shape,
    slide,
    window_starts,
    windows,
)


@pytest.mark.parametrize(
    "h,w,crop,stride",
    [
        (336, 500, 336, 112),
        (100, 90, 336, 112),
        (337, 337, 336, 112),
        (50, 200, 32, 32),
        (64, 65, 16, 5),
        (7, 300, 7, 7),
    ],
)
def test_windows_cover_every_pixel(h, w, crop, stride):
    count = torch.zeros(h, w, dtype=torch.int64)
    for y0, y1, x0, x1 in windows(h, w, crop, stride):
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert y1 - y0 == min(crop, h) and x1 - x0 == min(crop, w)
        count[y0:y1, x0:x1] += 1
    assert count.min() >= 1
    starts = window_starts(w, crop, stride)
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("h,w", [(90, 130), (64, 64), (40, 200)])
def test_slide_average_is_exact(h, w):
    image = torch.randn(1, 3, h, w)
    calls = []

    def fn(crops):  # logits = the crop itself: averaging must give the image back exactly
        calls.append(crops.shape[0])
        return crops.clone()

    out = slide(image, fn, 3, crop=48, stride=20, batch=3)
    assert out.shape == (1, 3, h, w)
    assert torch.allclose(out, image, atol=1e-6)
    assert max(calls) <= 3


def test_resized_shape_follows_mmseg():
    assert resized_shape(375, 500, 336, 2048) == (336, 448)
    assert resized_shape(100, 5000, 336, 2048) == (41, 2048)
    assert resized_shape(77, 99, None, 2048) == (77, 99)


def test_no_abstain_without_background():
    probs = torch.full((4, 6, 7), 0.25)
    probs[2, :3] = 0.4
    labels = labels_from_probs(probs, background=False, bg_index=0, prob_threshold=0.9)
    assert labels.dtype == torch.int64
    assert labels.max() < 4 and labels.min() >= 0  # never 255
    with_bg = labels_from_probs(probs, background=True, bg_index=1, prob_threshold=0.3)
    assert (with_bg[3:] == 1).all() and (with_bg[:3] == 2).all()


def test_pamr_keeps_shape_and_mass():
    image = torch.rand(1, 3, 40, 50)
    probs = torch.rand(1, 5, 40, 50).softmax(dim=1)
    out = pamr(image, probs, steps=3, dilations=(1, 2))
    assert out.shape == probs.shape
    assert torch.allclose(out.sum(dim=1), torch.ones(1, 40, 50), atol=1e-5)
    assert pamr(image, probs, steps=0) is probs


def test_slide_pads_and_upsamples_low_resolution_logits():
    image = torch.randn(1, 3, 50, 70)
    seen = []

    def fn(crops):  # a constant per window at a 4x coarser grid
        seen.append(tuple(crops.shape[-2:]))
        return torch.ones(crops.shape[0], 2, crops.shape[2] // 4, crops.shape[3] // 4)

    out = slide(image, fn, 2, crop=30, stride=20, batch=2, multiple=8)
    assert all(h % 8 == 0 and w % 8 == 0 for h, w in seen)
    assert out.shape == (1, 2, 50, 70) and torch.allclose(out, torch.ones_like(out))
