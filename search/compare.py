"""``compare``: several co-search strategies on one problem, the same budget and seeds.

Every (strategy, seed) runs the problem's :class:`~coexplore.search.specs.CoSearchSpec` with
only ``strategy`` and ``seed`` replaced (and no hand-off to the quantization core: this
compares searches). Per run: whether it ended with a feasible winner (verified on the
analytical model), the raw argmax feasibility, the first winner's validation accuracy,
energy, area and fps, the wall time, and the hypervolume of its feasible accuracy-energy
front (every winner of the run) against one reference point shared by the whole
comparison. Per strategy: the feasible fraction and mean +- standard error of the rest.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from coexplore.errors import ConfigError, InfeasibleDesignError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import RunResult
from coexplore.search.specs import CompareSpec, CoSearchSpec
from coexplore.search.strategy import STRATEGIES, SearchStrategy, register_strategy

__all__ = ["Compare", "CompareResult", "hypervolume_2d"]


def hypervolume_2d(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (accuracy to maximise, energy to minimise) inside the
    box from ``ref`` = (lowest accuracy, highest energy). Points outside the box add
    nothing.

    Example:
        >>> hypervolume_2d([(90.0, 10.0)], ref=(0.0, 20.0))
        900.0
    """
    pts = sorted({(a, e) for a, e in points if a > ref[0] and e < ref[1]}, key=lambda p: p[1])
    area, best = 0.0, ref[0]
    for i, (a, e) in enumerate(pts):  # by energy, cheapest first
        best = max(best, a)
        nxt = pts[i + 1][1] if i + 1 < len(pts) else ref[1]
        area += (best - ref[0]) * (nxt - e)
    return area


def _mean_se(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    v = np.asarray(values, dtype=float)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se


@dataclasses.dataclass
class CompareResult:
    """Runs and per-strategy summaries of one comparison."""

    problem: dict[str, Any]
    strategies: list[str]
    seeds: int
    reference: tuple[float, float]  # (accuracy %, energy uJ) of the hypervolume box
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_one(spec: Any, run: Any = None) -> dict[str, Any]:
    """One co-search run (by ``run(spec)``; the registered strategy by default), reduced to
    what the comparison tables need."""
    run = run or (lambda s: STRATEGIES.get(s.strategy)(s).run())
    t = time.perf_counter()
    try:
        r = run(spec).result
    except InfeasibleDesignError as exc:
        return {"final_feasible": False, "raw_feasible": False, "seconds":
                time.perf_counter() - t, "miss": str(exc).split("Closest: ")[-1][:200],
                "front": []}  # fmt: skip
    w = r.winners[0]
    return {
        "final_feasible": True, "raw_feasible": r.raw_argmax_feasible,
        "val_accuracy": r.val_accuracy[0], "energy_uj": w.verified["energy_uj"],
        "area_mm2": w.verified["area_mm2"], "fps": w.verified["fps"],
        "architecture": w.architecture, "accelerator": w.accelerator_text,
        "front": [(a, x.verified["energy_uj"]) for a, x in zip(r.val_accuracy, r.winners,
                                                                strict=True)],
        "seconds": time.perf_counter() - t,
    }  # fmt: skip


@register_strategy
class Compare(SearchStrategy):
    """Runs :class:`CompareSpec` (see the module docstring)."""

    name = "compare"
    spec_type = CompareSpec

    def prepare(self, progress: ProgressFn | None) -> None:
        spec: CompareSpec = self.spec
        cosearch = [n for n in STRATEGIES.names()
                    if issubclass(STRATEGIES.get(n).spec_type, CoSearchSpec)]  # fmt: skip
        for s in spec.strategies:  # every name checked before the first run starts
            if s not in cosearch:
                raise ConfigError(f"`strategies`: {s!r} is not a co-search strategy; choose "
                                  f"from {', '.join(cosearch)}.")  # fmt: skip

    def search(self, progress: ProgressFn | None) -> None:
        spec: CompareSpec = self.spec
        n = len(spec.strategies) * spec.seeds
        self.runs: list[dict[str, Any]] = []
        for seed in range(spec.seeds):
            for strategy in spec.strategies:
                emit(progress, "compare", len(self.runs), n, f"{strategy}, seed {seed}")
                one = dataclasses.replace(spec.problem, strategy=strategy, seed=seed,
                                          quantize=False)  # fmt: skip
                self.runs.append({"strategy": strategy, "seed": seed, **run_one(one)})
        emit(progress, "compare", n, n, "done")

    def finalize(self) -> RunResult:
        spec: CompareSpec = self.spec
        feasible = [p for r in self.runs for p in r["front"]]
        ref = (0.0, 1.1 * max((e for _, e in feasible), default=1.0))
        for r in self.runs:
            r["hypervolume"] = hypervolume_2d(r["front"], ref)
        summary = []
        for s in spec.strategies:
            rs = [r for r in self.runs if r["strategy"] == s]
            ok = [r for r in rs if r["final_feasible"]]
            row: dict[str, Any] = {
                "strategy": s, "runs": len(rs),
                "final_feasible": len(ok) / len(rs),
                "raw_feasible": sum(r["raw_feasible"] for r in rs) / len(rs),
            }  # fmt: skip
            for key in ("val_accuracy", "energy_uj", "area_mm2", "fps"):
                row[key], row[f"{key}_se"] = _mean_se([r[key] for r in ok])
            row["hypervolume"], row["hypervolume_se"] = _mean_se([r["hypervolume"] for r in rs])
            row["seconds"], row["seconds_se"] = _mean_se([r["seconds"] for r in rs])
            summary.append(row)
        result = CompareResult(
            problem=spec.problem.to_dict(), strategies=list(spec.strategies), seeds=spec.seeds,
            reference=ref, runs=self.runs, summary=summary,
        )  # fmt: skip
        best = max(summary, key=lambda r: r["hypervolume"] or 0.0)
        return RunResult(
            spec=spec,
            result=result,
            metrics={"best_hypervolume": best["strategy"],
                     **{f"feasible_{r['strategy']}": r["final_feasible"] for r in summary}},
            artefacts={"runs.csv": _csv([{k: v for k, v in r.items() if k != "front"}
                                         for r in self.runs]),
                       "summary.csv": _csv(summary),
                       "compare.html": lambda path: _plot(result, path)},
        )  # fmt: skip


def _csv(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    return pd.DataFrame(rows).to_csv(index=False)


def _plot(res: CompareResult, path: Any) -> None:
    """Feasible winners (accuracy vs energy) per strategy, and hypervolume per strategy; one
    self-contained HTML file (plotly.js embedded: it opens offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35], subplot_titles=(
        "feasible winners (verified): validation accuracy vs energy per frame",
        "hypervolume of the feasible accuracy-energy front"))  # fmt: skip
    for s in res.strategies:
        pts = [(p, r["seed"]) for r in res.runs if r["strategy"] == s for p in r["front"]]
        fig.add_trace(go.Scatter(
            x=[p[1] for p, _ in pts], y=[p[0] for p, _ in pts], mode="markers", name=s,
            text=[f"seed {seed}" for _, seed in pts]), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(
        x=[r["strategy"] for r in res.summary], y=[r["hypervolume"] or 0 for r in res.summary],
        error_y={"type": "data", "array": [r["hypervolume_se"] or 0 for r in res.summary]},
        showlegend=False), row=1, col=2)  # fmt: skip
    fig.update_xaxes(title_text="energy per frame (uJ)", row=1, col=1)
    fig.update_yaxes(title_text="validation accuracy %", row=1, col=1)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
