"""Behaviour of the analytical model: properties (hypothesis), anchors, infeasibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore import ConfigError
from coexplore.accel_model import (
    Accelerator,
    AnalyticalModel,
    eyeriss,
    get_design_space,
    get_network,
)

MODEL = AnalyticalModel()
NETS = ["resnet20", "mobilenetv2-cifar", "alexnet-conv"]

accelerators = st.builds(
    Accelerator,
    pe_rows=st.sampled_from([2, 4, 8, 12, 16, 32]),
    pe_cols=st.sampled_from([2, 4, 8, 14, 16, 32]),
    rf_bytes=st.sampled_from([16, 64, 256, 512]),
    glb_kib=st.sampled_from([16, 64, 256, 512]),
    glb_bits_per_cycle=st.sampled_from([64, 128, 512]),
    dram_bytes_per_cycle=st.sampled_from([2.0, 8.0, 32.0]),
    clock_hz=st.sampled_from([100e6, 400e6]),
    dataflow=st.sampled_from(["ws", "os", "rs"]),
    mac_mode=st.sampled_from(["fixed", "bitfusion"]),
)


@settings(max_examples=40, deadline=None)
@given(acc=accelerators, net=st.sampled_from(NETS), bits=st.sampled_from([2, 3, 4, 6, 8]))
def test_utilisation_and_cycle_bounds(acc: Accelerator, net: str, bits: int) -> None:
    rep = MODEL.report(get_network(net).with_bits(bits), acc)
    if not rep.feasible:
        assert rep.infeasible_reason and rep.fps == 0
        return
    assert 0 < rep.utilisation <= 1
    for ly in rep.layers:
        assert 0 < ly.utilisation <= 1 + 1e-12, ly.name
        # cycles >= MACs / (PEs * MACs per PE per cycle); = MACs / PEs in fixed mode.
        assert ly.latency_cycles >= ly.macs / (acc.num_pes * ly.macs_per_pe_cycle) - 1e-9
        if acc.mac_mode == "fixed":
            assert ly.latency_cycles >= ly.macs / acc.num_pes
    for v in (rep.latency_cycles, rep.energy_pj, rep.area_mm2, rep.power_mw):
        assert np.isfinite(v) and v > 0


@settings(max_examples=40, deadline=None)
@given(
    acc=accelerators,
    net=st.sampled_from(NETS),
    bits=st.lists(st.sampled_from([2, 3, 4, 6, 8]), min_size=2, max_size=2, unique=True),
)
def test_energy_never_falls_when_bits_rise(acc: Accelerator, net: str, bits: list[int]) -> None:
    lo, hi = sorted(bits)
    wl = get_network(net)
    for w_lo, a_lo, w_hi, a_hi in ((lo, lo, hi, hi), (lo, 8, hi, 8), (8, lo, 8, hi)):
        e_lo = MODEL.report(wl.with_bits(w_lo, a_lo), acc)
        e_hi = MODEL.report(wl.with_bits(w_hi, a_hi), acc)
        if e_lo.feasible and e_hi.feasible:
            assert e_hi.energy_pj >= e_lo.energy_pj * (1 - 1e-12)
            # the tiling belongs to the datapath, so wider operands never run faster
            assert e_hi.latency_cycles >= e_lo.latency_cycles * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(
    acc=accelerators,
    net=st.sampled_from(NETS),
    bits=st.sampled_from([4, 8]),
    field=st.sampled_from(["glb_bits_per_cycle", "dram_bytes_per_cycle"]),
)
def test_latency_never_rises_when_bandwidth_rises(
    acc: Accelerator, net: str, bits: int, field: str
) -> None:
    wl = get_network(net).with_bits(bits)
    slow = MODEL.report(wl, acc)
    fast = MODEL.report(wl, dataclasses.replace(acc, **{field: getattr(acc, field) * 4}))
    if slow.feasible:
        assert fast.latency_cycles <= slow.latency_cycles


@pytest.mark.parametrize(
    "model",
    [MODEL, AnalyticalModel(mapper_metric="edp"),
     AnalyticalModel(mapper_metric="balanced", nested_buffers=True),
     AnalyticalModel(bits_aware=True), AnalyticalModel(mapper_metric="edp", bits_aware=True)],
    ids=["default", "edp", "balanced-nested", "bits", "edp-bits"],
)  # fmt: skip
def test_vectorised_equals_one_by_one(model: AnalyticalModel) -> None:
    """A design's cost does not depend on the batch around it (the latency-aware mappers
    build tilings once per (array, buffers, dataflow, datapath) and price them per bandwidth
    pair, nested ones per buffer halving too)."""
    space = get_design_space("edge")
    batch = space.sample(64, seed=3)
    wl = get_network("resnet20").with_bits(4)
    many = model.evaluate(wl, batch)
    for i in range(0, 64, 7):
        one = model.report(wl, batch.get(i))
        assert one.energy_pj == pytest.approx(many.energy_pj[i], rel=1e-12)
        assert one.latency_cycles == pytest.approx(many.latency_cycles[i], rel=1e-12)
        assert one.area_mm2 == pytest.approx(many.area_mm2[i], rel=1e-12)


@pytest.mark.parametrize("metric", ["energy", "latency", "edp"])
def test_bits_aware_tiles_use_the_room_narrower_words_leave(metric: str) -> None:
    """Bits-aware, a 4-bit layer's tiles are also sized for 4-bit words: where the 8-bit
    tiles did not fit, DRAM traffic falls below half of the 8-bit traffic (with the
    datapath's tiling it never does). At the datapath's width nothing changes, and down the
    width ladder no layer gets slower or costlier, whatever the metric."""
    batch = get_design_space("edge").sample(400, seed=5)
    wl = get_network("resnet20")
    plain = AnalyticalModel(mapper_metric=metric)
    aware = AnalyticalModel(mapper_metric=metric, bits_aware=True)
    p8, a8 = plain.evaluate(wl.with_bits(8), batch), aware.evaluate(wl.with_bits(8), batch)
    np.testing.assert_array_equal(p8.energy_pj, a8.energy_pj)
    np.testing.assert_array_equal(p8.latency_cycles, a8.latency_cycles)
    p4, a4 = plain.evaluate(wl.with_bits(4), batch), aware.evaluate(wl.with_bits(4), batch)
    ok = p8.feasible & p4.feasible & a4.feasible
    assert ok.sum() > 200
    assert (p4.dram_bits[ok] >= 0.5 * p8.dram_bits[ok] * (1 - 1e-9)).all()
    assert (a4.dram_bits[ok] < 0.45 * p8.dram_bits[ok]).sum() >= 10
    prev = aware.evaluate(wl.with_bits(8), batch, per_layer=True)
    for bits in (6, 4, 3, 2):
        now = aware.evaluate(wl.with_bits(bits), batch, per_layer=True)
        both = prev.feasible & now.feasible
        for key in ("cycles", "energy_pj"):  # per layer
            assert (now.layers[key][:, both] <= prev.layers[key][:, both] * (1 + 1e-9)).all()
        prev = now
    if metric == "latency":
        fused = ok & (batch.mac_mode == 1)  # packing at 4 bits: faster tilings are chosen
        assert (a4.latency_cycles[fused] < 0.95 * p4.latency_cycles[fused]).any()
    with pytest.raises(ConfigError, match=r"bits_aware \(on by default in searches\) works with"):
        AnalyticalModel(mapper_metric="balanced", bits_aware=True)


def test_bits_aware_prices_per_configuration_widths_as_one_by_one() -> None:
    """Different widths per configuration (bits-aware: a tiling per width group) give what
    each configuration's widths give alone."""
    model = AnalyticalModel(mapper_metric="edp", bits_aware=True)
    batch = get_design_space("edge").sample(24, seed=8)
    wl = get_network("resnet20")
    rng = np.random.default_rng(0)
    wb = rng.choice([2, 4, 8], size=(len(wl), 24))
    wb[:, 12:] = wb[:, :12]  # repeated width vectors share a group
    many = model.evaluate(wl, batch, w_bits=wb, a_bits=wb)
    for i in (0, 5, 13, 23):
        one = model.evaluate(wl, batch.take(np.array([i])), w_bits=wb[:, i], a_bits=wb[:, i])
        assert one.energy_pj[0] == pytest.approx(many.energy_pj[i], rel=1e-12)
        assert one.latency_cycles[0] == pytest.approx(many.latency_cycles[i], rel=1e-12)
    assert model.version != AnalyticalModel(mapper_metric="edp").version  # labels differ


def test_chunking_does_not_change_results() -> None:
    batch = get_design_space("edge").sample(1000, seed=1)
    wl = get_network("mobilenetv2-cifar")
    a = AnalyticalModel(chunk=97).evaluate(wl, batch)
    b = AnalyticalModel(chunk=4096).evaluate(wl, batch)
    np.testing.assert_array_equal(a.energy_pj, b.energy_pj)
    np.testing.assert_array_equal(a.fps, b.fps)


def test_bits_chain_blocks_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bits-aware chain prices columns in blocks; every step is per element, so any block
    size gives the same labels (the block size is a speed knob only)."""
    from coexplore.accel_model import _loopnest

    model = AnalyticalModel.for_search()
    batch = get_design_space("edge").sample(600, seed=2)
    wl = get_network("resnet20").with_bits(4)
    big = model.evaluate(wl, batch)
    monkeypatch.setattr(_loopnest, "_CHAIN_BYTES", 64 * 24 * 42)  # blocks of 9 columns
    small = model.evaluate(wl, batch)
    np.testing.assert_array_equal(big.energy_pj, small.energy_pj)
    np.testing.assert_array_equal(big.latency_cycles, small.latency_cycles)


def test_bits_chain_prices_per_tiling_or_per_column_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain prices a candidate from per-tiling-column terms it gathers, or (few priced
    columns per tiling) per priced column directly: the same labels either way."""
    from coexplore.accel_model import _loopnest

    model = AnalyticalModel.for_search()
    batch = get_design_space("edge").sample(3000, seed=3)
    wl = get_network("resnet20").with_bits(4)
    monkeypatch.setattr(_loopnest, "_DIRECT_RATIO", np.inf)  # always per tiling column
    tiled = model.evaluate(wl, batch, per_layer=True)
    monkeypatch.setattr(_loopnest, "_DIRECT_RATIO", 0.0)  # always per priced column
    direct = model.evaluate(wl, batch, per_layer=True)
    assert tiled.layers is not None and direct.layers is not None
    for key, value in tiled.layers.items():
        np.testing.assert_array_equal(value, direct.layers[key])


def test_bits_chain_keeps_or_rebuilds_the_same_tilings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain gathers its winners from the candidates it built, or, past a memory bound,
    rebuilds them: the same tilings, labels and mappings either way."""
    from coexplore.accel_model import _loopnest

    model = AnalyticalModel.for_search()
    batch = get_design_space("edge").sample(400, seed=5)
    wl = get_network("mobilenetv2-cifar").with_bits(3)
    kept = model.evaluate(wl, batch, per_layer=True)
    maps = [model.mappings(wl, batch.get(i)) for i in range(3)]
    monkeypatch.setattr(_loopnest, "_KEEP_BYTES", 0)  # nothing fits: always rebuild
    rebuilt = model.evaluate(wl, batch, per_layer=True)
    assert maps == [model.mappings(wl, batch.get(i)) for i in range(3)]
    np.testing.assert_array_equal(kept.energy_pj, rebuilt.energy_pj)
    np.testing.assert_array_equal(kept.latency_cycles, rebuilt.latency_cycles)
    assert kept.layers is not None and rebuilt.layers is not None
    for key, value in kept.layers.items():
        np.testing.assert_array_equal(value, rebuilt.layers[key])
    # narrower widths still never cost more, on the kept path
    wider = model.evaluate(wl.with_bits(4), batch)
    assert (kept.energy_pj <= wider.energy_pj).all()
    assert (kept.latency_cycles <= wider.latency_cycles).all()


def test_candidates_sharing_an_rf_order_share_its_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates with the same RF order share one RF fill per sizing (fewer fills than one per
    candidate), with the labels and mappings of a fresh fill per candidate; at batch 2, so the
    batch candidates take part, for the default and the search's mapper."""
    from coexplore.accel_model import _loopnest

    real_fill = _loopnest._fill
    calls: list[int] = []

    def counting(*args: object) -> object:
        calls.append(1)
        return real_fill(*args)

    def fresh(self: object, rf_order, shape, temporal, rf_caps, fill_bits, geom):  # noqa: ANN001, ANN202, PLR0913
        ones = {d: np.ones(shape) for d in _loopnest.DIMS}
        return _loopnest._fill(rf_order, ones, temporal, rf_caps, fill_bits, geom)

    monkeypatch.setattr(_loopnest, "_fill", counting)
    batch = get_design_space("edge").sample(300, seed=11)
    wl = get_network("resnet20").with_batch(2).with_bits(4)
    models = (AnalyticalModel(), AnalyticalModel.for_search())

    def run() -> tuple[list, list, int]:
        calls.clear()
        costs = [m.evaluate(wl, batch, per_layer=True) for m in models]
        return costs, [m.mappings(wl, batch.get(0)) for m in models], len(calls)

    shared, shared_maps, n_shared = run()
    monkeypatch.setattr(_loopnest._RfLevels, "__call__", fresh)
    each, each_maps, n_each = run()
    assert n_shared < n_each
    assert shared_maps == each_maps
    for a, b in zip(shared, each, strict=True):
        assert a.layers is not None and b.layers is not None
        for key, value in a.layers.items():
            np.testing.assert_array_equal(value, b.layers[key])


def test_per_config_bit_widths() -> None:
    wl = get_network("resnet20")
    accs = [Accelerator(mac_mode="bitfusion")] * 2
    bits = np.stack([np.full(len(wl), 8), np.full(len(wl), 2)], axis=1)  # (layers, configs)
    costs = MODEL.evaluate(wl, accs, w_bits=bits, a_bits=bits)
    assert costs.fps[1] > costs.fps[0] and costs.energy_pj[1] < costs.energy_pj[0]
    with pytest.raises(ConfigError, match="shape"):
        MODEL.evaluate(wl, accs, w_bits=np.full((3,), 8))


def test_bitfusion_packs_low_bit_macs() -> None:
    wl = get_network("resnet20")
    acc = Accelerator(
        pe_rows=16,
        pe_cols=16,
        mac_mode="bitfusion",
        glb_bits_per_cycle=4096,
        dram_bytes_per_cycle=256,
    )
    r8 = MODEL.report(wl.with_bits(8), acc)
    r2 = MODEL.report(wl.with_bits(2), acc)
    assert {ly.macs_per_pe_cycle for ly in r2.layers} == {16.0}
    # Fill/drain of the systolic array does not shrink with packing; the rest does, 16x.
    assert r2.fps > 2 * r8.fps
    core8 = sum(ly.compute_cycles - ly.fill_cycles for ly in r8.layers)
    core2 = sum(ly.compute_cycles - ly.fill_cycles for ly in r2.layers)
    assert core8 / core2 == pytest.approx(16, rel=0.1)


def test_infeasible_designs_carry_a_reason_never_nan() -> None:
    wl = get_network("resnet20").with_bits(16)
    rep = MODEL.report(wl, Accelerator(mac_bits=8))
    assert not rep.feasible and "bit-width exceeds" in rep.infeasible_reason
    assert rep.fps == 0 and rep.latency_cycles == np.inf
    rep = MODEL.report(get_network("alexnet-conv"), Accelerator(dataflow="rs", rf_bytes=16))
    assert not rep.feasible and "register file" in rep.infeasible_reason
    assert "conv1" in rep.infeasible_reason
    costs = MODEL.evaluate(get_network("resnet20"), get_design_space("edge").sample(5000, 0))
    for arr in (costs.fps, costs.energy_pj, costs.area_mm2, costs.latency_cycles):
        assert not np.isnan(arr).any()


def test_eyeriss_anchor_within_30_percent() -> None:
    rep = MODEL.report(get_network("alexnet-conv", batch=4).with_bits(16), eyeriss())
    assert rep.feasible
    assert abs(rep.fps / 35.0 - 1) <= 0.30
    assert 0 < rep.dram_accesses_per_mac < 0.05


def test_larger_rf_costs_more_area_and_per_access_energy() -> None:
    wl = get_network("resnet20")
    small = MODEL.report(wl, Accelerator(rf_bytes=16))
    big = MODEL.report(wl, Accelerator(rf_bytes=512))
    assert big.area_mm2 > small.area_mm2
    assert big.energy_by_level_pj["rf"] > small.energy_by_level_pj["rf"]


def test_energy_monotone_known_counterexample() -> None:
    # Found by the property test above: when the mapper chose its tiling at each layer's own
    # bits, W2A8 got a tiling whose port-rounded GLB traffic cost more than W3A8's.
    acc = Accelerator(pe_rows=2, pe_cols=8, rf_bytes=64, glb_kib=16, glb_bits_per_cycle=512,
                      dram_bytes_per_cycle=2.0, clock_hz=1e8, dataflow="rs", mac_mode="fixed",
                      mac_bits=8)  # fmt: skip
    wl = get_network("resnet20")
    lo = MODEL.report(wl.with_bits(2, 8), acc)
    hi = MODEL.report(wl.with_bits(3, 8), acc)
    assert hi.energy_pj >= lo.energy_pj
    for level in ("glb", "dram"):
        assert hi.energy_by_level_pj[level] >= lo.energy_by_level_pj[level]
    assert MODEL.mappings(wl.with_bits(2, 8), acc) == MODEL.mappings(wl.with_bits(3, 8), acc)
