"""HDX: hard constraints in differentiable search by manipulating gradients.

Soft penalties (``CE + lambda * cost``) cannot promise a bound: lambda must be tuned per
target and the result still violates it. HDX (Hong et al., DAC 2022) instead changes the
gradient of the architecture parameters while a constraint is violated, so that each step
reduces the violation by at least a margin. The rule here (the margin form of the DPM rule
HDX builds on; see RESEARCH.md):

* ``c_i(theta)`` = log(predicted value) - log(bound) for an upper bound (the other sign for a
  lower bound such as fps), so ``c_i > 0`` means violated, in any unit; a bound counts as
  violated from ``c_i > -margin`` (a small safety margin, since predictions have error).
* While violated: ``g = g_o + sum_i lambda_i g_ci`` with ``lambda_i >= 0`` chosen so that
  ``g . g_ci >= delta_i`` for every violated ``i``: a plain gradient step ``-lr * g`` then
  lowers each ``c_i`` by at least ``lr * delta_i`` to first order. ``delta_i`` grows by
  ``growth`` on each violated step and resets to ``delta0`` once the bound is met.
* While every bound is met: ``g = g_o``, unchanged.

Several violated bounds: the smallest change of ``g_o`` that meets every margin is a tiny QP
(``min |g - g_o|^2`` s.t. ``g . g_ci >= delta_i``). We solve it with Hildreth's method, i.e.
sequential projection onto each violated half-space, repeated until all hold: it is the
QP's dual coordinate ascent, so it converges to the QP's solution, needs no solver, and for
the handful of bounds a search has costs microseconds. One pass of sequential projection
alone (or only correcting the worst bound) can undo an earlier correction when two
constraint gradients point apart; the repeated passes do not.

The guarantee is for a plain gradient step (SGD without momentum) on the parameters the
gradient is manipulated for; use such an optimiser for the architecture logits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from coexplore.config import ConfigBase, check_range
from coexplore.search.constraints import Constraints

__all__ = ["HDXConfig", "HDX", "manipulate"]


@dataclasses.dataclass(frozen=True)
class HDXConfig(ConfigBase):
    """Margins of the gradient manipulation.

    Args:
        delta0: Required first-order decrease of a violated constraint per unit step size.
        growth: Factor by which ``delta`` grows on each step the bound stays violated.
        delta_max: Upper limit of ``delta``.
        margin: Safety margin in log space: a bound counts as violated from
            ``log(value / bound) > -margin`` (0.02 ~ 2 % headroom for prediction error).
        sweeps: Passes of sequential projection at most (Hildreth's method).
    """

    delta0: float = 1e-3
    growth: float = 1.05
    delta_max: float = 10.0
    margin: float = 0.02
    sweeps: int = 50

    def __post_init__(self) -> None:
        check_range("delta0", self.delta0, 0.0, 1e6)
        check_range("growth", self.growth, 1.0, 10.0)
        check_range("delta_max", self.delta_max, self.delta0, 1e9)
        check_range("margin", self.margin, 0.0, 1.0)
        check_range("sweeps", self.sweeps, 1, 10_000)


def manipulate(
    g_obj: torch.Tensor, g_cons: list[torch.Tensor], deltas: list[float], sweeps: int = 50
) -> tuple[torch.Tensor, list[float]]:
    """The closest gradient to ``g_obj`` with ``g . g_cons[i] >= deltas[i]`` for every ``i``.

    Args:
        g_obj: Flat objective gradient (n,).
        g_cons: Flat gradients of the violated constraints, each (n,).
        deltas: Required margins, one per constraint.
        sweeps: Passes of sequential projection at most.

    Returns:
        (g, lambdas): the manipulated gradient and the multiplier of each constraint gradient.
    """
    g = g_obj.clone()
    lam = [0.0] * len(g_cons)
    norms = [float(gc.dot(gc)) for gc in g_cons]
    for _ in range(sweeps):
        moved = False
        for i, (gc, d, nn2) in enumerate(zip(g_cons, deltas, norms, strict=True)):
            if nn2 <= 0.0:
                continue  # a constant constraint: no direction can change it
            # Hildreth: raise lambda_i until its margin holds, or lower it (not below 0)
            # where the margin holds with room to spare.
            step = max(-lam[i], (d - float(g.dot(gc))) / nn2)
            if abs(step) > 1e-12 * (1.0 + abs(lam[i])):
                g = g + step * gc
                lam[i] += step
                moved = True
        if not moved:
            break
    return g, lam


class HDX:
    """Gradient manipulator for a fixed set of bounds, keeping each bound's ``delta``.

    Call :meth:`step` after computing the objective (not yet back-propagated) and the
    predicted metrics from the same graph; it writes the manipulated gradient into
    ``param.grad`` and returns the step's log record.

    Example:
        >>> hdx = HDX(Constraints(fps_min=30), HDXConfig())
        >>> record = hdx.step(params, loss, metrics)  # then optimiser.step()
    """

    def __init__(self, constraints: Constraints, config: HDXConfig | None = None) -> None:
        self.constraints = constraints
        self.config = config or HDXConfig()
        self.deltas = {b.field: self.config.delta0 for b in constraints.bounds}

    def step(
        self, params: list[torch.Tensor], objective: torch.Tensor, metrics: dict[str, Any]
    ) -> dict[str, Any]:
        """Sets ``p.grad`` for every parameter in ``params``.

        Args:
            params: The architecture/bit logits (the manipulated parameters).
            objective: Scalar loss whose gradient is the plain direction.
            metrics: Predicted metrics (scalars with gradients), keyed as
                :data:`~coexplore.search.constraints.METRICS`.

        Returns:
            Per bound: predicted value, ``c`` (log form), ``delta`` used; ``manipulated``.
        """
        cfg = self.config
        record: dict[str, Any] = {"manipulated": False}
        log_c = self.constraints.signed_log_gaps(metrics)
        violated = []
        for field, c in log_c.items():
            value = _scalar(self.constraints.value_of(metrics, field))
            record[field] = {"value": value, "c": _scalar(c), "delta": self.deltas[field]}
            if _scalar(c) > -cfg.margin:
                violated.append(field)
        grads = torch.autograd.grad(objective, params, retain_graph=bool(violated))
        g_obj = _flat(grads, params)
        if violated:
            g_cons = []
            for k, field in enumerate(violated):
                gc = torch.autograd.grad(
                    log_c[field], params, retain_graph=k < len(violated) - 1, allow_unused=True
                )
                g_cons.append(_flat(gc, params))
            g, lam = manipulate(
                g_obj, g_cons, [self.deltas[f] for f in violated], sweeps=cfg.sweeps
            )
            record["manipulated"] = any(v > 0 for v in lam)
            for field, v in zip(violated, lam, strict=True):
                record[field]["lambda"] = v
        else:
            g = g_obj
        for field in self.deltas:  # delta grows while violated, resets once met
            if field in violated:
                self.deltas[field] = min(cfg.delta_max, self.deltas[field] * cfg.growth)
            else:
                self.deltas[field] = cfg.delta0
        _unflat(g, params)
        return record


def _scalar(x: Any) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _flat(grads: tuple[torch.Tensor | None, ...], params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


def _unflat(g: torch.Tensor, params: list[torch.Tensor]) -> None:
    i = 0
    for p in params:
        n = p.numel()
        p.grad = g[i : i + n].view_as(p).clone()
        i += n
