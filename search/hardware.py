"""Hardware-only search: sweep a whole accelerator design space for one network.

Every configuration x bit-width option is priced with the analytical model; the designs that
meet every bound are kept and their Pareto front (max fps, min energy, min area) is returned.
This is the first main job; the DANCE/HDX co-search builds on the same pieces.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from coexplore.accel_model import AnalyticalModel, get_design_space, pareto_mask
from coexplore.accel_model.accelerator import Accelerator
from coexplore.accel_model.user_workloads import load_workload
from coexplore.errors import InfeasibleDesignError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import RunResult
from coexplore.search.constraints import cost_metrics
from coexplore.search.specs import HardwareSweepSpec, cost_model
from coexplore.search.strategy import SearchStrategy, register_strategy

__all__ = ["Design", "HardwareSearchResult", "run_hardware_search", "HardwareSweep"]

log = logging.getLogger(__name__)


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
    """The designs of a hardware sweep that meet every bound, and how many were priced."""

    spec: HardwareSweepSpec
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
    spec: HardwareSweepSpec,
    progress: ProgressFn | None = None,
    chunk: int = 32768,
) -> HardwareSearchResult:
    """Prices every configuration of ``spec.space`` x ``spec.bits`` and returns the Pareto set.

    Args:
        spec: The search to run.
        progress: Receives a ``pricing`` event after each block of configurations.
        chunk: Configurations per block.

    Returns:
        The Pareto-optimal designs that meet every bound, sorted by energy.

    Raises:
        UnknownComponentError: for an unknown network or space name.
        InfeasibleDesignError: when no design meets the bounds; the message names the closest
            design and by how much it misses each bound.
    """
    t0 = time.perf_counter()
    workload = load_workload(spec.network, spec.input_shape or None, batch=spec.batch)
    space = get_design_space(spec.accel_space)
    model = cost_model(spec)
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
            viol = spec.constraints.violation(costs)
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
            emit(progress, "pricing", done, total, f"W{bits}A{bits}")
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
        spec.constraints.describe(),
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
    spec: HardwareSweepSpec,
    space: Any,
    indices: np.ndarray,
    best: tuple[float, int, int] | None,
    model: AnalyticalModel,
    workload: Any,
    n_feasible: int,
    total: int,
) -> str:
    head = (
        f"no design in space {spec.accel_space!r} meets {spec.constraints.describe()} "
        f"for {spec.network} ({total:,} designs evaluated, {n_feasible:,} can run it)."
    )
    if best is None:
        return head + " No configuration can run the network at all; try another space."
    _, i, bits = best
    acc = space.batch(indices[i : i + 1])
    costs = model.evaluate(workload.with_bits(bits), acc)
    values = {k: float(v[0]) for k, v in cost_metrics(costs).items()}
    misses = spec.constraints.miss_report(values)
    return (
        f"{head} Closest: {acc.get(0).describe()} at W{bits}A{bits}: {'; '.join(misses)}. "
        "Relax a bound or pick a larger space."
    )


@register_strategy
class HardwareSweep(SearchStrategy):
    """The exhaustive hardware sweep of a fixed network (spec kind ``hardware-sweep``).

    ``search`` prices every design; ``finalize`` returns the Pareto set with its artefacts
    (``pareto.csv``, ``best_accelerator.yaml``).
    """

    name = "hardware-sweep"
    spec_type = HardwareSweepSpec

    def search(self, progress: ProgressFn | None) -> None:
        self.found = run_hardware_search(self.spec, progress=progress)

    def finalize(self) -> RunResult:
        r = self.found
        best = r.pareto[0]
        return RunResult(
            spec=self.spec,
            result=r,
            metrics={
                "evaluated": r.evaluated,
                "meeting": r.meeting,
                "pareto": len(r.pareto),
                "best_energy_uj": best.energy_uj,
                "best_energy_fps": best.fps,
                "best_energy_area_mm2": best.area_mm2,
            },
            artefacts={
                "pareto.csv": pareto_csv(r.pareto),
                "best_accelerator.yaml": best.accelerator.to_yaml(),
            },
        )


def pareto_csv(designs: tuple[Design, ...]) -> str:
    """The designs as CSV, one row each (what ``pareto.csv`` holds)."""
    lines = ["fps,latency_ms,energy_uj,area_mm2,power_mw,utilisation,w_bits,a_bits,design"]
    lines += [
        f"{d.fps:.3f},{d.latency_ms:.4f},{d.energy_uj:.4f},{d.area_mm2:.4f},"
        f"{d.power_mw:.3f},{d.utilisation:.4f},{d.w_bits},{d.a_bits},"
        f"{d.accelerator.describe()}"
        for d in designs
    ]
    return "\n".join(lines) + "\n"
