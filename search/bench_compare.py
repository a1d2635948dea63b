"""``search bench compare``: every co-search strategy on the default problem over seeds.

One run of this command measures every figure of results/compare.md: for each strategy
(``dance-hdx``, ``dance-soft``, ``dance-adaptive``, ``optuna-nsga2``, ``random``,
``sequential``; the last only where the ``nni`` extra is installed) and each seed, the
default co-search (task, space, steps) at ``--fps 30``; and ``optuna-nsga2`` again
with ``NSGA_TIME_FACTOR`` x its trials (its "10x the time" row; the weight training is the
same, so its wall time is reported as measured, not assumed). Hypervolumes share one
reference point over all runs. Budgets are steps and trials (deterministic per seed); wall
times are what this machine took.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coexplore.progress import ProgressFn, emit
from coexplore.search.compare import hypervolume_2d, run_one
from coexplore.search.constraints import Constraints
from coexplore.search.runner import run
from coexplore.search.specs import CoSearchSpec

__all__ = ["run_compare_bench", "render_compare_markdown", "STRATEGIES", "NSGA_TIME_FACTOR"]

STRATEGIES = (
    "dance-hdx",
    "dance-soft",
    "dance-adaptive",
    "optuna-nsga2",
    "random",
    "sequential",
)
NSGA_TIME_FACTOR = 10


def run_compare_bench(
    seeds: int = 5,
    steps: int = 300,
    trials: int = 48,
    space: str = "micro",
    task: str = "digits",
    fps: float = 30.0,
    study_storage: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Runs every (row, seed); returns the runs and per-row summaries."""
    from coexplore.search.nni_adapter import nni_available

    skipped = [s for s in STRATEGIES if s == "sequential" and not nni_available()]
    rows = [(s, s, trials) for s in STRATEGIES if s not in skipped]
    rows.append((f"optuna-nsga2 x{NSGA_TIME_FACTOR} trials", "optuna-nsga2",
                 trials * NSGA_TIME_FACTOR))  # fmt: skip
    total, done = len(rows) * seeds, 0
    out: dict[str, Any] = {"seeds": seeds, "steps": steps, "trials": trials, "space": space,
                           "task": task, "fps": fps, "rows": [],
                           "skipped": {s: "the nni extra is not installed "
                                          "(pip install -e '.[nni]')"
                                       for s in skipped}}  # fmt: skip
    for label, strategy, n_trials in rows:
        runs = []
        for seed in range(seeds):
            spec = CoSearchSpec(strategy=strategy, task=task, space=space, steps=steps,
                                warmup_steps=min(100, steps // 3), seed=seed, trials=n_trials,
                                constraints=Constraints(fps_min=fps), quantize=False,
                                study_storage=study_storage)  # fmt: skip
            runs.append({"seed": seed, **run_one(spec, run)})
            done += 1
            emit(progress, "bench", done, total, f"{label} seed {seed}: "
                 f"{'feasible' if runs[-1]['final_feasible'] else 'infeasible'}, "
                 f"{runs[-1]['seconds']:.0f} s")  # fmt: skip
        out["rows"].append({"label": label, "strategy": strategy, "trials": n_trials,
                            "runs": runs})  # fmt: skip
    energies = [e for r in out["rows"] for x in r["runs"] for _, e in x["front"]]
    ref = (0.0, 1.1 * max(energies, default=1.0))
    out["reference"] = ref
    for r in out["rows"]:
        for x in r["runs"]:
            x["hypervolume"] = hypervolume_2d(x["front"], ref)
    return out


def _stat(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    m = float(np.mean(values))
    if len(values) < 2:
        return f"{m:,.{digits}f}"
    se = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return f"{m:,.{digits}f} ± {se:,.{digits}f}"


def render_compare_markdown(res: dict[str, Any], command: str) -> str:
    lines = [
        "# Co-search strategies side by side",
        "",
        f"Produced by `{command}`: task {res['task']}, space {res['space']}, fps >= "
        f"{res['fps']:g}, {res['seeds']} seeds per row, {res['steps']} steps of weight "
        f"training per run (every strategy), optuna-nsga2 with {res['trials']} trials unless "
        "the row says otherwise. Every fps, energy and feasibility is verified on the "
        "analytical model; accuracy is the first winner's on the validation split (supernet "
        "weights, fake-quantized at its bits). Hypervolume: the area each run's feasible "
        "winners dominate in (validation accuracy %, energy uJ) above 0 % and below "
        f"{res['reference'][1]:.3g} uJ (one reference for all rows). Mean ± standard error "
        "over seeds.",
        "",
        "| strategy | final feasible | raw argmax feasible | val accuracy % | energy uJ | "
        "area mm^2 | hypervolume | seconds per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    hv: dict[str, float] = {}
    secs: dict[str, float] = {}
    for r in res["rows"]:
        runs = r["runs"]
        ok = [x for x in runs if x["final_feasible"]]
        hv[r["label"]] = float(np.mean([x["hypervolume"] for x in runs]))
        secs[r["label"]] = float(np.mean([x["seconds"] for x in runs]))
        lines.append(
            f"| {r['label']} | {len(ok) / len(runs):.0%} | "
            f"{sum(x['raw_feasible'] for x in runs) / len(runs):.0%} | "
            f"{_stat([x['val_accuracy'] for x in ok])} | "
            f"{_stat([x['energy_uj'] for x in ok], 2)} | "
            f"{_stat([x['area_mm2'] for x in ok], 3)} | "
            f"{_stat([x['hypervolume'] for x in runs], 0)} | "
            f"{_stat([x['seconds'] for x in runs], 0)} |"
        )
    for name, why in res.get("skipped", {}).items():
        lines.append(f"| {name} | not run: {why} | | | | | | |")
    nsga10 = f"optuna-nsga2 x{NSGA_TIME_FACTOR} trials"
    if "dance-hdx" in hv and "optuna-nsga2" in hv:
        met = hv["dance-hdx"] >= hv["optuna-nsga2"]
        lines += [
            "",
            f"Target: HDX's mean feasible hypervolume >= NSGA-II's at the same wall time: "
            f"{hv['dance-hdx']:,.0f} vs {hv['optuna-nsga2']:,.0f} "
            f"(**{'met' if met else 'missed'}**; NSGA-II took {secs['optuna-nsga2']:.0f} s per "
            f"run, HDX {secs['dance-hdx']:.0f} s). With {NSGA_TIME_FACTOR}x the trials "
            f"NSGA-II reached {hv.get(nsga10, math.nan):,.0f} in {secs.get(nsga10, math.nan):.0f}"
            " s per run.",
        ]
    return "\n".join(lines) + "\n"
