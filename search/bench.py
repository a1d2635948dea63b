"""``search bench evaluator``: the measured targets of the DANCE evaluator issue.

One run measures: labelled-data generation (speed on one core, coverage); the evaluator
trained from scratch (time, held-out accuracy, fps-bound agreement, inference rate); the
hardware generator trained through it, against the exhaustive optimum over the whole
accelerator space priced by the analytical model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from coexplore.accel_model import AnalyticalModel
from coexplore.accel_model.accelerator import DATAFLOWS, MAC_MODES
from coexplore.accel_model.design_space import PARAMETERS
from coexplore.defaults import SEARCH_BITS_AWARE, SEARCH_MAPPER
from coexplore.progress import ProgressFn
from coexplore.search.samples import FPS_BAND, generate
from coexplore.search.space import JointSpace, get_space

__all__ = ["run_evaluator_bench", "render_evaluator_markdown"]


def run_evaluator_bench(
    space: str = "mbv2-cifar",
    n: int = 200_000,
    seed: int = 0,
    *,
    networks: bool = True,
    pairs: int = 500,
    mapper: str = SEARCH_MAPPER,
    bits_aware: bool = SEARCH_BITS_AWARE,
    progress: ProgressFn | None = None,
) -> dict:
    """Measures sample generation (one process, one core) and its coverage; with
    ``networks``, trains and measures the evaluator and the generator too. ``mapper``: what
    the labelling cost model's mapper minimises (``AnalyticalModel(mapper_metric=...)``)."""
    sp = get_space(space)
    model = AnalyticalModel(mapper_metric=mapper, bits_aware=bits_aware)
    t0 = time.perf_counter()
    samples = generate(sp, n, seed, model=model)
    seconds = time.perf_counter() - t0
    df = samples.hw[:, PARAMETERS.index("dataflow")]
    mm = samples.hw[:, PARAMETERS.index("mac_mode")]
    ok = samples.feasible
    out: dict[str, Any] = {
        "space": space,
        "mapper": mapper,
        "bits_aware": bits_aware,
        "n": n,
        "seed": seed,
        "seconds": seconds,
        "samples_per_s": n / seconds,
        "feasible": float(ok.mean()),
        "in_fps_band": float(((samples.fps >= FPS_BAND[0]) & (samples.fps <= FPS_BAND[1])).mean()),
        "dataflow_share": {DATAFLOWS[i]: float((df == i).mean()) for i in range(len(DATAFLOWS))},
        "mac_mode_share": {MAC_MODES[i]: float((mm == i).mean()) for i in range(len(MAC_MODES))},
        "bits_share": {str(b): float((samples.bits == i).mean()) for i, b in enumerate(sp.bits)},
        "fps_quantiles": [float(q) for q in np.quantile(samples.fps[ok], [0.05, 0.5, 0.95])],
    }
    if networks:
        out.update(_bench_networks(sp, pairs, seed, model, progress))
    return out


def _bench_networks(
    sp: JointSpace, pairs: int, seed: int, model: AnalyticalModel, progress: ProgressFn | None
) -> dict:
    import torch

    from coexplore.search.evaluator import EvaluatorConfig, train_evaluator
    from coexplore.search.generator import (
        GeneratorConfig,
        exhaustive_costs,
        measure_generator,
        train_generator,
    )

    ecfg, gcfg = EvaluatorConfig(seed=seed), GeneratorConfig(seed=seed)
    ev, metrics = train_evaluator(sp, ecfg, model=model, progress=progress)
    gen, gmetrics = train_generator(ev, gcfg, progress=progress)
    t0 = time.perf_counter()
    costs = exhaustive_costs(sp, model, progress=progress)
    exhaustive_s = time.perf_counter() - t0
    gap = measure_generator(gen, costs, n_pairs=pairs, objective=gcfg.objective, ev=ev)
    return {
        "evaluator": metrics,
        "generator": {**gmetrics, **gap, "exhaustive_seconds": exhaustive_s},
        "torch_threads": torch.get_num_threads(),
    }


