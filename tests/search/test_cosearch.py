"""The co-search end to end on a small budget, and its parts: gradients reach the logits
through the generator and the evaluator; winners are re-verified; nothing infeasible is
returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from coexplore import ConfigError, InfeasibleDesignError
from coexplore.accel_model import Accelerator, AnalyticalModel
from coexplore.runs import read_run, save_run
from coexplore.search import Constraints, CoSearchSpec, dance, run
from coexplore.search.constraints import cost_metrics
from coexplore.search.space import SKIP, get_space

SMALL = dict(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2, batch_size=16,
             quantize=False)  # the hand-off has its own tests (test_handoff.py)


pytestmark = pytest.mark.usefixtures("small_cost_nets")


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
        costs = AnalyticalModel.for_search().evaluate(wl, [Accelerator.from_dict(w.accelerator)])
        values = cost_metrics(costs)
        assert values["fps"][0] == pytest.approx(w.verified["fps"])
        assert values["fps"][0] >= 100 and w.slack["fps_min"] >= 0
        # the evaluator's prediction is kept beside the analytical model's value, not for it
        assert w.predicted["fps"] > 0 and w.predicted["fps"] != w.generator_verified["fps"]
    assert 0 <= r.test_accuracy_fp <= 100 and 0 <= r.test_accuracy_quant <= 100
    folder = save_run(res, tmp_path)
    m = read_run(folder)
    assert m.kind == "co-search" and m.metrics["fps"] >= 100
    assert {"winners.csv", "architecture.json", "accelerator.yaml", "trajectory.csv"} <= {
        a["name"] for a in m.artefacts
    }
    traj = (folder / "trajectory.csv").read_text().splitlines()
    assert len(traj) == 25 and "pred_fps" in traj[0] and "manipulated" in traj[0]
    header = (folder / "winners.csv").read_text().splitlines()[0].split(",")
    assert {"predicted_fps", "generator_verified_fps", "verified_fps"} <= set(header)


def test_another_mapper_labels_the_evaluator_and_verifies_the_winners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``mapper`` and ``bits_aware`` reach every pricing of the run: the evaluator's labels
    (its own cache entry) and the winners' verification; no call falls back to the default."""
    seen: list[str] = []
    evaluate = AnalyticalModel.evaluate

    def spy(self: AnalyticalModel, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append((self.mapper_metric, self.bits_aware))
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(AnalyticalModel, "evaluate", spy)
    spec = CoSearchSpec(constraints=Constraints(fps_min=100), mapper="latency", bits_aware=True,
                        **SMALL)  # fmt: skip
    r = run(spec).result
    assert r.winners and set(seen) == {("latency", True)}
    sp = get_space("tiny")
    latency_model = AnalyticalModel(mapper_metric="latency", bits_aware=True)
    for w in r.winners:
        wl = sp.workload(np.array(w.ops), np.array(w.bits))
        costs = latency_model.evaluate(wl, [Accelerator.from_dict(w.accelerator)])
        assert cost_metrics(costs)["fps"][0] == pytest.approx(w.verified["fps"])
    # one evaluator per mapper, side by side in the cache
    other = dance.cost_nets(sp, spec.constraints, model=latency_model)
    default = dance.cost_nets(sp, spec.constraints)
    assert other.cached and other.folder.parent != default.folder.parent
    with pytest.raises(ConfigError, match="`mapper` must be one of"):
        CoSearchSpec(mapper="fastest")


def test_a_seed_gives_the_same_design_whatever_the_callers_thread_count() -> None:
    spec = CoSearchSpec(constraints=Constraints(fps_min=100), **SMALL)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = run(spec).result
        assert torch.get_num_threads() == 1  # restored after the run
    finally:
        torch.set_num_threads(before)
    b = run(spec).result
    assert [w.architecture for w in a.winners] == [w.architecture for w in b.winners]
    assert a.val_accuracy == b.val_accuracy


def test_a_bound_no_accelerator_meets_ends_infeasible_with_the_closest() -> None:
    spec = CoSearchSpec(strategy="dance-soft", constraints=Constraints(fps_min=1e7), **SMALL)
    with pytest.raises(InfeasibleDesignError, match="Closest: .*short of 1e\\+07"):
        run(spec)


@pytest.mark.parametrize("strategy", ["dance-adaptive", "random"])
def test_baseline_strategies_return_verified_feasible_winners(
    strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coexplore.search.cosearch import RandomSearch

    monkeypatch.setattr(RandomSearch, "RANDOM_CANDIDATES", 4)
    spec = CoSearchSpec(strategy=strategy, constraints=Constraints(fps_min=100), **SMALL)
    r = run(spec).result
    assert r.strategy == strategy and r.winners
    assert all(w.verified["fps"] >= 100 for w in r.winners)
    if strategy == "random":  # ranked by validation accuracy, no architecture steps
        assert r.val_accuracy == sorted(r.val_accuracy, reverse=True) and r.arch_steps == 16
        assert r.manipulated_steps == 0


@pytest.mark.parametrize("strategy", ["dance-hdx", "random"])
def test_a_bits_subset_keeps_every_winner_in_it(strategy: str) -> None:
    spec = CoSearchSpec(strategy=strategy, constraints=Constraints(fps_min=100), bits=(4, 8),
                        **SMALL)  # fmt: skip
    r = run(spec).result
    for w in r.winners:
        kept = [b for o, b in zip(w.ops, w.bit_widths, strict=True) if o != SKIP]
        assert set(kept) <= {4, 8}
    with pytest.raises(ConfigError, match="must be chosen from"):
        CoSearchSpec(bits=(5,))


def test_zero_shot_runs_search_only_the_widths_zero_shot_holds_up_at() -> None:
    from coexplore.search.specs import ZERO_SHOT_BITS, CompareSpec

    assert CoSearchSpec().bits == ZERO_SHOT_BITS == (4, 6, 8)  # the default run quantizes
    assert CoSearchSpec(quantize=False).bits == ()  # all of the space's widths
    assert CoSearchSpec(bits=(2, 8)).bits == (2, 8)  # an explicit choice is kept
    again = CoSearchSpec.from_dict(CoSearchSpec().to_dict())
    assert again == CoSearchSpec() and again.bits == (4, 6, 8)  # run.json records them
    assert CompareSpec().problem.bits == ()  # compare runs never quantize


def test_a_weight_step_clips_the_gradient_and_skips_a_non_finite_one() -> None:
    from coexplore.search.cosearch import DanceHDX

    s = DanceHDX(CoSearchSpec(grad_clip=0.5, **SMALL))
    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    s.skipped_steps = 0
    before = [p.detach().clone() for p in lin.parameters()]
    norm = s._weight_step(opt, (lin(torch.full((1, 4), 100.0)) ** 2).sum())
    assert norm > 0.5  # the norm before clipping is reported ...
    pairs = list(zip(lin.parameters(), before, strict=True))
    moved = torch.cat([(p.detach() - b).flatten() for p, b in pairs])
    assert float(moved.norm()) == pytest.approx(0.5, rel=1e-4)  # ... the step is clipped
    before = [p.detach().clone() for p in lin.parameters()]
    s._weight_step(opt, lin(torch.full((1, 4), float("nan"))).sum())
    assert s.skipped_steps == 1  # a NaN step leaves the weights as they were
    assert all(torch.equal(p, b) for p, b in zip(lin.parameters(), before, strict=True))
    with pytest.raises(ConfigError, match="grad_clip"):
        CoSearchSpec(grad_clip=-1.0)
