"""Fixtures for the quantization tests. Tests that need ../shared/data skip when it is
absent; with COEXPLORE_REQUIRE_SHARED=1 (set by .ci/run) they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
# The smallest synthetic set that exercises every phase (get_method overrides).
TINY = dict(synthetic__n_images=32, synthetic__batch_size=16, synthetic__steps=3)


def _shared() -> Path | None:
    env = os.environ.get("COEXPLORE_SHARED_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if (path / "MANIFEST.md").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared()
    if path is None:
        if os.environ.get("COEXPLORE_REQUIRE_SHARED") == "1":
            pytest.fail("../shared/data is required here (COEXPLORE_REQUIRE_SHARED=1)")
        pytest.skip("../shared/data (CIFAR test subsets, ResNet weights) is not beside the repo")
    return path


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
