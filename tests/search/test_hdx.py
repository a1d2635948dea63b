"""The HDX rule: violated -> the step lowers the constraint by >= delta; met -> the gradient
is unchanged; several violated -> all of them decrease; delta grows, then resets."""

from __future__ import annotations

import math

import pytest
import torch

from coexplore.search import Constraints
from coexplore.search.hdx import HDX, HDXConfig, manipulate


def test_single_violated_constraint_gets_at_least_delta() -> None:
    g_o = torch.tensor([1.0, -2.0, 0.5])
    g_c = torch.tensor([-1.0, 1.0, 0.0])  # the objective pushes the constraint up
    g, (lam,) = manipulate(g_o, [g_c], [0.3])
    assert float(g.dot(g_c)) == pytest.approx(0.3) and lam > 0
    # the correction is along g_c only (the smallest change that meets the margin)
    assert torch.allclose(g - g_o, lam * g_c)


def test_no_change_when_the_objective_already_lowers_the_constraint_enough() -> None:
    g_o = torch.tensor([1.0, 0.0])
    g, (lam,) = manipulate(g_o, [torch.tensor([2.0, 0.0])], [0.5])
    assert lam == 0.0 and torch.equal(g, g_o)


def test_two_conflicting_constraints_both_decrease() -> None:
    g_o = torch.zeros(2)
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # 135 degrees apart
    # one pass of correcting g1 then g2 undoes g1's margin; the QP solution does not
    one_pass = g_o.clone()
    for gc in (g1, g2):
        one_pass = one_pass + max(0.0, 1.0 - float(one_pass.dot(gc))) / float(gc.dot(gc)) * gc
    assert float(one_pass.dot(g1)) == pytest.approx(0.0)
    g, lams = manipulate(g_o, [g1, g2], [1.0, 1.0])
    assert float(g.dot(g1)) >= 1.0 - 1e-6 and float(g.dot(g2)) >= 1.0 - 1e-6
    assert torch.allclose(g, torch.tensor([1.0, 2.0]), atol=1e-5)  # the QP's solution
    assert all(v >= 0 for v in lams)


def _toy(theta: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A loss that wants large theta; fps falls and area grows as theta grows."""
    loss = -(theta**2).sum() * 0.1 - theta.sum()
    fps = 100.0 * torch.exp(-theta.sum())
    area = 0.5 * torch.exp(0.5 * theta[0])
    return loss, {"fps": fps, "area_mm2": area}


def test_hdx_step_meets_the_margin_and_a_real_step_lowers_every_violated_bound() -> None:
    theta = torch.tensor([2.0, 1.5], requires_grad=True)
    c = Constraints(fps_min=30, area_mm2_max=0.8)
    hdx = HDX(c, HDXConfig(delta0=0.05, growth=2.0, margin=0.0))
    loss, metrics = _toy(theta)
    before = {k: float(v.detach()) for k, v in c.signed_log_gaps(metrics).items()}
    assert before["fps_min"] > 0 and before["area_mm2_max"] > 0  # both violated
    record = hdx.step([theta], loss, metrics)
    assert record["manipulated"] and record["fps_min"]["delta"] == 0.05
    lr = 1e-3
    with torch.no_grad():
        moved = theta - lr * theta.grad
    after = {k: float(v.detach()) for k, v in c.signed_log_gaps(_toy(moved)[1]).items()}
    for field in before:  # first order: at least lr * delta, up to curvature
        assert before[field] - after[field] >= lr * 0.05 * 0.9, field
    assert hdx.deltas == {"fps_min": 0.1, "area_mm2_max": 0.1}  # grew while violated


def test_met_bounds_leave_the_gradient_alone_and_reset_delta() -> None:
    theta = torch.tensor([-1.0, -1.0], requires_grad=True)
    c = Constraints(fps_min=30, area_mm2_max=0.8)
    hdx = HDX(c, HDXConfig(delta0=0.05, margin=0.01))
    hdx.deltas = {"fps_min": 3.0, "area_mm2_max": 3.0}
    loss, metrics = _toy(theta)
    record = hdx.step([theta], loss, metrics)
    (plain,) = torch.autograd.grad(_toy(theta)[0], [theta])
    assert not record["manipulated"] and torch.equal(theta.grad, plain)
    assert hdx.deltas == {"fps_min": 0.05, "area_mm2_max": 0.05}
    assert record["fps_min"]["value"] == pytest.approx(100 * math.exp(2.0))


def test_repeated_steps_reach_feasibility_where_the_plain_gradient_never_does() -> None:
    c = Constraints(fps_min=30)
    for use_hdx in (True, False):
        theta = torch.tensor([0.0, 0.0], requires_grad=True)
        # the margin covers one plain step's drift (about 11 % here), so the last step, met
        # or not, ends above the bound
        hdx = HDX(c, HDXConfig(delta0=0.5, growth=1.1, margin=0.15))
        opt = torch.optim.SGD([theta], lr=0.05)
        for _ in range(300):
            loss, metrics = _toy(theta)
            if use_hdx:
                hdx.step([theta], loss, metrics)
            else:
                opt.zero_grad()
                loss.backward()
            opt.step()
        fps = float(_toy(theta)[1]["fps"].detach())
        assert (fps >= 30) == use_hdx, (use_hdx, fps)
