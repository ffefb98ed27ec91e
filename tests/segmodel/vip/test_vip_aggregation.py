import math

import pytest
import torch

from segmodel.vip.aggregation import aggregate, alias_logits, alias_weights, saliency

ALIAS_CLASS = torch.tensor([0, 1, 1, 1, 2, 2])  # class 0: 1 alias, class 1: 3, class 2: 2


def test_alias_weights_sum_to_one_per_class():
    sal = torch.randn(3, 6)
    w = alias_weights(sal, ALIAS_CLASS, 3)
    sums = torch.zeros(3, 3).index_add_(1, ALIAS_CLASS, w)
    assert torch.allclose(sums, torch.ones(3, 3), atol=1e-6)
    assert torch.allclose(w[:, 0], torch.ones(3))  # a lone alias takes all the weight
    # softmax within class 1
    assert torch.allclose(w[:, 1:4], sal[:, 1:4].softmax(dim=1), atol=1e-6)


def test_lse_matches_formula_and_keeps_single_alias_classes():
    logits = torch.randn(2, 6, 4, 5) * 10
    sal = torch.randn(2, 6)
    tau = 3.0
    out = aggregate(logits, ALIAS_CLASS, 3, rule="lse", sal=sal, tau=tau)
    assert out.shape == (2, 3, 4, 5)
    assert torch.allclose(out[:, 0], logits[:, 0], atol=1e-5)  # single alias: unchanged
    w = sal[:, 1:4].softmax(dim=1) * 3  # mean factor 1
    z = tau * w[:, :, None, None] * logits[:, 1:4]
    assert torch.allclose(out[:, 1], torch.logsumexp(z, dim=1) / tau, atol=1e-4)


def test_lse_is_a_smooth_max_without_saliency():
    logits = torch.randn(1, 6, 3, 3) * 5
    tau = 2.0
    out = aggregate(logits, ALIAS_CLASS, 3, rule="lse", sal=None, tau=tau)
    top = aggregate(logits, ALIAS_CLASS, 3, rule="max")
    assert (out >= top - 1e-5).all()
    assert (out[:, 1] <= top[:, 1] + math.log(3) / tau + 1e-5).all()


def test_max_and_mean_rules_merge_per_class():
    logits = torch.randn(2, 6, 3, 3)
    top = aggregate(logits, ALIAS_CLASS, 3, rule="max")
    mean = aggregate(logits, ALIAS_CLASS, 3, rule="mean")
    assert torch.equal(top[:, 1], logits[:, 1:4].amax(dim=1))
    assert torch.allclose(mean[:, 2], logits[:, 4:6].mean(dim=1))


def test_merge_ignores_alias_order():
    logits, sal = torch.randn(2, 6, 3, 3), torch.randn(2, 6)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    for rule in ("lse", "max", "mean"):
        a = aggregate(logits, ALIAS_CLASS, 3, rule=rule, sal=sal)
        b = aggregate(logits[:, perm], ALIAS_CLASS[perm], 3, rule=rule, sal=sal[:, perm])
        assert torch.allclose(a, b, atol=1e-5), rule


def test_alias_logits_and_saliency_are_scaled_cosines():
    dense = torch.randn(2, 8, 3, 4)
    queries = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    out = alias_logits(dense, queries, 40.0)
    assert out.shape == (2, 5, 3, 4)
    assert out.abs().max() <= 40.0 + 1e-4
    per_image = alias_logits(dense, queries.expand(2, -1, -1), 40.0)
    assert torch.allclose(out, per_image, atol=1e-5)
    s = saliency(torch.randn(2, 8), queries, tem=0.5)
    assert s.shape == (2, 5) and s.abs().max() <= 2.0 + 1e-5


def test_unknown_rule():
    with pytest.raises(ValueError, match="aggregation rule"):
        aggregate(torch.zeros(1, 6, 1, 1), ALIAS_CLASS, 3, rule="median")
