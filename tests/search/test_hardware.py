from __future__ import annotations

import numpy as np
import pytest
from coexplore.accel_model import AnalyticalModel, get_design_space, get_network, pareto_mask
from coexplore.search.hardware import Bounds, HardwareSearchSpec, run_hardware_search

from coexplore import ConfigError, InfeasibleDesignError


def test_pareto_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 6, size=(300, 3)).astype(float)
    mask = pareto_mask(pts)
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        assert mask[i] == (not dominated)
    assert not pareto_mask(np.array([[np.inf, 0.0]]))[0]


def test_search_returns_feasible_non_dominated_designs() -> None:
    spec = HardwareSearchSpec(space="tiny", bits=(4, 8), bounds=Bounds(fps_min=200))
    res = run_hardware_search(spec)
    assert res.evaluated == 2 * get_design_space("tiny").size
    assert res.pareto and all(d.fps >= 200 for d in res.pareto)
    energies = [d.energy_uj for d in res.pareto]
    assert energies == sorted(energies)
    objs = np.array([[-d.fps, d.energy_uj, d.area_mm2] for d in res.pareto])
    assert pareto_mask(objs).all()
    # Each winner re-checks against the model.
    d = res.pareto[0]
    rep = AnalyticalModel().report(get_network("resnet20").with_bits(d.w_bits), d.accelerator)
    assert rep.fps == pytest.approx(d.fps) and rep.energy_uj == pytest.approx(d.energy_uj)


def test_unmeetable_bounds_name_the_closest_design() -> None:
    spec = HardwareSearchSpec(space="tiny", bounds=Bounds(fps_min=1e6))
    with pytest.raises(InfeasibleDesignError, match=r"Closest: .* short of 1e\+06"):
        run_hardware_search(spec)


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="bits"):
        HardwareSearchSpec(bits=(5,))
    with pytest.raises(ConfigError, match="fps_min"):
        Bounds(fps_min=-1)
    spec = HardwareSearchSpec(bits=(4, 8), bounds=Bounds(fps_min=30, area_mm2_max=2))
    assert HardwareSearchSpec.from_json(spec.to_json()) == spec
