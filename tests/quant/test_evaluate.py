"""Accuracy bookkeeping: per-image correctness and paired differences between two models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from coexplore.quant.evaluate import correct, paired_difference, top1


def test_top1_is_the_mean_of_per_image_correctness() -> None:
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    x, y = torch.randn(37, 3, 2, 2, generator=g), torch.randint(0, 5, (37,), generator=g)
    right = correct(model, x, y, torch.device("cpu"), batch=8)  # batches that do not divide
    assert right.shape == (37,) and right.dtype == bool
    with torch.no_grad():
        assert (right == (model(x).argmax(1) == y).numpy()).all()
    assert top1(model, x, y, torch.device("cpu")) == pytest.approx(100 * right.mean())


def test_paired_difference_counts_only_the_images_that_flip() -> None:
    n = 10_000
    base = np.zeros(n, dtype=bool)
    base[:8_000] = True
    same = base.copy()
    assert paired_difference(same, base) == (0.0, 0.0)
    # 100 images flip to right and 80 to wrong: +0.2 points
    a = base.copy()
    a[8_000:8_100] = True
    a[:80] = False
    delta, ci = paired_difference(a, base)
    assert delta == pytest.approx(0.2)
    var = 180 / n - (20 / n) ** 2  # E[d^2] - E[d]^2, d in {-1, 0, +1} per image
    assert ci == pytest.approx(100 * 1.96 * math.sqrt(var / n))  # ~0.26: not distinguishable
    assert delta < ci
    # the same +0.2 from 20 images that only gain: a clear difference
    b = base.copy()
    b[8_000:8_020] = True
    delta_b, ci_b = paired_difference(b, base)
    assert delta_b == pytest.approx(0.2) and ci_b < delta_b
    assert paired_difference(base, a)[0] == pytest.approx(-0.2)  # antisymmetric
    with pytest.raises(ValueError, match="one length"):
        paired_difference(a, base[:10])
