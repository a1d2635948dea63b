from __future__ import annotations

import numpy as np
import pytest

from coexplore import ConfigError, InfeasibleDesignError
from coexplore.accel_model import AnalyticalModel, get_design_space, get_network, pareto_mask
from coexplore.progress import collect
from coexplore.search import Constraints, HardwareSweepSpec, run
from coexplore.search.hardware import run_hardware_search


def test_pareto_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 6, size=(300, 3)).astype(float)
    mask = pareto_mask(pts)
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        assert mask[i] == (not dominated)
    assert not pareto_mask(np.array([[np.inf, 0.0]]))[0]


def test_search_returns_feasible_non_dominated_designs() -> None:
    spec = HardwareSweepSpec(accel_space="tiny", bits=(4, 8), constraints=Constraints(fps_min=200))
    res = run_hardware_search(spec)
    assert res.evaluated == 2 * get_design_space("tiny").size
    assert res.pareto and all(d.fps >= 200 for d in res.pareto)
    energies = [d.energy_uj for d in res.pareto]
    assert energies == sorted(energies)
    objs = np.array([[-d.fps, d.energy_uj, d.area_mm2] for d in res.pareto])
    assert pareto_mask(objs).all()
    # Each winner re-checks against the model.
    d = res.pareto[0]
    wl = get_network("resnet20").with_bits(d.w_bits)
    rep = AnalyticalModel.for_search().report(wl, d.accelerator)
    assert rep.fps == pytest.approx(d.fps) and rep.energy_uj == pytest.approx(d.energy_uj)


def test_the_sweep_prices_with_the_spec_mapper() -> None:
    """A sweep with ``mapper="edp"`` keeps designs whose figures are the EDP mapper's; the
    spec round-trips with it and refuses nested buffers under the energy mapper."""
    spec = HardwareSweepSpec(accel_space="tiny", constraints=Constraints(fps_min=200),
                             mapper="edp")  # fmt: skip
    assert HardwareSweepSpec.from_json(spec.to_json()) == spec
    d = run_hardware_search(spec).pareto[0]
    wl = get_network("resnet20").with_bits(d.w_bits)
    rep = AnalyticalModel(mapper_metric="edp").report(wl, d.accelerator)
    assert rep.fps == pytest.approx(d.fps) and rep.energy_uj == pytest.approx(d.energy_uj)
    aware = HardwareSweepSpec(accel_space="tiny", bits=(4,), mapper="edp", bits_aware=True)
    d = run_hardware_search(aware).pareto[0]
    model = AnalyticalModel(mapper_metric="edp", bits_aware=True)
    rep = model.report(get_network("resnet20").with_bits(4), d.accelerator)
    assert rep.fps == pytest.approx(d.fps) and rep.energy_uj == pytest.approx(d.energy_uj)
    with pytest.raises(ConfigError, match="nested_buffers"):
        HardwareSweepSpec(nested_buffers=True)
    with pytest.raises(ConfigError, match="mapper"):
        HardwareSweepSpec(mapper="speed")


def test_unmeetable_bounds_name_the_closest_design() -> None:
    spec = HardwareSweepSpec(accel_space="tiny", constraints=Constraints(fps_min=1e6))
    with pytest.raises(InfeasibleDesignError, match=r"Closest: .* short of 1e\+06"):
        run_hardware_search(spec)


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="bits"):
        HardwareSweepSpec(bits=(5,))
    with pytest.raises(ConfigError, match="fps_min"):
        Constraints(fps_min=-1)
    with pytest.raises(ConfigError, match="unknown network 'vgg'"):
        HardwareSweepSpec(network="vgg")
    spec = HardwareSweepSpec(bits=(4, 8), constraints=Constraints(fps_min=30, area_mm2_max=2))
    assert HardwareSweepSpec.from_json(spec.to_json()) == spec


def test_same_spec_gives_the_same_result_with_ordered_progress() -> None:
    spec = HardwareSweepSpec(accel_space="tiny", bits=(4, 8), constraints=Constraints(fps_min=60))
    events, cb = collect()
    first = run(spec, progress=cb)
    second = run(spec)
    assert first.result.to_dict() | {"seconds": 0} == second.result.to_dict() | {"seconds": 0}
    assert [e.phase for e in events] == ["pricing"] * len(events) and events
    done = [e.done for e in events]
    assert done == sorted(done) and done[-1] == events[-1].total == first.result.evaluated
