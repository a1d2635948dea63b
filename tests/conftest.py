"""Fixtures for every test folder. Tests that need ../shared/data skip when it is absent;
with COEXPLORE_REQUIRE_SHARED=1 (set by .ci/run) they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def small_cost_nets(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Small on-demand evaluator/generator budgets and a private cache for these tests."""
    from coexplore.search import dance
    from coexplore.search.evaluator import EvaluatorConfig
    from coexplore.search.generator import GeneratorConfig

    monkeypatch.setattr(dance, "ONDEMAND_EVALUATOR", EvaluatorConfig(
        samples=3000, pool=512, test_samples=300, train_steps=300, hw_batch=16))  # fmt: skip
    monkeypatch.setattr(dance, "ONDEMAND_GENERATOR", GeneratorConfig(train_steps=60, batch=64))
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
