"""Hard constraints: one type for every bound a design must meet.

:class:`Constraints` holds the bounds (``None`` = unbounded) and measures how far designs
are from meeting them, in three forms that agree with each other:

* :meth:`Constraints.violation` on a :class:`~coexplore.accel_model.CostBatch` (numpy, the
  ground truth of the analytical model, one value per design);
* :meth:`Constraints.violations` on metric arrays or torch tensors (the evaluator's
  differentiable predictions, for the co-search and the hardware generator), per bound;
* :meth:`Constraints.miss_report`: which bound a design misses, by how much.

A bound's *relative* violation is ``max(0, 1 - value / limit)`` for a lower bound (fps) and
``max(0, value / limit - 1)`` for an upper bound; the *log* form ``max(0, +-(log value -
log limit))`` is the same ordering in log space, the shape gradient methods prefer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from coexplore.accel_model import CostBatch
from coexplore.config import ConfigBase
from coexplore.errors import ConfigError

__all__ = ["Bound", "Constraints", "METRICS", "cost_metrics"]


class Bound(NamedTuple):
    """One active bound: ``metric`` (a key of :data:`METRICS`) ``>=`` or ``<=`` ``limit``."""

    field: str  # the Constraints field, e.g. "fps_min"
    metric: str  # the metric it bounds, e.g. "fps"
    lower: bool  # True: value >= limit; False: value <= limit
    limit: float

    def describe(self) -> str:
        unit = METRICS[self.metric]
        return f"{self.metric.split('_')[0]} {'>=' if self.lower else '<='} {self.limit:g}" + (
            f" {unit}" if unit else ""
        )


#: metric name -> unit shown to people. Metrics are per frame where it matters (energy).
METRICS = {
    "fps": "",
    "latency_ms": "ms",
    "area_mm2": "mm^2",
    "energy_uj": "uJ/frame",
    "power_mw": "mW",
}

# field -> (metric, lower bound?)
_FIELDS = {
    "fps_min": ("fps", True),
    "latency_ms_max": ("latency_ms", False),
    "area_mm2_max": ("area_mm2", False),
    "energy_uj_max": ("energy_uj", False),
    "power_mw_max": ("power_mw", False),
}


@dataclasses.dataclass(frozen=True)
class Constraints(ConfigBase):
    """Hard bounds on a design; ``None`` means unbounded.

    Args:
        fps_min: Frames per second, at least.
        latency_ms_max: Latency of one inference call, at most (ms).
        area_mm2_max: Chip area, at most (mm^2).
        energy_uj_max: Energy per frame, at most (uJ).
        power_mw_max: Average power, at most (mW).

    Example:
        >>> Constraints(fps_min=30, area_mm2_max=2).describe()
        'fps >= 30, area <= 2 mm^2'
    """

    fps_min: float | None = None
    latency_ms_max: float | None = None
    area_mm2_max: float | None = None
    energy_uj_max: float | None = None
    power_mw_max: float | None = None

    def __post_init__(self) -> None:
        for name in _FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"`{name}` must be a number or null, but got {v!r}.")
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(
                    f"`{name}` must be a positive number (or null for no bound), but got {v!r}."
                )

    @property
    def bounds(self) -> tuple[Bound, ...]:
        """The active bounds, in field order."""
        return tuple(
            Bound(name, metric, lower, float(getattr(self, name)))
            for name, (metric, lower) in _FIELDS.items()
            if getattr(self, name) is not None
        )

    def __bool__(self) -> bool:
        return bool(self.bounds)

    def describe(self) -> str:
        return ", ".join(b.describe() for b in self.bounds) or "no bounds"

    # -- the shared formula, for numpy arrays and torch tensors alike ---------------------
    def violations(self, metrics: dict[str, Any], log: bool = False) -> dict[str, Any]:
        """Per active bound, the violation of each design (0 where it is met).

        Args:
            metrics: Arrays or tensors keyed by :data:`METRICS` names (``latency_s`` is
                accepted for ``latency_ms``); evaluator outputs work as they are.
            log: Violation in log space instead of relative.

        Returns:
            ``{field: violation}``, same type and shape as the inputs.
        """
        out = {}
        for b in self.bounds:
            value = _metric(metrics, b.metric)
            if log:
                log_gap = _log(value) - math.log(b.limit)
                gap = -log_gap if b.lower else log_gap
            else:
                gap = 1.0 - value / b.limit if b.lower else value / b.limit - 1.0
            out[b.field] = _relu(gap)
        return out

    def tightened(self, rel: float) -> Constraints:
        """The same bounds moved inwards by ``rel`` (lower bounds up, upper bounds down): a
        safety margin for models whose predictions have errors."""
        return Constraints(
            **{
                b.field: b.limit * (1 + rel) if b.lower else b.limit * (1 - rel)
                for b in self.bounds
            }
        )

    def signed_log_gaps(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Per active bound, ``c = log(value / limit)`` for an upper bound and
        ``log(limit / value)`` for a lower one: ``c > 0`` is violated, ``c <= 0`` met (by a
        relative margin ``1 - exp(c)``). Unclamped, so it has a gradient on both sides."""
        out = {}
        for b in self.bounds:
            log_gap = _log(_metric(metrics, b.metric)) - math.log(b.limit)
            out[b.field] = -log_gap if b.lower else log_gap
        return out

    def value_of(self, metrics: dict[str, Any], field: str) -> Any:
        """The metric that bound ``field`` (e.g. ``fps_min``) constrains."""
        return _metric(metrics, _FIELDS[field][0])

    def total_violation(self, metrics: dict[str, Any], log: bool = False) -> Any:
        """Sum of :meth:`violations` over the bounds (0 = meets all)."""
        parts = list(self.violations(metrics, log).values())
        if not parts:
            ref = next(iter(metrics.values()))
            return ref * 0.0
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def violation(self, costs: CostBatch, log: bool = False) -> np.ndarray:
        """Summed violation per design of a cost batch; ``inf`` where the design cannot run
        the workload at all."""
        v = np.asarray(self.total_violation(cost_metrics(costs), log), dtype=np.float64)
        return np.where(costs.feasible, v, np.inf)

    def meets(self, costs: CostBatch) -> np.ndarray:
        """Boolean per design: runs the workload and meets every bound."""
        return self.violation(costs) == 0

    def miss_report(self, values: dict[str, float]) -> list[str]:
        """One phrase per bound that ``values`` misses: value, by how much, the limit."""
        out = []
        for b in self.bounds:
            v = float(_metric(values, b.metric))
            unit = METRICS[b.metric]
            if b.lower and v < b.limit:
                out.append(f"{v:.4g} {b.metric}, {1 - v / b.limit:.1%} short of {b.limit:g}")
            elif not b.lower and v > b.limit:
                out.append(f"{v:.4g} {unit}, {v / b.limit - 1:.1%} over {b.limit:g} {unit}")
        return out

    def slack(self, values: dict[str, float]) -> dict[str, float]:
        """Relative slack per bound (>= 0 met, < 0 missed): how much room is left."""
        out = {}
        for b in self.bounds:
            v = float(_metric(values, b.metric))
            out[b.field] = v / b.limit - 1.0 if b.lower else 1.0 - v / b.limit
        return out


def cost_metrics(costs: CostBatch) -> dict[str, np.ndarray]:
    """The constrained metrics of a cost batch (energy per frame, latency in ms)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        frames = np.rint(np.where(costs.feasible, costs.fps * costs.latency_s, 1.0))
        frames = np.maximum(frames, 1.0)
        return {
            "fps": costs.fps,
            "latency_ms": costs.latency_s * 1e3,
            "area_mm2": costs.area_mm2,
            "energy_uj": costs.energy_pj * 1e-6 / frames,
            "power_mw": costs.power_mw,
        }


def _metric(metrics: dict[str, Any], name: str) -> Any:
    if name in metrics:
        return metrics[name]
    if name == "latency_ms" and "latency_s" in metrics:
        return metrics["latency_s"] * 1e3
    raise ConfigError(
        f"a bound on {name} needs that metric, but only {', '.join(sorted(metrics))} are given."
    )


def _relu(x: Any) -> Any:
    if isinstance(x, np.ndarray | float | int | np.floating):
        return np.maximum(x, 0.0)
    return x.clamp(min=0.0)  # torch


def _log(x: Any) -> Any:
    if isinstance(x, np.ndarray | float | int | np.floating):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)
    return x.log()  # torch
