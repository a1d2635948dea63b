"""``search bench evaluator``: the measured targets of the DANCE evaluator issue.

Measured now: labelled-data generation (speed on one core, coverage). The evaluator network
and the hardware generator are not built yet; their targets are listed as such, never as
numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from coexplore.accel_model.accelerator import DATAFLOWS, MAC_MODES
from coexplore.accel_model.design_space import PARAMETERS
from coexplore.search.samples import FPS_BAND, generate
from coexplore.search.space import get_space

__all__ = ["run_evaluator_bench", "render_evaluator_markdown"]

NOT_BUILT = [
    ("evaluator MAPE latency / energy / area (held-out, mbv2-cifar)", "<= 2 % each"),
    ("evaluator Spearman (latency, energy, area)", ">= 0.99"),
    ("'meets the fps bound' predicted right, bounds 10-120 fps", ">= 98 %"),
    ("evaluator training time, 2 CPU cores", "<= 5 min"),
    ("batched evaluator inference, CPU", ">= 1,000,000 predictions/s"),
    ("hardware generator within 5 % of the exhaustive optimum", ">= 90 % of 500 pairs"),
]


def run_evaluator_bench(space: str = "mbv2-cifar", n: int = 200_000, seed: int = 0) -> dict:
    """Measures sample generation (one process, one core) and its coverage."""
    sp = get_space(space)
    t0 = time.perf_counter()
    samples = generate(sp, n, seed)
    seconds = time.perf_counter() - t0
    df = samples.hw[:, PARAMETERS.index("dataflow")]
    mm = samples.hw[:, PARAMETERS.index("mac_mode")]
    ok = samples.feasible
    out: dict[str, Any] = {
        "space": space,
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
    return out


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
        "## Evaluator network and hardware generator",
        "",
        "| measure | target | status |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {t} | not built yet |" for m, t in NOT_BUILT]
    return "\n".join(lines) + "\n"
