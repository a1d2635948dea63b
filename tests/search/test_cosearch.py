"""The co-search end to end on a small budget, and its parts: gradients reach the logits
through the generator and the evaluator; winners are re-verified; nothing infeasible is
returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from coexplore import InfeasibleDesignError
from coexplore.accel_model import Accelerator, AnalyticalModel
from coexplore.runs import read_run, save_run
from coexplore.search import Constraints, CoSearchSpec, dance, run
from coexplore.search.constraints import cost_metrics
from coexplore.search.evaluator import EvaluatorConfig
from coexplore.search.generator import GeneratorConfig
from coexplore.search.space import get_space

SMALL = dict(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2, batch_size=16)


@pytest.fixture(autouse=True)
def small_cost_nets(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Small on-demand evaluator/generator budgets and a private cache for these tests."""
    monkeypatch.setattr(dance, "ONDEMAND_EVALUATOR", EvaluatorConfig(
        samples=3000, pool=512, test_samples=300, train_steps=300, hw_batch=16))  # fmt: skip
    monkeypatch.setattr(dance, "ONDEMAND_GENERATOR", GeneratorConfig(train_steps=60, batch=64))
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_gradients_reach_the_logits_through_generator_and_evaluator() -> None:
    sp = get_space("tiny")
    nets = dance.cost_nets(sp)
    alpha = torch.zeros(sp.n_slots, sp.n_ops, requires_grad=True)
    beta = torch.zeros(sp.n_slots, len(sp.bits), requires_grad=True)
    p_ops, p_bits = dance.arch_probs(sp, alpha, beta)
    metrics, log_obj, hw = dance.relaxed_metrics(nets, p_ops, p_bits, "edp")
    log_obj.backward(retain_graph=True)
    assert alpha.grad.abs().sum() > 0 and beta.grad.abs().sum() > 0
    # more bits cost more: the gradient of the cost on the 8-bit logits is positive
    assert float(beta.grad[:, -1].sum()) > float(beta.grad[:, 0].sum())
    # the evaluator was cached: a second call loads it
    assert dance.cost_nets(sp).cached and hw.shape[1] == sp.hardware.encoding_dim


def test_cosearch_winners_are_verified_on_the_analytical_model(tmp_path: Path) -> None:
    spec = CoSearchSpec(constraints=Constraints(fps_min=100), **SMALL)
    res = run(spec)
    r = res.result
    assert r.winners and r.steps_done == 24 and r.arch_steps == 16
    sp = get_space("tiny")
    for w in r.winners:
        wl = sp.workload(np.array(w.ops), np.array(w.bits))
        costs = AnalyticalModel().evaluate(wl, [Accelerator.from_dict(w.accelerator)])
        values = cost_metrics(costs)
        assert values["fps"][0] == pytest.approx(w.verified["fps"])
        assert values["fps"][0] >= 100 and w.slack["fps_min"] >= 0
    assert 0 <= r.test_accuracy_fp <= 100 and 0 <= r.test_accuracy_quant <= 100
    folder = save_run(res, tmp_path)
    m = read_run(folder)
    assert m.kind == "co-search" and m.metrics["fps"] >= 100
    assert {"winners.csv", "architecture.json", "accelerator.yaml", "trajectory.csv"} <= {
        a["name"] for a in m.artefacts
    }
    traj = (folder / "trajectory.csv").read_text().splitlines()
    assert len(traj) == 25 and "pred_fps" in traj[0] and "manipulated" in traj[0]


def test_a_bound_no_accelerator_meets_ends_infeasible_with_the_closest() -> None:
    spec = CoSearchSpec(strategy="dance-soft", constraints=Constraints(fps_min=1e7), **SMALL)
    with pytest.raises(InfeasibleDesignError, match="Closest: .*short of 1e\\+07"):
        run(spec)
