"""``search bench search``: does the co-search meet its bounds, and at what accuracy?

For each setting (the default fps bound, a tight fps bound that few random designs meet, an
fps and an area bound together) and each strategy (HDX, and the soft penalty at three
lambdas), over seeds: the feasibility of the raw argmax design on the generator's own
accelerator (before any refinement: this measures HDX itself) and of the final winners
(after the exhaustive accelerator sweep), the first winner's accuracy and energy. The tight
bounds are measured in the same run, from random designs of the space priced by the
analytical model. Every figure is verified on the analytical model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.accel_model import AnalyticalModel
from coexplore.errors import ConfigError, InfeasibleDesignError
from coexplore.progress import ProgressFn, emit
from coexplore.search.constraints import Constraints, cost_metrics
from coexplore.search.space import get_space
from coexplore.search.specs import CoSearchSpec

__all__ = ["run_search_bench", "render_search_markdown", "tight_bounds"]

SOFT_LAMBDAS = (0.01, 0.1, 1.0)
UNCONSTRAINED = "none (accuracy only)"


def tight_bounds(space_name: str, n: int = 200, seed: int = 0) -> dict[str, float]:
    """Bounds from random (architecture, bits) pairs of the space, each priced on every
    accelerator by the analytical model: the fps that only 10 % of them reach on their
    fastest accelerator (a bound the accelerator alone cannot fix), the area of the 20 %
    smallest accelerators, and the share of random (architecture, bits, accelerator) designs
    that meet 30 fps."""
    sp = get_space(space_name)
    ops, bits, _ = sp.sample(n, seed)
    model = AnalyticalModel.for_search()
    accs = sp.hardware.batch(sp.hardware.all_indices())
    best_fps, any_30 = np.empty(n), np.empty(n)
    area = None
    for i in range(n):
        c = model.evaluate(sp.workload(ops[i], bits[i]), accs)
        fps = np.where(c.feasible, cost_metrics(c)["fps"], 0.0)
        best_fps[i] = fps.max()
        any_30[i] = (fps >= 30).mean()
        area = c.area_mm2 if area is None else area
    return {
        "fps_90th_percentile": float(np.quantile(best_fps, 0.9)),
        "area_20th_percentile": float(np.quantile(area, 0.2)),
        "share_meeting_30fps": float(any_30.mean()),
        "pairs": n,
    }


def _one(spec: CoSearchSpec) -> dict[str, Any]:
    from coexplore.search.runner import run

    t = time.perf_counter()
    try:
        r = run(spec).result
    except InfeasibleDesignError:
        return {"final_feasible": False, "raw_feasible": False, "seconds": time.perf_counter() - t}
    w = r.winners[0]
    return {
        "final_feasible": True,
        "raw_feasible": r.raw_argmax_feasible,
        "val_accuracy": r.val_accuracy[0],
        "test_accuracy_fp": r.test_accuracy_fp,
        "test_accuracy_quant": r.test_accuracy_quant,
        "architecture": w.architecture,
        "accelerator": w.accelerator_text,
        "energy_uj": w.verified["energy_uj"],
        "fps": w.verified["fps"],
        "fastest_fps": w.fastest_fps,
        # the evaluator's prediction and the analytical model on the generator's accelerator
        "predicted_fps": w.predicted["fps"],
        "generator_fps": w.generator_verified["fps"],
        "predicted_energy_uj": w.predicted["energy_uj"],
        "generator_energy_uj": w.generator_verified["energy_uj"],
        "manipulated": r.manipulated_steps,
        "arch_steps": r.arch_steps,
        "seconds": time.perf_counter() - t,
    }


def _time_default_run(progress: ProgressFn | None) -> list[tuple[str, float]]:
    """A default ``search run --fps 30`` with an empty evaluator cache, then again with it."""
    from coexplore.search.runner import run

    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("COEXPLORE_CACHE")
        os.environ["COEXPLORE_CACHE"] = cache
        try:
            timings = []
            for label in ("first run (evaluator trained)", "second run (cached)"):
                t = time.perf_counter()
                run(CoSearchSpec(constraints=Constraints(fps_min=30)))
                timings.append((label, time.perf_counter() - t))
                emit(progress, "bench", len(timings), 2, f"default run: {timings[-1][1]:.0f} s")
        finally:
            if old is None:
                os.environ.pop("COEXPLORE_CACHE", None)
            else:
                os.environ["COEXPLORE_CACHE"] = old
    return timings


def code_fingerprint() -> str:
    """A hash of the code a co-search run's result depends on: every module of the search
    (but its benches' rendering), the cost model and the quantization core. Journalled runs
    are reused only by the same code, so a bench resumed in another session, on another
    checkout, mixes no results of two versions."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in ("search", "accel_model", "quant"):
        for f in sorted((root / pkg).rglob("*.py")):
            if not f.name.startswith("bench"):
                h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


class Journal:
    """Every finished run, one JSON line each, so a crash or a kill loses at most the run in
    flight: ``search bench search --resume`` reads it back and runs only what is missing.
    A line is reused only when its key (setting, strategy, lambda, seed, steps, space, task)
    matches exactly and the journal was written by the same code (``code_fingerprint``);
    the file is removed once the whole bench has been written."""

    def __init__(self, path: Path | None, resume: bool) -> None:
        self.path = path
        self.done: dict[str, Any] = {}
        if path is None:
            return
        code = code_fingerprint()
        if resume and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by the crash
                    continue
                self.done[rec["key"]] = rec["value"]
            if self.done and self.done.get("code") != code:
                raise ConfigError(
                    f"{path} was written by other code (fingerprint "
                    f"{self.done.get('code')}, this checkout {code}): its runs cannot be mixed "
                    "with this code's; run the bench without --resume to start afresh."
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        if self.get("code") is None:
            self.put("code", code)

    def get(self, key: str) -> Any:
        return self.done.get(key)

    def put(self, key: str, value: Any) -> Any:
        self.done[key] = value
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, "value": value}, default=float) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return value

    def cached(self, key: str, fn: Any) -> Any:
        hit = self.get(key)
        return hit if hit is not None else self.put(key, fn())


