"""``search compare``, ``search bench compare`` and ``search bench datafree``: strategies side
by side, and the data-free co-search beside uniform bit-widths (issue #15).

Kept apart from cli.py (which registers it); torch is imported only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coexplore.api._common import (
    DEFAULT_RUNS,
    AreaOpt,
    BitsAwareOpt,
    EnergyOpt,
    FpsOpt,
    JsonOpt,
    LatencyOpt,
    MapperOpt,
    OutOpt,
    PowerOpt,
    constraints,
    execute,
    guard,
    parse_floats,
)
from coexplore.defaults import SEARCH_BITS_AWARE, SEARCH_MAPPER

__all__ = ["register", "DEFAULT_STRATEGIES"]

DEFAULT_STRATEGIES = "dance-hdx,dance-soft,dance-adaptive,optuna-nsga2,random"


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("compare")
    @guard
    def bench_compare(
        seeds: Annotated[int, typer.Option(min=1, help="Seeds per strategy.")] = 5,
        steps: Annotated[int, typer.Option(min=2, help="Search steps per run.")] = 300,
        trials: Annotated[int, typer.Option(min=2, help="optuna-nsga2's trials.")] = 48,
        space: Annotated[str, typer.Option(help="Joint search space.")] = "micro",
        study_storage: Annotated[
            str | None, typer.Option(help="SQLAlchemy URL of optuna-nsga2's study database.")
        ] = None,
        out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
            "results/compare.md"
        ),
        as_json: JsonOpt = False,
    ) -> None:
        """Every co-search strategy on the default problem (fps 30) over seeds: feasibility,
        accuracy, energy, hypervolume and wall time; NSGA-II also with 10x its trials."""
        import json

        from coexplore.api._common import ProgressView
        from coexplore.runs import atomic_write
        from coexplore.search.bench_compare import render_compare_markdown, run_compare_bench

        with ProgressView(as_json, lines=("bench",)) as view:
            res = run_compare_bench(seeds=seeds, steps=steps, trials=trials, space=space,
                                    study_storage=study_storage, progress=view)  # fmt: skip
        command = f"search bench compare --seeds {seeds}" + "".join(
            f" --{k} {v}" for k, v, d in (("steps", steps, 300), ("trials", trials, 48),
                                          ("space", space, "micro")) if v != d
        )  # fmt: skip
        text = render_compare_markdown(res, command)
        atomic_write(out, text)
        atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
        typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)

    @bench_app.command("handoff")
    @guard
    def bench_handoff(
        seeds: Annotated[int, typer.Option(min=1, help="Default co-search runs.")] = 3,
        steps: Annotated[int, typer.Option(min=2, help="Search steps per run.")] = 300,
        space: Annotated[str, typer.Option(help="Joint search space.")] = "micro",
        quant_images: Annotated[int, typer.Option(min=8)] = 64,
        quant_synthetic_steps: Annotated[int, typer.Option(min=1)] = 100,
        quant_iters: Annotated[int, typer.Option(min=1)] = 100,
        all_widths: Annotated[
            bool, typer.Option(help="Run the seeds again over every width (2 and 3 bits too).")
        ] = True,
        out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
            "results/handoff.md"
        ),
        as_json: JsonOpt = False,
    ) -> None:
        """The default run's winners: FP vs data-aware fake quantization vs zero-shot, at the
        searched bits and at W8A8 (targets: within 2 and 0.5 points); then the same seeds over
        every width, 2 and 3 bits included, for contrast."""
        import json

        from coexplore.api._common import ProgressView
        from coexplore.runs import atomic_write
        from coexplore.search.bench_handoff import render_handoff_markdown, run_handoff_bench

        with ProgressView(as_json, lines=("bench",)) as view:
            res = run_handoff_bench(seeds, steps, space, quant_images, quant_synthetic_steps,
                                    quant_iters, all_widths, progress=view)  # fmt: skip
        command = f"search bench handoff --seeds {seeds}" + "".join(
            f" --{k} {v}" for k, v, d in (
                ("steps", steps, 300), ("space", space, "micro"),
                ("quant-images", quant_images, 64),
                ("quant-synthetic-steps", quant_synthetic_steps, 100),
                ("quant-iters", quant_iters, 100)) if v != d
        ) + ("" if all_widths else " --no-all-widths")  # fmt: skip
        text = render_handoff_markdown(res, command)
        atomic_write(out, text)
        atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
        typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)

    @bench_app.command("datafree")
    @guard
    def bench_datafree(
        accel_space: Annotated[str, typer.Option(help="Accelerator design space.")] = "edge",
        steps: Annotated[int, typer.Option(min=1, help="HDX steps per run.")] = 500,
        images: Annotated[int, typer.Option(min=8, help="Synthetic images.")] = 64,
        synthetic_steps: Annotated[int, typer.Option(min=1)] = 100,
        recon_iters: Annotated[int, typer.Option(min=1)] = 100,
        sweep: Annotated[
            str, typer.Option(help="Lambdas searched beside the default 0.02 (comma-separated).")
        ] = "0.005,0.2",
        data_dir: Annotated[
            Path | None, typer.Option(help="The shared data folder (default: ../shared/data).")
        ] = None,
        out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
            "results/datafree.md"
        ),
        as_json: JsonOpt = False,
    ) -> None:
        """ResNet-20 (shared weights) at fps 30 and a tight bound: searched per-layer bits vs
        uniform W8A8/W6A6/W4A4, verified fps/energy, zero-shot accuracy on both test sets."""
        import json

        from coexplore.api._common import ProgressView
        from coexplore.quant.data import default_data_dir
        from coexplore.runs import atomic_write
        from coexplore.search.bench_datafree import render_datafree_markdown, run_datafree_bench

        with ProgressView(as_json, lines=("bench",)) as view:
            res = run_datafree_bench(data_dir or default_data_dir(), accel_space, steps, images,
                                     synthetic_steps, recon_iters,
                                     parse_floats(sweep, "--sweep", "0.005,0.2"),
                                     progress=view)  # fmt: skip
        command = "search bench datafree" + "".join(
            f" --{k} {v}" for k, v, d in (
                ("accel-space", accel_space, "edge"), ("steps", steps, 500),
                ("images", images, 64), ("synthetic-steps", synthetic_steps, 100),
                ("recon-iters", recon_iters, 100), ("sweep", sweep, "0.005,0.2")) if v != d
        )  # fmt: skip
        text = render_datafree_markdown(res, command)
        atomic_write(out, text)
        atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
        typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)

    @app.command()
    @guard
    def compare(
        fps: FpsOpt = None,
        latency_ms: LatencyOpt = None,
        area_mm2: AreaOpt = None,
        energy_uj: EnergyOpt = None,
        power_mw: PowerOpt = None,
        strategies: Annotated[
            str,
            typer.Option(
                help="Co-search strategies, comma-separated (add `sequential` when the nni "
                "extra is installed)."
            ),
        ] = DEFAULT_STRATEGIES,
        seeds: Annotated[int, typer.Option(min=1, max=100, help="Seeds per strategy.")] = 3,
        task: Annotated[str, typer.Option(help="digits (built in), cifar10, fashion-mnist.")] = (
            "digits"
        ),
        data: Annotated[
            Path | None, typer.Option(help="The task's data (folder or .npz) when not built in.")
        ] = None,
        space: Annotated[str, typer.Option(help="Joint search space.")] = "micro",
        objective: Annotated[str, typer.Option(help="edp, latency, energy, area or edap.")] = (
            "edp"
        ),
        cost_weight: Annotated[
            float, typer.Option("--lambda", min=0, help="lambda of the DANCE strategies.")
        ] = 0.02,
        steps: Annotated[int, typer.Option(min=2, help="Search steps per run.")] = 300,
        trials: Annotated[int, typer.Option(min=2, help="Designs optuna-nsga2 evaluates.")] = 48,
        study_storage: Annotated[
            str | None, typer.Option(help="SQLAlchemy URL of optuna-nsga2's study database.")
        ] = None,
        mapper: MapperOpt = SEARCH_MAPPER,
        bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
        out: OutOpt = DEFAULT_RUNS,
        as_json: JsonOpt = False,
    ) -> None:
        """Run co-search strategies on the same task, space, bounds, budget and seeds; one
        table (feasible fraction on the analytical model, accuracy, energy, area, hypervolume
        of the feasible accuracy-energy front, wall time) and a plot (compare.html).

        Example: search compare --fps 30 --strategies dance-hdx,optuna-nsga2 --seeds 3
        """
        from coexplore.search import CompareSpec, CoSearchSpec

        problem = CoSearchSpec(
            task=task, data=None if data is None else str(data), space=space,
            constraints=constraints(fps, latency_ms, area_mm2, energy_uj, power_mw),
            objective=objective, cost_weight=cost_weight, steps=steps,
            warmup_steps=min(100, steps // 3), trials=trials, study_storage=study_storage,
            quantize=False, mapper=mapper, bits_aware=bits_aware,
        )  # fmt: skip
        names = tuple(s.strip() for s in strategies.split(",") if s.strip())
        spec = CompareSpec(problem=problem, strategies=names, seeds=seeds)
        done = execute(spec, out, as_json)
        if done is None:
            return
        res, folder = done
        _print_compare(res.result)
        typer.echo(f"Saved to {folder} (plot: {folder / 'compare.html'})")


def _fmt(mean: Any, se: Any, digits: int = 1) -> str:
    if mean is None:
        return "-"
    return f"{mean:,.{digits}f} ± {se:,.{digits}f}"


def _print_compare(r: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    p = r.problem
    table = Table(title=f"compare on {p['task']} ({p['space']}), {r.seeds} seeds, "
                  f"{p['steps']} steps each; verified on the analytical model")  # fmt: skip
    for col in ("strategy", "final feasible", "raw argmax feasible", "val acc %", "energy uJ",
                "area mm^2", "fps", "hypervolume", "seconds"):  # fmt: skip
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for s in r.summary:
        table.add_row(
            s["strategy"], f"{s['final_feasible']:.0%}", f"{s['raw_feasible']:.0%}",
            _fmt(s["val_accuracy"], s["val_accuracy_se"]),
            _fmt(s["energy_uj"], s["energy_uj_se"], 2), _fmt(s["area_mm2"], s["area_mm2_se"], 3),
            _fmt(s["fps"], s["fps_se"]), _fmt(s["hypervolume"], s["hypervolume_se"], 0),
            _fmt(s["seconds"], s["seconds_se"], 0),
        )  # fmt: skip
    Console(width=max(Console().width, 150)).print(table)
    lo, hi = r.reference
    typer.echo(f"hypervolume: area dominated by each run's feasible winners (accuracy % x "
               f"energy uJ) above accuracy {lo:g} % and below {hi:.3g} uJ")  # fmt: skip
