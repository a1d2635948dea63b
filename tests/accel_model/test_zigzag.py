"""The ZigZag adapter runs in-process on the same inputs (needs the zigzag extra)."""

from __future__ import annotations

import pytest

from coexplore import ConfigError
from coexplore.accel_model import Accelerator, AnalyticalModel, get_network
from coexplore.accel_model.zigzag_adapter import ZigZagModel, spatial_unrolling, zigzag_available

pytestmark = pytest.mark.skipif(not zigzag_available(), reason="zigzag extra not installed")


def test_same_mapping_gives_the_same_ideal_cycles() -> None:
    wl = get_network("resnet20")
    layer = wl.layers[3]  # 16 -> 16 channels, 3x3, 32x32
    for df in ("ws", "rs"):
        acc = Accelerator(pe_rows=16, pe_cols=16, dataflow=df)
        res = ZigZagModel().evaluate_layer(layer, acc)
        assert res.ok, res.error
        ours = AnalyticalModel().report(wl, acc).layers[3]
        assert ours.compute_cycles - ours.fill_cycles == res.ideal_cycles
        assert res.energy_pj > 0 and res.latency_cycles >= res.ideal_cycles


def test_spatial_unrolling_fills_greedily() -> None:
    layer = get_network("resnet20").layers[0]  # C=3, 3x3
    acc = Accelerator(pe_rows=16, pe_cols=8, dataflow="ws")
    assert spatial_unrolling(layer, acc) == {"D1": [("C", 3), ("FY", 3)], "D2": [("K", 8)]}


def test_bitfusion_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match="Bit Fusion"):
        ZigZagModel().evaluate_layer(
            get_network("resnet20").layers[0], Accelerator(mac_mode="bitfusion")
        )


def test_zigzag_prices_the_models_own_tiling() -> None:
    wl = get_network("resnet20")
    acc = Accelerator(pe_rows=12, pe_cols=14, rf_bytes=256, glb_kib=64, dataflow="rs")
    model = AnalyticalModel()
    layer, mapping = wl.layers[3], model.mappings(wl, acc)[3]
    res = ZigZagModel().evaluate_layer(layer, acc, mapping)
    ours = model.report(wl, acc).layers[3]
    assert res.ok, res.error
    assert res.mapping_ideal_cycles == ours.compute_cycles - ours.fill_cycles
    # Same tiling, same per-access energies: the two totals agree closely.
    assert res.mapping_energy_pj == pytest.approx(ours.energy_pj, rel=0.25)
    assert res.energy_pj <= res.mapping_energy_pj


@pytest.mark.parametrize("dataflow", ["ws", "rs"])
def test_latency_per_layer_tracks_zigzag_on_its_own_tiling(dataflow: str) -> None:
    """MobileNetV2 on a small edge design: where ZigZag keeps our unrolling, our per-layer
    latency is within 10 % of ZigZag's for most layers. Depthwise and pointwise layers both
    stall on the partial-sum RF's read port in ZigZag; a model without that stall is off by
    12-35 % on ws here (`search cost ... --zigzag` shows the port). Not os: on this design
    ZigZag keeps our unrolling only for the depthwise layers, whose folds we pace by the
    drain (see systolic.pipelined_cycles) and ZigZag does not."""
    wl = get_network("mobilenetv2-cifar")
    acc = Accelerator(
        pe_rows=12,
        pe_cols=8,
        rf_bytes=64,
        glb_kib=16,
        glb_bits_per_cycle=512,
        dram_bytes_per_cycle=16,
        dataflow=dataflow,
    )
    model = AnalyticalModel()
    rep = model.report(wl, acc)
    res = ZigZagModel().evaluate(wl, acc, model.mappings(wl, acc))
    errors = [
        abs(ly.latency_cycles / r.mapping_latency_cycles - 1)
        for ly, r in zip(rep.layers, res, strict=True)
        if r.ok and ly.compute_cycles - ly.fill_cycles == r.mapping_ideal_cycles
    ]
    assert len(errors) >= len(wl) // 2
    assert sorted(errors)[len(errors) // 2] < 0.10
