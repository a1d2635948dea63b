from __future__ import annotations

import numpy as np
import pytest

from coexplore import ConfigError, UnknownComponentError
from coexplore.accel_model import AnalyticalModel
from coexplore.search.samples import Samples, accelerator_pool, generate, label, load_or_generate
from coexplore.search.space import OPERATORS, SKIP, get_space


def test_spaces_are_registered_with_sizes() -> None:
    sp = get_space("mbv2-cifar")
    assert sp.n_slots == 12 and sp.hardware.name == "edge"
    assert sp.encoding_dim == 12 * (7 + 5) + sp.hardware.encoding_dim
    assert get_space("tiny").size < sp.size
    with pytest.raises(UnknownComponentError, match="mbv2-cifar"):
        get_space("nope")


def test_encoding_round_trip_and_relaxed() -> None:
    sp = get_space("mbv2-cifar")
    ops, bits, hw = sp.sample(64, seed=1)
    enc = sp.encode(ops, bits, hw)
    for got, want in zip(sp.decode(enc), (ops, bits, hw), strict=True):
        np.testing.assert_array_equal(got, want)
    relaxed = 0.6 * enc + 0.4 / 7
    for got, want in zip(sp.decode(relaxed), (ops, bits, hw), strict=True):
        np.testing.assert_array_equal(got, want)


def test_skip_only_where_shapes_allow() -> None:
    sp = get_space("mbv2-cifar")
    ops, bits, _ = sp.sample(2000, seed=2)
    assert not np.any((ops == SKIP) & ~sp.skip_allowed)
    assert np.any(ops == SKIP)
    bad = np.zeros(sp.n_slots, dtype=int)
    bad[np.flatnonzero(~sp.skip_allowed)[0]] = SKIP
    with pytest.raises(ConfigError, match="cannot be skipped"):
        sp.workload(bad, np.zeros(sp.n_slots, dtype=int))
    # A relaxed encoding that prefers skip on a shape-changing slot never decodes to skip.
    enc = sp.encode(
        np.zeros((1, sp.n_slots), int),
        np.zeros((1, sp.n_slots), int),
        sp.hardware.sample_indices(1, 0),
    )
    enc[0, SKIP] = 5.0  # slot 0 changes shape (32 -> 24)
    assert sp.decode(enc)[0][0, 0] != SKIP


def test_workload_follows_the_choices() -> None:
    sp = get_space("tiny")
    ops = np.array([1, SKIP, 4, 0])  # k3e6, skip, k7e3, k3e3
    wl = sp.workload(ops, np.array([4, 0, 2, 1]))
    dws = [ly for ly in wl.layers if ly.kind == "depthwise"]
    assert [ly.kernel_h for ly in dws] == [3, 7, 3]
    assert dws[0].in_channels == 16 * OPERATORS[1][1]
    assert {ly.w_bits for ly in wl.layers if ly.name.startswith("s1.0")} == {8}
    assert wl.layers[0].name == "stem" and wl.layers[-1].kind == "linear"


def test_labels_equal_direct_evaluation() -> None:
    sp, model = get_space("tiny"), AnalyticalModel.for_search()
    ops, bits, _ = sp.sample(24, seed=3)
    pool = accelerator_pool(sp, 64, 0)
    idx = np.arange(24) % len(pool)
    got = label(sp, ops, bits, pool, idx, model)
    for i in range(24):
        rep = model.report(sp.workload(ops[i], bits[i]), sp.accelerator(pool[idx[i]]))
        assert rep.feasible == got.feasible[i]
        if rep.feasible:
            assert rep.latency_cycles == pytest.approx(got.latency_cycles[i], rel=1e-9)
            assert rep.energy_pj == pytest.approx(got.energy_pj[i], rel=1e-9)
            assert rep.area_mm2 == pytest.approx(got.area_mm2[i])
            assert rep.fps == pytest.approx(got.fps[i], rel=1e-9)


def test_generation_is_seeded_covers_and_caches(tmp_path) -> None:  # noqa: ANN001
    sp = get_space("tiny")
    a = generate(sp, 3000, seed=5, pool_size=256)
    b = generate(sp, 3000, seed=5, pool_size=256)
    np.testing.assert_array_equal(a.energy_pj, b.energy_pj)
    assert set(np.unique(a.hw[:, 7])) == {0, 1, 2}  # every dataflow
    assert set(np.unique(a.bits)) == set(range(5))  # every bit-width
    assert ((a.fps >= 10) & (a.fps <= 120)).mean() > 0.2
    s1, hit1 = load_or_generate(sp, 500, 1, tmp_path, pool_size=64)
    s2, hit2 = load_or_generate(sp, 500, 1, tmp_path, pool_size=64)
    assert (hit1, hit2) == (False, True)
    np.testing.assert_array_equal(s1.fps, s2.fps)
    # A different key (here the seed) is never served from the cache.
    _, hit3 = load_or_generate(sp, 500, 2, tmp_path, pool_size=64)
    assert hit3 is False
    (path,) = [p for p in tmp_path.iterdir() if p.name.endswith(".npz")][:1]
    assert Samples.load(path, {"wrong": "key"}) is None


def test_30_fps_binds_in_the_micro_space() -> None:
    """The co-search's default space: the largest 8-bit network misses 30 fps on every
    accelerator, the smallest 2-bit one meets it."""
    from coexplore.search.constraints import cost_metrics

    sp = get_space("micro")
    accs = sp.hardware.batch(sp.hardware.all_indices())
    n, b = sp.n_slots, len(sp.bits)
    largest = (np.full(n, OPERATORS.index((7, 6))), np.full(n, b - 1))
    smallest = (np.where(sp.skip_allowed, SKIP, 0), np.zeros(n, dtype=np.int64))
    best = []
    for ops, bits in (largest, smallest):
        costs = AnalyticalModel.for_search().evaluate(sp.workload(ops, bits), accs)
        best.append(float(np.where(costs.feasible, cost_metrics(costs)["fps"], 0).max()))
    assert best[0] < 30 < best[1], best