def run_search_bench(
    seeds: int = 10,
    steps: int = 300,
    space: str = "micro",
    task: str = "digits",
    cifar10: str | None = None,
    progress: ProgressFn | None = None,
    time_default: bool = True,
    journal: Path | None = None,
    resume: bool = False,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Runs every (setting, strategy, seed) and, first, a default ``search run --fps 30``
    with an empty evaluator cache and again with it (the end-to-end time a user sees).

    Args:
        cifar10: A CIFAR-10 file or folder (``load_task`` layouts); when given, one HDX run
            at fps 30 per seed up to 2 on it, to show the search is not tuned to digits.
        time_default: Time the default run (off in tests: it takes minutes).
        journal: A JSON-lines file each finished run is appended to (see ``Journal``).
        resume: Reuse the runs already in ``journal`` instead of starting it afresh.
        max_seconds: A safety net on wall time: once spent, no new run starts and the
            result holds what finished (``partial``: runs done of planned; rows with fewer
            seeds say so). Journalled runs cost nothing, so ``resume`` completes it later.
    """
    jr = Journal(journal, resume)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"seeds": seeds, "steps": steps, "space": space, "task": task}

    stopped = False

    def may_run(key: str) -> bool:
        """Journalled runs always count; a new one may not start once the cap is spent."""
        nonlocal stopped
        if jr.get(key) is None and (stopped or (max_seconds is not None
                                                and time.perf_counter() - t0 > max_seconds)):
            stopped = True
        return jr.get(key) is not None or not stopped

    # the default run is timed first, on an idle machine; past the cap it waits for --resume
    out["default_run_seconds"] = (
        jr.cached("default-run", lambda: _time_default_run(progress))
        if time_default and may_run("default-run")
        else []
    )
    tight = tight_bounds(space)
    out["tight"] = tight
    # rounded up, so the accelerators at exactly the 20th percentile meet it
    area = math.ceil(tight["area_20th_percentile"] * 1e4) / 1e4
    settings = {
        "fps >= 30": Constraints(fps_min=30),
        f"fps >= {tight['fps_90th_percentile']:.0f} (tight)": Constraints(
            fps_min=round(tight["fps_90th_percentile"])
        ),
        f"fps >= 30, area <= {area:.4f}": Constraints(fps_min=30, area_mm2_max=area),
    }
    strategies = [("dance-hdx", 0.02)] + [("dance-soft", lam) for lam in SOFT_LAMBDAS]
    # the unconstrained search: no bound and no hardware cost (accuracy alone); does its
    # winner meet 30 fps anyway, on its fastest accelerator of the space?
    plan = [(UNCONSTRAINED, Constraints(), [("dance-hdx", 0.0)])]
    plan += [(setting, cons, strategies) for setting, cons in settings.items()]
    rows = []
    # each bounded setting also gets HDX at the weight of its best all-feasible soft lambda
    total = (sum(len(strats) for _, _, strats in plan) + len(settings)) * seeds
    done = 0

    def run_row(setting: str, cons: Constraints, strategy: str, lam: float) -> None:
        nonlocal done
        runs = []
        for seed in range(seeds):
            spec = CoSearchSpec(strategy=strategy, cost_weight=lam, constraints=cons,
                                steps=steps, warmup_steps=min(100, steps // 3), seed=seed,
                                space=space, task=task, finetune_steps=0,
                                quantize=False)  # fmt: skip
            key = json.dumps([setting, strategy, lam, seed, steps, space, task])
            if not may_run(key):
                break
            runs.append(jr.cached(key, lambda spec=spec: _one(spec)))
            done += 1
            emit(progress, "bench", done, total, f"{setting} {strategy} lambda {lam} seed "
                 f"{seed}: final feasible {runs[-1]['final_feasible']}")  # fmt: skip
        if runs:
            rows.append({"setting": setting, "strategy": strategy, "lambda": lam, "runs": runs})

    for setting, cons, strats in plan:
        for strategy, lam in strats:
            run_row(setting, cons, strategy, lam)
        if setting == UNCONSTRAINED:
            continue
        # HDX at the same objective weight as the soft penalty it is compared with, so that
        # an energy gap measures the constraint handling, not the weight
        best = _best_soft([r for r in rows if r["setting"] == setting])
        if best and ("dance-hdx", best["lambda"]) not in strats:
            run_row(setting, cons, "dance-hdx", best["lambda"])
    out["rows"] = rows
    out["cifar10"] = []
    if cifar10:
        for seed in range(min(seeds, 2)):
            spec = CoSearchSpec(task="cifar10", data=cifar10, constraints=Constraints(fps_min=30),
                                steps=steps, warmup_steps=min(100, steps // 3), seed=seed,
                                space=space, quantize=False)  # fmt: skip
            key = json.dumps(["cifar10", cifar10, seed, steps, space])
            if not may_run(key):
                break
            one = jr.cached(key, lambda spec=spec: _one(spec))
            # relative to the working directory, so the committed table names no machine path
            source = os.path.relpath(cifar10) if os.path.isabs(cifar10) else cifar10
            out["cifar10"].append({"seed": seed, "source": source, **one})
            emit(progress, "bench", seed + 1, min(seeds, 2), f"cifar10 seed {seed}")
    planned = total + (min(seeds, 2) if cifar10 else 0)
    finished = sum(len(r["runs"]) for r in rows) + len(out["cifar10"])
    out["partial"] = {"done": finished, "planned": planned} if stopped else None
    return out


def _mean_se(values: list[float]) -> str:
    if not values:
        return "-"
    m = float(np.mean(values))
    if len(values) < 2:
        return f"{m:.1f}"
    se = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return f"{m:.1f} ± {se:.1f}"


def render_search_markdown(res: dict[str, Any], command: str) -> str:
    lines = [
        "# Co-search: feasibility and accuracy",
        "",
        f"Produced by `{command}` ({res['seeds']} seeds per row, {res['steps']} search steps, "
        f"task {res['task']}, space {res['space']}). Every figure was measured in that run; "
        "every fps, energy and feasibility is verified on the analytical model.",
        "",
        *_partial_lines(res),
        "| default `search run --fps 30` | seconds on this machine | target |",
        "|---|---|---|",
    ]
    for label, secs in res["default_run_seconds"] or [("not timed", math.nan)]:
        lines.append(f"| {label} | {secs:.0f} | <= 300 |")
    t = res["tight"]
    lines += [
        "",
        f"{t['pairs']} random (architecture, bits) pairs, each on every accelerator of the "
        f"space (analytical model): {t['share_meeting_30fps']:.1%} of these designs meet 30 "
        f"fps; only 10 % of the pairs reach {t['fps_90th_percentile']:.0f} fps even on their "
        f"fastest accelerator (the tight bound); 20 % of the accelerators have an area <= "
        f"{t['area_20th_percentile']:.3f} mm^2.",
        "",
        "| bounds | strategy | lambda | seeds | raw argmax feasible | final feasible "
        "| val accuracy % (winner 1) | energy uJ (winner 1) | fps (winner 1) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in res["rows"]:
        runs = row["runs"]
        ok = [r for r in runs if r["final_feasible"]]
        raw = sum(r["raw_feasible"] for r in runs) / len(runs)
        fin = len(ok) / len(runs)
        lines.append(
            f"| {row['setting']} | {row['strategy']} | {row['lambda']:g} | {len(runs)} | "
            f"{raw:.0%} | {fin:.0%} | {_mean_se([r['val_accuracy'] for r in ok])} | "
            f"{_mean_se([r['energy_uj'] for r in ok])} | {_mean_se([r['fps'] for r in ok])} |"
        )
    lines += [
        "",
        "Raw argmax feasible: the argmax design of the final logits on the generator's own "
        "accelerator meets every bound (before the exhaustive accelerator refinement; this "
        "measures HDX itself). Final feasible: at least one of the top-3 designs has an "
        "accelerator in the space that meets every bound (the run's winners). Accuracy: "
        "validation split, supernet weights, fake-quantized at the searched bits, BN "
        "statistics re-estimated for the sub-network; mean ± standard error over the "
        "feasible seeds. fps and energy: winner 1 on its refined accelerator (the lowest "
        "EDP among those meeting the bounds).",
        "",
    ]
    lines += _unconstrained_lines(res)
    lines += _hdx_vs_soft_lines(res)
    lines += _prediction_lines(res)
    lines += _cifar_lines(res)
    return "\n".join(lines) + "\n"


def _partial_lines(res: dict[str, Any]) -> list[str]:
    p = res.get("partial")
    if not p:
        return []
    return [
        f"**Partial**: the bench reached its time cap (`--max-minutes`) after {p['done']} of "
        f"{p['planned']} runs. Rows with fewer than {res['seeds']} seeds, and rows and "
        "settings missing below, did not run; `--resume` completes the bench from its journal.",
        "",
    ]


def _unconstrained_lines(res: dict[str, Any]) -> list[str]:
    rows = [r for r in res["rows"] if r["setting"] == UNCONSTRAINED]
    if not rows:
        return []
    runs = [r for r in rows[0]["runs"] if r["final_feasible"]]
    if not runs:
        return []
    fastest = [r["fastest_fps"] for r in runs]
    below = sum(f < 30 for f in fastest)
    return [
        "## Does 30 fps bind?",
        "",
        f"The unconstrained search (no bound, lambda 0: accuracy alone) over {len(runs)} "
        f"seeds: winner 1 reaches {_mean_se(fastest)} fps on the fastest accelerator of the "
        f"space (min {min(fastest):.1f}, max {max(fastest):.1f}); {below} of {len(runs)} "
        "winners miss 30 fps on every accelerator. "
        + (
            "The bound binds for what the search would pick without it."
            if below
            else "On this task the bound does not bind for what the search picks: accuracy alone "
            "already leads it to designs faster than 30 fps. It binds for the space (see the "
            "share of random designs above) and for the tight and area settings."
        ),
        "",
    ]


def _best_soft(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The soft-penalty row whose winners are all feasible with the best mean validation
    accuracy (None when no soft lambda is all-feasible)."""
    soft = [r for r in rows if r["strategy"] == "dance-soft"
            and all(x["final_feasible"] for x in r["runs"])]  # fmt: skip
    if not soft:
        return None
    return max(soft, key=lambda r: float(np.mean([x.get("val_accuracy", 0.0) for x in r["runs"]])))


def _hdx_vs_soft_lines(res: dict[str, Any]) -> list[str]:
    """Per setting: HDX against the most accurate soft lambda whose winners are all
    feasible, the accuracy target (within one standard error, or above) at equal or lower
    energy. HDX runs at that soft lambda's objective weight where the bench ran it so
    (otherwise at its default weight, named in the table)."""
    out = ["## HDX against the best feasible soft penalty", "",
           "| bounds | HDX lambda | HDX val acc % | HDX energy uJ | best all-feasible soft lambda "
           "| its val acc % "
           "| its energy uJ | accuracy within 1 SE or above | energy equal or lower |",
           "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    by_setting: dict[str, list[dict[str, Any]]] = {}
    for row in res["rows"]:
        if row["setting"] != UNCONSTRAINED:
            by_setting.setdefault(row["setting"], []).append(row)
    for setting, rows in by_setting.items():
        best = _best_soft(rows)
        hdx_rows = [r for r in rows if r["strategy"] == "dance-hdx"]
        hdx = next((r for r in hdx_rows if best and r["lambda"] == best["lambda"]), hdx_rows[0])
        h_acc = [x["val_accuracy"] for x in hdx["runs"] if x["final_feasible"]]
        h_en = [x["energy_uj"] for x in hdx["runs"] if x["final_feasible"]]
        if best is None or not h_acc:
            out.append(f"| {setting} | {hdx['lambda']:g} | {_mean_se(h_acc)} | {_mean_se(h_en)} "
                       "| none | - | - | - | - |")  # fmt: skip
            continue
        s_acc = [x["val_accuracy"] for x in best["runs"]]
        s_en = [x["energy_uj"] for x in best["runs"]]
        se = float(np.std(s_acc, ddof=1)) / math.sqrt(len(s_acc)) if len(s_acc) > 1 else 0.0
        acc_ok = float(np.mean(h_acc)) >= float(np.mean(s_acc)) - se
        en_ok = float(np.mean(h_en)) <= float(np.mean(s_en))
        out.append(
            f"| {setting} | {hdx['lambda']:g} | {_mean_se(h_acc)} | {_mean_se(h_en)} | "
            f"{best['lambda']:g} | "
            f"{_mean_se(s_acc)} | {_mean_se(s_en)} | {'yes' if acc_ok else 'no'} | "
            f"{'yes' if en_ok else 'no'} |"
        )
    return [*out, ""]


def _prediction_lines(res: dict[str, Any]) -> list[str]:
    runs = [x for row in res["rows"] for x in row["runs"] if x["final_feasible"]]
    if not runs:
        return []
    fps = [abs(x["predicted_fps"] / x["generator_fps"] - 1) for x in runs]
    en = [abs(x["predicted_energy_uj"] / x["generator_energy_uj"] - 1) for x in runs]
    return [
        "## The evaluator's predictions against the analytical model",
        "",
        f"Winner 1 of every feasible run ({len(runs)}), on the generator's own accelerator: "
        f"the evaluator's fps is off the analytical model's by {np.median(fps):.1%} "
        f"(median; 90th percentile {np.quantile(fps, 0.9):.1%}), its energy by "
        f"{np.median(en):.1%} (90th percentile {np.quantile(en, 0.9):.1%}). Every run's "
        "winners.csv holds both per winner (`predicted_*`, `generator_verified_*`).",
        "",
    ]


def _cifar_lines(res: dict[str, Any]) -> list[str]:
    runs = res.get("cifar10") or []
    if not runs and res.get("partial"):
        return ["No CIFAR-10 run yet (the bench stopped at its time cap).", ""]
    if not runs:
        return ["No CIFAR-10 run (no CIFAR-10 data given: `--cifar10 PATH`).", ""]
    out = ["## CIFAR-10 (not tuned for it)", "",
           f"Data: `{Path(runs[0]['source']).name}` from the shared data, a 10,000-image "
           "JPEG (q75) copy of the CIFAR-10 test set, re-split into train/val/test: a stand-in "
           "for the real training set, labelled as such. Same space, budget and "
           "hyper-parameters as digits; `dance-hdx`, fps >= 30.", "",
           "| seed | final feasible | architecture @ bits | accelerator | fps | energy uJ "
           "| val acc % | test acc % FP | test acc % fake-quant |",
           "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in runs:
        if not r["final_feasible"]:
            out.append(f"| {r['seed']} | no | - | - | - | - | - | - | - |")
            continue
        out.append(
            f"| {r['seed']} | yes | {r['architecture']} | {r['accelerator']} | {r['fps']:.1f} "
            f"| {r['energy_uj']:.2f} | {r['val_accuracy']:.1f} | {r['test_accuracy_fp']:.1f} "
            f"| {r['test_accuracy_quant']:.1f} |"
        )
    return [*out, ""]
