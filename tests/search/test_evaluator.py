"""DANCE evaluator: the fast path equals the relaxed path, gradients point the right way,
saving refuses stale or foreign evaluators."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from coexplore.accel_model import AnalyticalModel  # noqa: E402
from coexplore.accel_model.design_space import PARAMETERS  # noqa: E402
from coexplore.errors import ConfigError  # noqa: E402
from coexplore.search.evaluator import (  # noqa: E402
    Evaluator,
    EvaluatorConfig,
    focus_pool,
    load_evaluator,
    save_evaluator,
    train_evaluator,
)
from coexplore.search.space import OPERATORS, get_space  # noqa: E402

TINY = EvaluatorConfig(samples=4000, pool=512, test_samples=500, train_steps=800, hw_batch=32)


@pytest.fixture(scope="module")
def trained() -> tuple[Evaluator, dict]:
    torch.manual_seed(0)
    return train_evaluator("tiny", TINY)


@pytest.mark.parametrize(("chunk", "threads"), [(4096, 1), (7, 2)])
def test_fast_path_equals_relaxed_path(chunk: int, threads: int) -> None:
    """Also with ragged chunks shared out to two workers (each with its own scratch)."""
    sp = get_space("tiny")
    ev = Evaluator(sp, width=16, dim=8, terms=2, log_mean=(12.0, 15.0, 0.5))
    ops, bits, hw = sp.sample(64, seed=3)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fast = ev.predict_indices(ops, bits, hw, chunk=chunk)
        assert torch.get_num_threads() == threads  # the workers leave the caller's setting
    finally:
        torch.set_num_threads(before)
    with torch.no_grad():
        dense = ev(torch.as_tensor(sp.encode(ops, bits, hw))).numpy()
    np.testing.assert_allclose(fast, dense, rtol=1e-5, atol=1e-5)


def test_focus_pool_holds_predicted_optimum_and_its_neighbours(trained) -> None:
    """The focus pool is what the search compares: the evaluator's predicted EDP optimum for
    a design and every accelerator one parameter away from it, each listed once."""
    ev, metrics = trained
    assert metrics["focus"]["accelerators"] > 0  # the default config trains with a focus pool
    sp = ev.space
    pool = focus_pool(ev, 2, seed=5)
    assert len(np.unique(pool, axis=0)) == len(pool)
    assert (pool >= 0).all() and (pool < np.array(sp.hardware.sizes)).all()
    ops, bits, _ = sp.sample(2, seed=5)
    allhw = sp.hardware.all_indices()
    pred = ev.predict_indices(
        np.tile(ops[0], (len(allhw), 1)), np.tile(bits[0], (len(allhw), 1)), allhw
    )
    log_s = pred[:, 0] - np.log(sp.hardware.batch(allhw).clock_hz)
    best = allhw[int(np.argmin(log_s + pred[:, 1]))]
    rows = {tuple(r) for r in pool.tolist()}
    for j, size in enumerate(sp.hardware.sizes):
        for v in range(size):
            moved = best.copy()
            moved[j] = v
            assert tuple(moved.tolist()) in rows


def test_trained_on_tiny_space_is_accurate(trained) -> None:
    _, metrics = trained
    # A short budget on a small space: loose bounds, but a broken model misses them by far.
    assert metrics["mape"]["latency"] < 0.10
    assert metrics["mape"]["area"] < 0.05
    assert metrics["spearman"]["latency"] > 0.95
    assert metrics["spearman"]["energy"] > 0.95


def _directional(ev: Evaluator, enc: np.ndarray, frm: int, to: int) -> np.ndarray:
    """d(predicted log latency) along moving probability mass from column frm to column to."""
    x = torch.as_tensor(enc, dtype=torch.float32).requires_grad_(True)
    ev(x)[:, 0].sum().backward()
    g = x.grad.numpy()
    return g[:, to] - g[:, frm]


def test_latency_gradient_grows_with_kernel_and_expansion(trained) -> None:
    ev, _ = trained
    sp = ev.space
    ops, bits, hw = sp.sample(200, seed=11)
    ops[:] = 0  # every slot k3 e3
    enc = sp.encode(ops, bits, hw)
    small, large = 0, len(OPERATORS) - 1  # k3_e3 -> k7_e6
    for slot in range(sp.n_slots):
        d = _directional(ev, enc, slot * sp.n_ops + small, slot * sp.n_ops + large)
        assert (d > 0).mean() >= 0.95, (slot, (d > 0).mean())


def test_latency_gradient_falls_with_pes_where_compute_bound(trained) -> None:
    ev, _ = trained
    sp = ev.space
    hwsp = sp.hardware
    j = PARAMETERS.index("pe_rows")
    ops, bits, hw = sp.sample(400, seed=12)
    hw[:, j] = 0  # fewest rows; the gradient moves mass to the next choice
    model = AnalyticalModel.for_search()
    more = hw.copy()
    more[:, j] = 1
    stall_share, faster = [], []
    for i in range(len(ops)):
        wl = sp.workload(ops[i], bits[i])
        a = model.evaluate(wl, hwsp.batch(hw[i : i + 1]))
        b = model.evaluate(wl, hwsp.batch(more[i : i + 1]))
        stall_share.append(float(a.stall_cycles[0] / a.latency_cycles[0]))
        faster.append(float(b.latency_cycles[0] < a.latency_cycles[0]))
    compute_bound = (np.array(stall_share) < 0.1) & (np.array(faster) > 0)
    assert compute_bound.sum() >= 20, "the sample must contain compute-bound designs"
    enc = sp.encode(ops, bits, hw)
    off = sp.n_slots * (sp.n_ops + len(sp.bits)) + int(np.sum(hwsp.sizes[:j]))
    d = _directional(ev, enc, off, off + 1)
    assert (d[compute_bound] < 0).mean() >= 0.95


def test_save_load_roundtrip_and_refusals(trained, tmp_path) -> None:
    ev, metrics = trained
    save_evaluator(ev, tmp_path, TINY, metrics)
    back, meta = load_evaluator(tmp_path, space="tiny")
    sp = ev.space
    ops, bits, hw = sp.sample(32, seed=5)
    np.testing.assert_allclose(
        back.predict_indices(ops, bits, hw), ev.predict_indices(ops, bits, hw), rtol=1e-6
    )
    assert meta["space"] == "tiny"
    with pytest.raises(ConfigError, match="trained for space 'tiny'"):
        load_evaluator(tmp_path, space="mbv2-cifar")

    class Newer(AnalyticalModel):
        version = "analytical-999"

    with pytest.raises(ConfigError, match="stale"):
        load_evaluator(tmp_path, model=Newer())
    with pytest.raises(ConfigError, match="stale"):  # labels of another mapper
        load_evaluator(tmp_path, model=AnalyticalModel(mapper_metric="edp"))
    with pytest.raises(ConfigError, match="no saved evaluator"):
        load_evaluator(tmp_path / "nowhere")


def test_bad_config_names_rule() -> None:
    with pytest.raises(ConfigError, match="train_steps"):
        EvaluatorConfig(train_steps=0)
    with pytest.raises(ConfigError, match="no field"):
        EvaluatorConfig.from_dict({"widht": 3})
    assert dataclasses.asdict(TINY)["pool"] == 512


def test_exhaustive_costs_match_the_cost_model() -> None:
    from coexplore.search.generator import _true_objective, exhaustive_costs

    sp = get_space("tiny")
    costs = exhaustive_costs(sp, chunk=40)
    assert len(costs.pool) == sp.hardware.size
    ops, bits, _ = sp.sample(3, seed=2)
    model = AnalyticalModel.for_search()
    for i in range(3):
        direct = model.evaluate(sp.workload(ops[i], bits[i]), sp.hardware.batch(costs.pool))
        want = np.where(direct.feasible, np.log(direct.edp_pj_s), np.inf)
        got = _true_objective(costs, ops[i], bits[i], "edp")
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_generator_beats_random_configurations(trained) -> None:
    from coexplore.search.generator import (
        GeneratorConfig,
        _true_objective,
        exhaustive_costs,
        measure_generator,
        train_generator,
    )

    ev, _ = trained
    sp = ev.space
    gen, info = train_generator(ev, GeneratorConfig(train_steps=300, batch=128, width=64))
    assert info["steps"] > 10
    costs = exhaustive_costs(sp)
    res = measure_generator(gen, costs, n_pairs=100, seed=3)
    # Baseline: a random configuration per pair, same pairs.
    ops, bits, _ = sp.sample(100, seed=3)
    rng = np.random.default_rng(0)
    rand_gap = []
    for i in range(100):
        val = _true_objective(costs, ops[i], bits[i], "edp")
        pick = val[rng.integers(0, len(val))]
        rand_gap.append(np.exp(pick - val.min()) - 1 if np.isfinite(pick) else np.inf)
    assert res["median_gap"] < np.median(rand_gap) / 3
    assert res["within_5pct"] >= 0.5


def test_unknown_objective_lists_valid_ones() -> None:
    from coexplore.search.generator import GeneratorConfig

    with pytest.raises(ConfigError, match="edp"):
        GeneratorConfig(objective="speed")


def test_same_seed_and_steps_give_the_same_networks_with_ordered_progress() -> None:
    from coexplore.progress import collect
    from coexplore.search.generator import GeneratorConfig, train_generator

    cfg = EvaluatorConfig(samples=2000, pool=256, test_samples=200, train_steps=120, hw_batch=16)
    gcfg = GeneratorConfig(train_steps=60, batch=64, width=32)
    events, cb = collect()
    ev1, m1 = train_evaluator("tiny", cfg, progress=cb)
    gen1, _ = train_generator(ev1, gcfg, progress=cb)
    ev2, m2 = train_evaluator("tiny", cfg)
    gen2, _ = train_generator(ev2, gcfg)
    for a, b in ((ev1, ev2), (gen1, gen2)):
        for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), k
    assert m1["steps"] == 120 and m1["mape"] == m2["mape"]
    phases = [e.phase for e in events]
    assert phases[0] == "labelling" and phases[-1] == "generator" and "evaluator" in phases
    # phases do not interleave, and each one counts up to its total
    assert phases == sorted(phases, key=["labelling", "evaluator", "generator"].index)
    for phase, total in (("evaluator", 120), ("generator", 60)):
        done = [e.done for e in events if e.phase == phase]
        assert done == sorted(done) and done[-1] == total
