"""Fixtures for the quantization tests (``shared_data`` is in tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

# The smallest synthetic set that exercises every phase (get_method overrides).
TINY = dict(synthetic__n_images=32, synthetic__batch_size=16, synthetic__steps=3)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Gives every BN layer non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()
