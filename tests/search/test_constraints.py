"""One constraint type: its numpy, torch and report forms agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coexplore import ConfigError
from coexplore.accel_model import AnalyticalModel, get_design_space, get_network
from coexplore.search import Constraints
from coexplore.search.constraints import cost_metrics

ALL = Constraints(
    fps_min=60, latency_ms_max=12, area_mm2_max=0.5, energy_uj_max=300, power_mw_max=40
)


@pytest.fixture(scope="module")
def costs():
    space = get_design_space("tiny")
    return AnalyticalModel().evaluate(get_network("resnet20").with_bits(4), space.batch(
        space.all_indices()))  # fmt: skip


def test_bounds_validate_and_describe() -> None:
    assert Constraints().describe() == "no bounds" and not Constraints()
    assert Constraints(fps_min=30, area_mm2_max=2).describe() == "fps >= 30, area <= 2 mm^2"
    for bad in ({"fps_min": 0}, {"power_mw_max": float("inf")}, {"area_mm2_max": "2"}):
        with pytest.raises(ConfigError, match="must be a"):
            Constraints(**bad)


@pytest.mark.parametrize("log", [False, True])
def test_numpy_and_torch_forms_agree_on_the_same_designs(costs, log: bool) -> None:
    metrics = cost_metrics(costs)
    ok = costs.feasible
    np_v = ALL.violations({k: v[ok] for k, v in metrics.items()}, log=log)
    t_v = ALL.violations({k: torch.as_tensor(v[ok]) for k, v in metrics.items()}, log=log)
    assert set(np_v) == set(t_v) == {b.field for b in ALL.bounds}
    for name in np_v:
        np.testing.assert_allclose(t_v[name].numpy(), np_v[name], rtol=1e-12, atol=1e-12)
    total = ALL.violation(costs, log=log)
    assert np.isinf(total[~ok]).all()
    np.testing.assert_allclose(total[ok], sum(np_v.values()), rtol=1e-12)
    # the mix of met and missed designs makes this a real check
    assert 0 < int((total[ok] == 0).sum()) < int(ok.sum())


def test_torch_form_takes_evaluator_metrics_and_has_gradients() -> None:
    latency_s = torch.tensor([0.01, 0.05], requires_grad=True)
    metrics = {"fps": 1 / latency_s, "latency_s": latency_s, "area_mm2": torch.tensor([1.0, 3.0])}
    c = Constraints(fps_min=30, latency_ms_max=20, area_mm2_max=2)
    total = c.total_violation(metrics, log=True)
    assert total[0].item() == 0.0 and total[1].item() > 0
    total.sum().backward()
    assert latency_s.grad[1] > 0  # a longer latency makes the violation worse


def test_miss_report_and_slack(costs) -> None:
    metrics = cost_metrics(costs)
    c = Constraints(fps_min=float(metrics["fps"].max()) * 2, area_mm2_max=1e6)
    i = int(np.argmax(np.where(costs.feasible, metrics["fps"], -1)))
    values = {k: float(v[i]) for k, v in metrics.items()}
    (miss,) = c.miss_report(values)
    assert "50.0% short of" in miss
    slack = c.slack(values)
    assert slack["fps_min"] == pytest.approx(-0.5) and slack["area_mm2_max"] > 0.99
    assert c.meets(costs).sum() == 0
