"""``search bench cost-model``'s reference section: our mapper against ZigZag's own mapping
search, on a budget small enough for CI (needs the zigzag extra)."""

from __future__ import annotations

import math

import pytest

from coexplore.accel_model.validation import _mapper_reference, _reference_lines
from coexplore.accel_model.zigzag_adapter import zigzag_available

pytestmark = pytest.mark.skipif(not zigzag_available(), reason="zigzag extra not installed")


def test_reference_counts_what_it_compared_and_reports_measured_ratios(monkeypatch) -> None:
    import coexplore.accel_model.validation as v
    from coexplore.accel_model import get_network

    # two layers of ResNet-20 (two shapes, one repeated) keep the LOMA searches few
    full = get_network("resnet20")
    small = type(full)(name="two", layers=(full.layers[1], full.layers[2], full.layers[7]))
    monkeypatch.setattr(v, "get_network", lambda name: small)
    ref = _mapper_reference("two", 3, 0, "edp", None)
    assert ref["distinct_layers"] == 2  # layers 1 and 2 share a shape
    assert ref["compared"] + ref["failed"] == 3
    assert ref["layers_total"] == 3 * ref["compared"]
    assert len(ref["per_config"]) == ref["compared"]
    for row in ref["per_config"]:
        assert row["zigzag_latency"] > 0 and set(row["ours_latency"]) == set(ref["mappers"])
        # the fastest known mapping is never slower than ZigZag's own search
        for m in ref["mappers"]:
            assert 0 < row["zigzag_fastest_known"][m] <= row["zigzag_latency"]
    assert set(ref["mappers"]) == {"energy", "edp+bits"}  # the model's default, the search's
    text = "\n".join(_reference_lines([ref]))
    for name, m in ref["mappers"].items():
        assert 0 <= m["layers_exact"] <= ref["layers_total"]
        if m["layers_exact"]:
            assert m["median_ratio"] > 0 and 0 <= m["share_within_10pct"] <= 1
        else:
            assert math.isnan(m["median_ratio"])
        assert f"| {m['layers_exact']} of {ref['layers_total']} |" in text
        assert f"| {name}" in text
