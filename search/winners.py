"""Winners of a co-search: discretise the logits, verify on the analytical model, refine the
accelerator by an exhaustive sweep under the same bounds. Nothing predicted is reported as
verified: every number a winner carries under ``verified`` comes from the analytical model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from coexplore.accel_model import AnalyticalModel
from coexplore.search.constraints import Constraints, cost_metrics
from coexplore.search.objectives import log_objective
from coexplore.search.space import SKIP, JointSpace

__all__ = ["Candidate", "Winner", "top_k", "verify"]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One discrete (architecture, bits) and its log-probability under the final logits."""

    ops: tuple[int, ...]
    bits: tuple[int, ...]
    log_prob: float


@dataclasses.dataclass(frozen=True)
class Winner:
    """A verified winner: its design, the generator's pick and the refined accelerator."""

    rank: int
    ops: tuple[int, ...]
    bits: tuple[int, ...]  # indices into space.bits
    architecture: str
    bit_widths: tuple[int, ...]
    log_prob: float
    generator_accelerator: dict[str, Any]
    generator_verified: dict[str, float]  # the analytical model on the generator's pick
    generator_feasible: bool
    accelerator: dict[str, Any]  # the refined (exhaustive) pick
    accelerator_text: str
    verified: dict[str, float]  # the analytical model on the refined pick
    slack: dict[str, float]
    objective: str
    feasible_accelerators: int
    fastest_fps: float  # on the fastest accelerator of the space, whatever the bounds
    # the evaluator's prediction on the generator's pick (compare with generator_verified)
    predicted: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def top_k(
    space: JointSpace, log_p_ops: np.ndarray, log_p_bits: np.ndarray, k: int
) -> list[Candidate]:
    """The argmax design and the most probable designs one choice away from it.

    Args:
        log_p_ops: (S, O) log-probabilities of the operators (``-inf`` where invalid).
        log_p_bits: (S, B) log-probabilities of the bit-widths.
        k: How many distinct designs.
    """
    ops = log_p_ops.argmax(axis=1)
    bits = log_p_bits.argmax(axis=1)

    def score(o: np.ndarray, b: np.ndarray) -> float:
        total = 0.0
        for s in range(space.n_slots):
            total += float(log_p_ops[s, o[s]])
            if o[s] != SKIP:  # a skipped slot has no layers: its bits are irrelevant
                total += float(log_p_bits[s, b[s]])
        return total

    seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    cands: list[Candidate] = []

    def add(o: np.ndarray, b: np.ndarray) -> None:
        key = (tuple(int(v) for v in o), tuple(int(v) for v in b))
        if key not in seen:
            seen.add(key)
            cands.append(Candidate(*key, score(o, b)))

    add(ops, bits)
    for s in range(space.n_slots):
        for o in range(space.n_ops):
            if o != ops[s] and np.isfinite(log_p_ops[s, o]):
                add(np.where(np.arange(space.n_slots) == s, o, ops), bits)
        if ops[s] != SKIP:  # a skipped slot's bits change nothing
            for b in range(len(space.bits)):
                if b != bits[s] and np.isfinite(log_p_bits[s, b]):
                    add(ops, np.where(np.arange(space.n_slots) == s, b, bits))
    first, rest = cands[0], sorted(cands[1:], key=lambda c: -c.log_prob)
    return [first, *rest][:k]


def _values(costs: Any, i: int) -> dict[str, float]:
    m = cost_metrics(costs)
    out = {k: float(v[i]) for k, v in m.items()}
    out["edp_uj_s"] = out["energy_uj"] * out["latency_ms"] * 1e-3
    return out


def verify(
    space: JointSpace,
    cand: Candidate,
    generator_hw: np.ndarray,
    constraints: Constraints,
    objective: str,
    rank: int,
    model: AnalyticalModel | None = None,
) -> Winner | tuple[float, str]:
    """Prices ``cand`` on every accelerator of the space; keeps the best one that meets every
    bound. Returns a :class:`Winner`, or ``(violation, miss report)`` of the closest design
    when no accelerator makes the architecture feasible."""
    model = model or AnalyticalModel.for_search()
    wl = space.workload(np.array(cand.ops), np.array(cand.bits))
    idx = space.hardware.all_indices()
    accs = space.hardware.batch(idx)
    costs = model.evaluate(wl, accs)
    viol = constraints.violation(costs)
    m = cost_metrics(costs)
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = log_objective(objective, np.log(m["latency_ms"] * 1e-3), np.log(m["energy_uj"]),
                            np.log(m["area_mm2"]))  # fmt: skip
    ok = viol == 0
    gen_row = int(np.flatnonzero((idx == generator_hw[None, :]).all(axis=1))[0])
    gen_values = _values(costs, gen_row)
    if not ok.any():
        j = int(np.argmin(viol))
        if not math.isfinite(float(viol[j])):
            return math.inf, "no accelerator of the space can run it"
        miss = "; ".join(constraints.miss_report(_values(costs, j)))
        return float(viol[j]), f"{accs.get(j).describe()}: {miss}"
    best = int(np.flatnonzero(ok)[np.argmin(obj[ok])])
    values = _values(costs, best)
    return Winner(
        rank=rank,
        ops=cand.ops,
        bits=cand.bits,
        architecture=space.describe(np.array(cand.ops), np.array(cand.bits)),
        bit_widths=tuple(space.bits[b] for b in cand.bits),
        log_prob=cand.log_prob,
        generator_accelerator=accs.get(gen_row).to_dict(),
        generator_verified=gen_values,
        generator_feasible=bool(ok[gen_row]),
        accelerator=accs.get(best).to_dict(),
        accelerator_text=accs.get(best).describe(),
        verified=values,
        slack=constraints.slack(values),
        objective=objective,
        feasible_accelerators=int(ok.sum()),
        fastest_fps=float(np.where(costs.feasible, m["fps"], 0.0).max()),
    )
