"""Hardware-only search: sweep a whole accelerator design space for one network.

Every configuration x bit-width option is priced with the analytical model; the designs that
meet every bound are kept and their Pareto front (max fps, min energy, min area) is returned.
This is the first main job; the DANCE/HDX co-search builds on the same pieces.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from coexplore.accel_model import (
    AnalyticalModel,
    CostBatch,
    get_design_space,
    get_network,
    pareto_mask,
)
from coexplore.accel_model.accelerator import Accelerator

from coexplore.config import ConfigBase, check_range
from coexplore.errors import ConfigError, InfeasibleDesignError

__all__ = ["Bounds", "HardwareSearchSpec", "Design", "HardwareSearchResult", "run_hardware_search"]

log = logging.getLogger(__name__)
ALLOWED_BITS = (2, 3, 4, 6, 8)


@dataclasses.dataclass(frozen=True)
class Bounds(ConfigBase):
    """Hard bounds a design must meet; ``None`` means unbounded."""

    fps_min: float | None = None
    area_mm2_max: float | None = None
    energy_uj_max: float | None = None
    power_mw_max: float | None = None

    def __post_init__(self) -> None:
        for name in ("fps_min", "area_mm2_max", "energy_uj_max", "power_mw_max"):
            v = getattr(self, name)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"`{name}` must be a positive number, but got {v!r}.")

    def describe(self) -> str:
        parts = []
        if self.fps_min is not None:
            parts.append(f"fps >= {self.fps_min:g}")
        if self.area_mm2_max is not None:
            parts.append(f"area <= {self.area_mm2_max:g} mm^2")
        if self.energy_uj_max is not None:
            parts.append(f"energy <= {self.energy_uj_max:g} uJ/frame")
        if self.power_mw_max is not None:
            parts.append(f"power <= {self.power_mw_max:g} mW")
        return ", ".join(parts) or "no bounds"

    def violation(self, costs: CostBatch) -> np.ndarray:
        """Relative violation per design, summed over bounds (0 = meets all); inf if infeasible."""
        v = np.zeros(len(costs))
        energy_uj = costs.energy_pj * 1e-6 / costs_batch_frames(costs)
        if self.fps_min is not None:
            v += np.maximum(0.0, 1.0 - costs.fps / self.fps_min)
        if self.area_mm2_max is not None:
            v += np.maximum(0.0, costs.area_mm2 / self.area_mm2_max - 1.0)
        if self.energy_uj_max is not None:
            v += np.maximum(0.0, energy_uj / self.energy_uj_max - 1.0)
        if self.power_mw_max is not None:
            v += np.maximum(0.0, costs.power_mw / self.power_mw_max - 1.0)
        return np.where(costs.feasible, v, np.inf)


def costs_batch_frames(costs: CostBatch) -> np.ndarray:
    """Frames per inference call (fps * latency), to report energy per frame."""
    with np.errstate(invalid="ignore"):
        frames = np.where(costs.feasible, costs.fps * costs.latency_s, 1.0)
    return np.rint(frames)


@dataclasses.dataclass(frozen=True)
class HardwareSearchSpec(ConfigBase):
    """What to search: network, design space, uniform bit-width options, bounds.

    Example:
        >>> spec = HardwareSearchSpec(bounds=Bounds(fps_min=30))
        >>> spec.network
        'resnet20'
    """

    network: str = "resnet20"
    space: str = "edge"
    bits: tuple[int, ...] = (8,)
    batch: int = 1
    bounds: Bounds = dataclasses.field(default_factory=Bounds)

    def __post_init__(self) -> None:
        if not self.bits:
            raise ConfigError("`bits` needs at least one bit-width, e.g. 8 or 4,8.")
        for b in self.bits:
            if b not in ALLOWED_BITS:
                raise ConfigError(
                    f"`bits` must be chosen from {', '.join(map(str, ALLOWED_BITS))}, "
                    f"but got {b!r}."
                )
        check_range("batch", self.batch, 1, 1024)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareSearchSpec:
        data = dict(data)
        if isinstance(data.get("bounds"), dict):
            data["bounds"] = Bounds.from_dict(data["bounds"])
        if "bits" in data:
            data["bits"] = tuple(data["bits"])
        return super().from_dict(data)


@dataclasses.dataclass(frozen=True)
class Design:
    """One evaluated design: accelerator + uniform bit-width, with its costs."""

    accelerator: Accelerator
    w_bits: int
    a_bits: int
    fps: float
    latency_ms: float
    energy_uj: float  # per frame
    area_mm2: float
    power_mw: float
    utilisation: float

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["accelerator"] = self.accelerator.to_dict()
        d["design"] = self.accelerator.describe()
        return d


@dataclasses.dataclass(frozen=True)
class HardwareSearchResult:
    spec: HardwareSearchSpec
    evaluated: int
    feasible: int
    meeting: int
    pareto: tuple[Design, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "meeting_bounds": self.meeting,
            "seconds": self.seconds,
            "pareto": [d.to_dict() for d in self.pareto],
        }


def run_hardware_search(
    spec: HardwareSearchSpec,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 32768,
) -> HardwareSearchResult:
    """Prices every configuration of ``spec.space`` x ``spec.bits`` and returns the Pareto set.

    Args:
        spec: The search to run.
        progress: Called as ``progress(done, total)`` after each block of configurations.
        chunk: Configurations per block.

    Returns:
        The Pareto-optimal designs that meet every bound, sorted by energy.

    Raises:
        UnknownComponentError: for an unknown network or space name.
        InfeasibleDesignError: when no design meets the bounds; the message names the closest
            design and by how much it misses each bound.
    """
    t0 = time.perf_counter()
    workload = get_network(spec.network, batch=spec.batch)
    space = get_design_space(spec.space)
    model = AnalyticalModel()
    indices = space.all_indices()
    total = len(indices) * len(spec.bits)
    keep_idx, keep_bits, keep_cols = [], [], []
    n_feasible, done = 0, 0
    best_miss: tuple[float, int, int] | None = None  # (violation, config index, bits)
    for bits in spec.bits:
        wl = workload.with_bits(bits)
        for start in range(0, len(indices), chunk):
            idx = indices[start : start + chunk]
            costs = model.evaluate(wl, space.batch(idx))
            viol = spec.bounds.violation(costs)
            n_feasible += int(costs.feasible.sum())
            meets = viol == 0
            if meets.any():
                sel = np.flatnonzero(meets)
                keep_idx.append(idx[sel])
                keep_bits.append(np.full(sel.size, bits))
                keep_cols.append(
                    np.stack(
                        [
                            costs.fps[sel],
                            costs.latency_s[sel],
                            costs.energy_pj[sel] * 1e-6 / spec.batch,
                            costs.area_mm2[sel],
                            costs.power_mw[sel],
                            costs.utilisation[sel],
                        ],
                        axis=1,
                    )
                )
            elif np.isfinite(viol).any():
                j = int(np.argmin(viol))
                if best_miss is None or viol[j] < best_miss[0]:
                    best_miss = (float(viol[j]), start + j, bits)
            done += len(idx)
            if progress:
                progress(done, total)
    if not keep_idx:
        raise InfeasibleDesignError(
            _miss_message(spec, space, indices, best_miss, model, workload, n_feasible, total)
        )
    idx = np.concatenate(keep_idx)
    bits_arr = np.concatenate(keep_bits)
    cols = np.concatenate(keep_cols)
    objectives = np.stack([-cols[:, 0], cols[:, 2], cols[:, 3]], axis=1)
    front = pareto_mask(objectives)
    # Designs with identical costs (e.g. a DRAM bandwidth that never binds) appear once:
    # the first, i.e. the smallest choice of every parameter.
    _, first = np.unique(objectives[front], axis=0, return_index=True)
    kept = np.flatnonzero(front)[np.sort(first)]
    order = kept[np.argsort(cols[kept, 2], kind="stable")]
    accs = space.batch(idx[order])
    designs = tuple(
        Design(
            accelerator=accs.get(i),
            w_bits=int(bits_arr[o]),
            a_bits=int(bits_arr[o]),
            fps=float(cols[o, 0]),
            latency_ms=float(cols[o, 1] * 1e3),
            energy_uj=float(cols[o, 2]),
            area_mm2=float(cols[o, 3]),
            power_mw=float(cols[o, 4]),
            utilisation=float(cols[o, 5]),
        )
        for i, o in enumerate(order)
    )
    log.info(
        "hardware search: %d evaluated, %d meet %s, %d on the Pareto front",
        total,
        len(idx),
        spec.bounds.describe(),
        len(designs),
    )
    return HardwareSearchResult(
        spec=spec,
        evaluated=total,
        feasible=n_feasible,
        meeting=int(len(idx)),
        pareto=designs,
        seconds=time.perf_counter() - t0,
    )


def _miss_message(
    spec: HardwareSearchSpec,
    space: Any,
    indices: np.ndarray,
    best: tuple[float, int, int] | None,
    model: AnalyticalModel,
    workload: Any,
    n_feasible: int,
    total: int,
) -> str:
    head = (
        f"no design in space {spec.space!r} meets {spec.bounds.describe()} "
        f"for {spec.network} ({total:,} designs evaluated, {n_feasible:,} can run it)."
    )
    if best is None:
        return head + " No configuration can run the network at all; try another space."
    _, i, bits = best
    acc = space.batch(indices[i : i + 1]).get(0)
    rep = model.report(workload.with_bits(bits), acc)
    b = spec.bounds
    misses = []
    energy_uj = rep.energy_uj / spec.batch
    if b.fps_min is not None and rep.fps < b.fps_min:
        misses.append(f"{rep.fps:.1f} fps, {1 - rep.fps / b.fps_min:.1%} short of {b.fps_min:g}")
    if b.area_mm2_max is not None and rep.area_mm2 > b.area_mm2_max:
        misses.append(
            f"{rep.area_mm2:.2f} mm^2, {rep.area_mm2 / b.area_mm2_max - 1:.1%} over "
            f"{b.area_mm2_max:g}"
        )
    if b.energy_uj_max is not None and energy_uj > b.energy_uj_max:
        misses.append(
            f"{energy_uj:.1f} uJ, {energy_uj / b.energy_uj_max - 1:.1%} over {b.energy_uj_max:g}"
        )
    if b.power_mw_max is not None and rep.power_mw > b.power_mw_max:
        misses.append(
            f"{rep.power_mw:.1f} mW, {rep.power_mw / b.power_mw_max - 1:.1%} over "
            f"{b.power_mw_max:g}"
        )
    return (
        f"{head} Closest: {acc.describe()} at W{bits}A{bits}: {'; '.join(misses)}. "
        "Relax a bound or pick a larger space."
    )