def render_evaluator_markdown(res: dict, command: str) -> str:
    share = ", ".join(f"{k} {v:.0%}" for k, v in res["dataflow_share"].items())
    modes = ", ".join(f"{k} {v:.0%}" for k, v in res["mac_mode_share"].items())
    bits = ", ".join(f"{k}-bit {v:.0%}" for k, v in res["bits_share"].items())
    q = res["fps_quantiles"]
    status = "met" if res["n"] >= 200_000 and res["seconds"] <= 60 else "**missed**"
    lines = [
        "# DANCE evaluator",
        "",
        f"Produced by `{command}`. Every figure was measured in that one run.",
        "",
        "## Training data (labelled by the analytical cost model)",
        "",
        f"Labels from `AnalyticalModel(mapper_metric={res.get('mapper', 'energy')!r}"
        + (", bits_aware=True" if res.get("bits_aware") else "") + ")`.",
        "",
        "| measure | measured | target | status |",
        "|---|---|---|---|",
        f"| {res['n']:,} samples of {res['space']}, one core | {res['seconds']:.1f} s "
        f"({res['samples_per_s']:,.0f}/s) | >= 200,000 in <= 60 s | {status} |",
        f"| feasible designs | {res['feasible']:.1%} | - | - |",
        f"| designs within the 10-120 fps band | {res['in_fps_band']:.1%} | - | - |",
        f"| fps 5 % / 50 % / 95 % | {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f} | - | - |",
        f"| dataflows | {share} | every dataflow | - |",
        f"| MAC modes | {modes} | - | - |",
        f"| slot bit-widths | {bits} | every bit-width | - |",
        "",
    ]
    if "evaluator" in res:
        lines += _networks_markdown(res)
    else:
        lines += ["", "Evaluator and generator not measured in this run (`--no-networks`)."]
    return "\n".join(lines) + "\n"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _networks_markdown(res: dict) -> list[str]:
    ev, gen = res["evaluator"], res["generator"]
    mape, rho, agree = ev["mape"], ev["spearman"], ev["fps_bound_agreement"]
    cfg = ev["config"]
    lines = [
        "## Evaluator network (held-out designs: another seed, other accelerators)",
        "",
        f"Trained on {ev['train_designs']:,} feasible designs drawn from "
        f"{ev['train_accelerators']:,} accelerators, with every variant's exact cost on those "
        f"accelerators as extra labels; {ev['test_designs']:,} held-out feasible designs; "
        f"torch threads: {res['torch_threads']}; width {cfg['width']}, dim {cfg['dim']}, "
        f"terms {cfg['terms']}."
        + (
            f" The last {cfg['focus']:.0%} of the budget also trained on a focus pool: "
            f"{ev['focus']['accelerators']:,} accelerators near the optima the half-trained "
            f"evaluator predicted for {cfg['focus_designs']} random designs, and their "
            f"single-parameter neighbours ({ev['focus']['designs']:,} designs; built and "
            f"priced in {ev['focus']['seconds']:.1f} s, inside the budget)."
            if ev.get("focus")
            else ""
        ),
        "",
        "| measure | measured | target | status |",
        "|---|---|---|---|",
    ]
    for k in ("latency", "energy", "area"):
        lines.append(
            f"| MAPE {k} | {mape[k]:.2%} (90th pct APE {ev['ape_p90'][k]:.1%}) | <= 2 % | "
            f"{_mark(mape[k] <= 0.02)} |"
        )
    for k in ("latency", "energy", "area"):
        lines.append(f"| Spearman {k} | {rho[k]:.4f} | >= 0.99 | {_mark(rho[k] >= 0.99)} |")
    for b, v in agree.items():
        lines.append(
            f"| 'meets {b} fps' predicted right | {v:.2%} | >= 98 % | {_mark(v >= 0.98)} |"
        )
    lines += [
        f"| training time | {ev['train_seconds']:.0f} s ({ev['steps']:,} steps, {ev['epochs']} "
        f"epochs; data "
        f"{ev['data_seconds']:.0f} s before it) | <= 5 min | "
        f"{_mark(ev['train_seconds'] <= 300)} |",
        f"| batched inference, CPU | {ev['predictions_per_s']:,.0f} predictions/s "
        f"(best of {ev.get('inference_repeats', 1)}) | "
        f">= 1,000,000/s | {_mark(ev['predictions_per_s'] >= 1e6)} |",
        "",
        f"## Hardware generator (objective {gen['objective']}, {gen['pairs']} random pairs)",
        "",
        "| measure | measured | target | status |",
        "|---|---|---|---|",
        f"| generated config within 5 % of the exhaustive optimum | {gen['within_5pct']:.1%} "
        f"| >= 90 % | {_mark(gen['within_5pct'] >= 0.9)} |",
        f"| median / worst gap | {gen['median_gap']:.2%} / {gen['worst_gap']:.1%} | - | - |",
        f"| generated configs infeasible | {gen['infeasible']} | - | - |",
    ]
    if "evaluator_pick_within_5pct" in gen:
        lines.append(
            f"| diagnostic: the evaluator's own exhaustive pick within 5 % (first 20 pairs) | "
            f"{gen['evaluator_pick_within_5pct']:.0%} (median gap "
            f"{gen['evaluator_pick_median_gap']:.2%}) | - | - |"
        )
    lines += [
        f"| generator training | {gen['train_seconds']:.0f} s, {gen['steps']} steps | - | - |",
        f"| exhaustive pricing of the whole space | {gen['exhaustive_seconds']:.0f} s | - | - |",
    ]
    return lines
