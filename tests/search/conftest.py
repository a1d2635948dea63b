"""Fixtures of the search tests."""

from __future__ import annotations

import pytest

from coexplore.search import dance
from coexplore.search.evaluator import EvaluatorConfig
from coexplore.search.generator import GeneratorConfig


@pytest.fixture
def small_cost_nets(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Small on-demand evaluator/generator budgets and a private cache for these tests."""
    monkeypatch.setattr(dance, "ONDEMAND_EVALUATOR", EvaluatorConfig(
        samples=3000, pool=512, test_samples=300, train_steps=300, hw_batch=16))  # fmt: skip
    monkeypatch.setattr(dance, "ONDEMAND_GENERATOR", GeneratorConfig(train_steps=60, batch=64))
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
