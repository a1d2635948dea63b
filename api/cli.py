"""The ``search`` command line.

Subcommands import what they need when they run, so ``search --help`` starts fast and loads
neither torch nor FastAPI. User mistakes end with a one-paragraph message and exit code 2;
searches that find nothing end with exit code 1; never a traceback for either.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="search",
    help="coexplore: co-search networks, accelerator configurations and per-layer bit-widths.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Measure speed and quality beside published anchors; writes tables under results/.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
evaluator_app = typer.Typer(
    help="The DANCE evaluator (imitates the cost model) and hardware generator.",
    no_args_is_help=True,
)
app.add_typer(evaluator_app, name="evaluator")

DEFAULT_RUNS = Path("results") / "runs"


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _guard(fn: Any) -> Any:
    """Turns project errors into a message and an exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from coexplore.errors import ConfigError, InfeasibleDesignError, UnknownComponentError

        try:
            return fn(*args, **kwargs)
        except InfeasibleDesignError as exc:
            raise _fail(str(exc), 1) from None
        except (ConfigError, UnknownComponentError) as exc:
            raise _fail(str(exc), 2) from None

    return wrapper


def _parse_bits(text: str) -> tuple[int, ...]:
    try:
        bits = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise typer.BadParameter(
            f"bit-widths are integers separated by commas (e.g. 8 or 4,8), got {text!r}."
        ) from None
    return bits


def _write_run(out_root: Path, name: str, files: dict[str, str], fill: Any = None) -> Path:
    """Writes a run folder atomically: a crash never leaves a half-written run behind.
    ``fill(folder)`` may write more files (e.g. model weights) before the folder appears."""
    out_root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix=f".{stamp}-{name}-", dir=out_root))
    for rel, text in files.items():
        (tmp / rel).write_text(text)
    if fill is not None:
        fill(tmp)
    final = out_root / f"{stamp}-{name}"
    n = 1
    while final.exists():
        n += 1
        final = out_root / f"{stamp}-{name}-{n}"
    os.replace(tmp, final)
    return final


@app.command()
@_guard
def run(
    fps: Annotated[
        float | None, typer.Option(min=0.001, help="Frames per second, at least.")
    ] = None,
    area_mm2: Annotated[
        float | None, typer.Option(min=0.001, help="Chip area, at most (mm^2).")
    ] = None,
    energy_uj: Annotated[
        float | None, typer.Option(min=0.001, help="Energy per frame, at most (uJ).")
    ] = None,
    power_mw: Annotated[
        float | None, typer.Option(min=0.001, help="Average power, at most (mW).")
    ] = None,
    network: Annotated[
        str, typer.Option(help="Built-in workload (see `search networks`).")
    ] = "resnet20",
    space: Annotated[str, typer.Option(help="Accelerator design space.")] = "edge",
    bits: Annotated[
        str, typer.Option(help="Uniform bit-widths to try, comma-separated, from 2,3,4,6,8.")
    ] = "8",
    batch: Annotated[int, typer.Option(min=1, max=1024, help="Images per inference call.")] = 1,
    top: Annotated[int, typer.Option(min=1, help="Rows of the Pareto table to print.")] = 15,
    out: Annotated[Path, typer.Option(help="Folder for run folders.")] = DEFAULT_RUNS,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Search the accelerator design space for the designs that meet every bound.

    Prints the Pareto-optimal designs (max fps, min energy, min area) and saves the run
    (spec, full Pareto set, best accelerator as YAML) under --out.

    Example: search run --fps 30 --area-mm2 2
    """
    from coexplore.search.hardware import Bounds, HardwareSearchSpec, run_hardware_search

    spec = HardwareSearchSpec(
        network=network,
        space=space,
        bits=_parse_bits(bits),
        batch=batch,
        bounds=Bounds(fps, area_mm2, energy_uj, power_mw),
    )
    result = _with_progress(
        lambda cb: run_hardware_search(spec, progress=cb), "pricing designs", quiet=as_json
    )
    data = result.to_dict()
    csv_lines = ["fps,latency_ms,energy_uj,area_mm2,power_mw,utilisation,w_bits,a_bits,design"]
    csv_lines += [
        f"{d.fps:.3f},{d.latency_ms:.4f},{d.energy_uj:.4f},{d.area_mm2:.4f},"
        f"{d.power_mw:.3f},{d.utilisation:.4f},{d.w_bits},{d.a_bits},"
        f"{d.accelerator.describe()}"
        for d in result.pareto
    ]
    folder = _write_run(
        out,
        f"hw-{network}",
        {
            "spec.json": spec.to_json() + "\n",
            "result.json": json.dumps(data, indent=2) + "\n",
            "pareto.csv": "\n".join(csv_lines) + "\n",
            "best_accelerator.yaml": result.pareto[0].accelerator.to_yaml(),
        },
    )
    data["run_folder"] = str(folder)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    _print_pareto(result, top)
    typer.echo(
        f"\n{result.meeting:,} of {result.evaluated:,} designs meet "
        f"{spec.bounds.describe()}; {len(result.pareto)} on the Pareto front "
        f"({result.seconds:.1f} s). Saved to {folder}"
    )


def _with_progress(work: Any, label: str, quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return work(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


def _print_pareto(result: Any, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Pareto-optimal designs for {result.spec.network} ({result.spec.bounds.describe()})"
    )
    for col in ("fps", "energy uJ", "area mm^2", "power mW", "bits", "design"):
        table.add_column(col, justify="right" if col != "design" else "left")
    for d in result.pareto[:top]:
        table.add_row(
            f"{d.fps:,.1f}",
            f"{d.energy_uj:,.1f}",
            f"{d.area_mm2:.3f}",
            f"{d.power_mw:,.1f}",
            f"W{d.w_bits}A{d.a_bits}",
            d.accelerator.describe(),
        )
    Console().print(table)
    if len(result.pareto) > top:
        typer.echo(f"... {len(result.pareto) - top} more in pareto.csv (--top to show more)")


def _parse_pe(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"--pe is ROWSxCOLS, e.g. 12x14, got {text!r}.") from None
    return rows, cols


@app.command()
@_guard
def cost(
    network: Annotated[str, typer.Option(help="Built-in workload.")] = "resnet20",
    pe: Annotated[str, typer.Option(help="PE array as ROWSxCOLS.")] = "16x16",
    dataflow: Annotated[str, typer.Option(help="ws, os or rs.")] = "ws",
    rf_bytes: Annotated[int, typer.Option(min=1, help="Register file per PE (bytes).")] = 64,
    glb_kib: Annotated[int, typer.Option(min=1, help="Global buffer (KiB).")] = 128,
    glb_bw: Annotated[int, typer.Option(min=1, help="Global buffer bandwidth (bits/cycle).")] = 256,
    dram_bw: Annotated[float, typer.Option(min=0.01, help="DRAM bandwidth (bytes/cycle).")] = 8.0,
    clock_mhz: Annotated[float, typer.Option(min=1, help="Clock (MHz).")] = 200.0,
    mac_mode: Annotated[str, typer.Option(help="fixed or bitfusion.")] = "fixed",
    mac_bits: Annotated[int, typer.Option(help="Datapath width of fixed mode: 4, 8 or 16.")] = 8,
    bits: Annotated[int, typer.Option(min=2, max=16, help="Uniform weight/activation bits.")] = 8,
    batch: Annotated[int, typer.Option(min=1, max=1024)] = 1,
    eyeriss: Annotated[bool, typer.Option(help="Use the Eyeriss v1 configuration.")] = False,
    zigzag: Annotated[
        bool,
        typer.Option(
            help="Also run ZigZag on every layer with our tiling, and show its latency "
            "beside ours with its stall, loading and most-stalled memory port (needs the "
            "zigzag extra; fixed MAC mode)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Price one design: totals, per-layer and per-memory-level breakdowns.

    Example: search cost --network resnet20 --pe 12x14 --dataflow rs
    """
    if zigzag:
        from coexplore.accel_model.zigzag_adapter import zigzag_available

        if not zigzag_available():
            raise _fail("ZigZag is not installed: `pip install -e '.[zigzag]'`.", 2)
        if mac_mode != "fixed":
            raise _fail(
                f"--zigzag needs --mac-mode fixed (ZigZag cannot model Bit Fusion packing), "
                f"got {mac_mode!r}.",
                2,
            )
    from coexplore.accel_model import Accelerator, AnalyticalModel, get_network
    from coexplore.accel_model import eyeriss as eyeriss_config

    if eyeriss:
        acc = eyeriss_config()
    else:
        rows, cols = _parse_pe(pe)
        acc = Accelerator(
            pe_rows=rows,
            pe_cols=cols,
            rf_bytes=rf_bytes,
            glb_kib=glb_kib,
            glb_bits_per_cycle=glb_bw,
            dram_bytes_per_cycle=dram_bw,
            clock_hz=clock_mhz * 1e6,
            dataflow=dataflow,
            mac_mode=mac_mode,
            mac_bits=mac_bits,
        )
    model = AnalyticalModel()
    wl = get_network(network, batch=batch).with_bits(bits)
    rep = model.report(wl, acc)
    zz = None
    if zigzag and rep.feasible:
        from coexplore.accel_model.zigzag_adapter import ZigZagModel

        zz = ZigZagModel().evaluate(wl, acc, model.mappings(wl, acc))
    if as_json:
        out = rep.to_dict()
        if zz is not None:
            out["zigzag_layers"] = [dataclasses.asdict(r) for r in zz]
        typer.echo(json.dumps(out, indent=2))
        return
    _print_report(rep)
    if zz is not None:
        _print_zigzag(rep, zz)
    if not rep.feasible:
        raise typer.Exit(1)


def _print_zigzag(rep: Any, zz: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="latency per layer, ours vs ZigZag 3.9.1 on the same tiling (cycles)")
    cols = ("layer", "ours", "ours fill", "ZigZag", "error", "ZZ ideal", "ZZ stall", "ZZ load")
    for col in cols + ("ZZ most-stalled port",):
        table.add_column(
            col, justify="left" if col in ("layer", "ZZ most-stalled port") else "right"
        )
    for ly, r in zip(rep.layers, zz, strict=True):
        if not r.ok:
            table.add_row(
                ly.name, f"{ly.latency_cycles:,.0f}", "", "failed", "", "", "", "", r.error
            )
            continue
        table.add_row(
            ly.name,
            f"{ly.latency_cycles:,.0f}",
            f"{ly.fill_cycles:,.0f}",
            f"{r.mapping_latency_cycles:,.0f}",
            f"{ly.latency_cycles / r.mapping_latency_cycles - 1:+.1%}",
            f"{r.mapping_ideal_cycles:,.0f}",
            f"{r.mapping_stall_cycles:,.0f}",
            f"{r.mapping_onload_cycles + r.mapping_offload_cycles:,.0f}",
            r.mapping_stall_port,
        )
    Console(width=max(Console().width, 132)).print(table)  # too wide to read when wrapped


def _print_report(rep: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{rep.workload}[/bold] on {rep.accelerator.describe()}")
    if not rep.feasible:
        console.print(f"[red]infeasible[/red]: {rep.infeasible_reason}")
        return
    console.print(
        f"{rep.fps:,.1f} fps  {rep.latency_s * 1e3:.3f} ms ({rep.latency_cycles:,.0f} cycles)  "
        f"{rep.energy_uj:,.2f} uJ  {rep.area_mm2:.3f} mm^2  {rep.power_mw:,.1f} mW  "
        f"EDP {rep.edp_pj_s:.3g} pJ*s  utilisation {rep.utilisation:.1%}  "
        f"DRAM accesses/MAC {rep.dram_accesses_per_mac:.4f}"
    )
    levels = Table(title="energy by memory level")
    levels.add_column("level")
    levels.add_column("energy uJ", justify="right")
    levels.add_column("share", justify="right")
    levels.add_column("traffic Mbit", justify="right")
    for lvl, e in rep.energy_by_level_pj.items():
        traffic = rep.accesses_by_level_bits.get(lvl)
        levels.add_row(
            lvl,
            f"{e * 1e-6:,.2f}",
            f"{e / rep.energy_pj:.1%}",
            "" if traffic is None else f"{traffic / 1e6:,.2f}",
        )
    console.print(levels)
    layers = Table(title="per layer")
    for col in ("layer", "bits", "MMAC", "cycles", "stall", "util", "energy uJ", "DRAM kbit"):
        layers.add_column(col, justify="left" if col == "layer" else "right")
    for ly in rep.layers:
        layers.add_row(
            ly.name,
            f"W{ly.w_bits}A{ly.a_bits}",
            f"{ly.macs / 1e6:.2f}",
            f"{ly.latency_cycles:,.0f}",
            f"{ly.stall_cycles:,.0f}",
            f"{ly.utilisation:.0%}",
            f"{ly.energy_pj * 1e-6:.3f}",
            f"{ly.dram_bits / 1e3:,.1f}",
        )
    console.print(layers)


@app.command()
def networks() -> None:
    """List the built-in workloads with their layer and MAC counts."""
    from coexplore.accel_model import get_network, network_names

    for name in network_names():
        wl = get_network(name)
        typer.echo(f"{name:20s} {len(wl):3d} layers  {wl.total_macs / 1e6:10.1f} MMAC")


@app.command()
def spaces() -> None:
    """List the joint search spaces (architecture x bits x accelerator) with their sizes."""
    from coexplore.search.space import SPACES, get_space

    for name in SPACES.names():
        sp = get_space(name)
        typer.echo(
            f"{name:12s} {sp.n_slots:2d} slots x {sp.n_ops} operators x {len(sp.bits)} bit-widths "
            f"x {sp.hardware.size:,} accelerators ({sp.hardware.name}): {sp.size:.3g} points, "
            f"encoding {sp.encoding_dim} wide"
        )


@bench_app.command("cost-model")
def bench_cost_model(
    configs: Annotated[int, typer.Option(min=10, help="Random configurations for fidelity.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the configuration sample.")] = 0,
    zigzag: Annotated[
        bool, typer.Option(help="Compare with ZigZag (needs the zigzag extra).")
    ] = True,
    out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
        "results/cost_model_validation.md"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the measurements as JSON.")
    ] = False,
) -> None:
    """Speed, fidelity against ZigZag, the Eyeriss anchor and SCALE-Sim closed forms."""
    from coexplore.accel_model.validation import render_markdown, run_cost_model_bench
    from coexplore.accel_model.zigzag_adapter import zigzag_available

    if zigzag and not zigzag_available():
        raise _fail(
            "ZigZag is not installed: `pip install -e '.[zigzag]'`, or pass "
            "--no-zigzag to skip the fidelity comparison.",
            2,
        )

    def work(cb: Any) -> Any:
        def progress(net: str, done: int, total: int) -> None:
            if cb:
                cb(done, total)

        return run_cost_model_bench(
            n_configs=configs, seed=seed, with_zigzag=zigzag, progress=progress
        )

    res = _with_progress(work, "ZigZag fidelity", quiet=as_json)
    command = f"search bench cost-model --configs {configs} --seed {seed}" + (
        "" if zigzag else " --no-zigzag"
    )
    text = render_markdown(res, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)


@bench_app.command("evaluator")
def bench_evaluator(
    space: Annotated[str, typer.Option(help="Joint search space.")] = "mbv2-cifar",
    samples: Annotated[int, typer.Option(min=1000, help="Labelled samples to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    networks: Annotated[
        bool, typer.Option(help="Train and measure the evaluator and generator (~15 min).")
    ] = True,
    pairs: Annotated[
        int, typer.Option(min=10, help="(architecture, bits) pairs for the generator.")
    ] = 500,
    out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
        "results/evaluator.md"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the measurements as JSON.")
    ] = False,
) -> None:
    """The DANCE evaluator targets: data generation, evaluator accuracy and speed, and the
    hardware generator against the exhaustive optimum, all measured in one run."""
    from coexplore.search.bench import render_evaluator_markdown, run_evaluator_bench

    res = _guard(run_evaluator_bench)(
        space, samples, seed, networks=networks, pairs=pairs, progress=_say(as_json)
    )
    command = f"search bench evaluator --space {space} --samples {samples} --seed {seed}" + (
        f" --pairs {pairs}" if networks else " --no-networks"
    )
    text = render_evaluator_markdown(res, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)


def _say(quiet: bool) -> Any:
    """A progress callback printing timestamped phase lines on stderr."""
    t0 = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            typer.echo(f"[{time.perf_counter() - t0:6.0f} s] {message}", err=True)

    return say


@evaluator_app.command("train")
def evaluator_train(
    space: Annotated[str, typer.Option(help="Joint search space (see `search spaces`).")] = (
        "mbv2-cifar"
    ),
    objective: Annotated[
        str, typer.Option(help="Generator objective: edp, latency, energy, area or edap.")
    ] = "edp",
    train_seconds: Annotated[
        float, typer.Option(min=1.0, help="Evaluator training budget (seconds).")
    ] = 270.0,
    generator_seconds: Annotated[
        float, typer.Option(min=1.0, help="Generator training budget (seconds).")
    ] = 90.0,
    samples: Annotated[int, typer.Option(min=100, help="Labelled training designs.")] = 200_000,
    min_fps: Annotated[
        float, typer.Option(help="Generator bound: at least this fps (0 = none).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for run folders.")] = DEFAULT_RUNS,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
) -> None:
    """Train the evaluator on cost-model labels and the generator through it; save both with
    their held-out metrics in a run folder."""
    _guard(_evaluator_train)(
        space, objective, train_seconds, generator_seconds, samples, min_fps, seed, out, as_json
    )


def _evaluator_train(
    space: str,
    objective: str,
    train_seconds: float,
    generator_seconds: float,
    samples: int,
    min_fps: float,
    seed: int,
    out: Path,
    as_json: bool,
) -> None:
    from coexplore.search.space import get_space

    sp = get_space(space)  # unknown names fail here, before any work
    from coexplore.search.evaluator import EvaluatorConfig, save_evaluator, train_evaluator
    from coexplore.search.generator import GeneratorConfig, save_generator, train_generator

    ecfg = EvaluatorConfig(samples=samples, train_seconds=train_seconds, seed=seed)
    gcfg = GeneratorConfig(
        objective=objective, min_fps=min_fps, train_seconds=generator_seconds, seed=seed
    )
    total = train_seconds + generator_seconds
    with _time_bar(total, quiet=as_json) as say:
        ev, metrics = train_evaluator(sp, ecfg, progress=say)
        gen, gmetrics = train_generator(ev, gcfg, progress=say)

    def fill(folder: Path) -> None:
        save_evaluator(ev, folder, ecfg, metrics)
        save_generator(gen, folder, gcfg, gmetrics)

    folder = _write_run(out, f"evaluator-{space}", {}, fill)
    result = {"run_folder": str(folder), "evaluator": metrics, "generator": gmetrics}
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=float))
        return
    m = metrics
    typer.echo(
        f"evaluator: held-out MAPE latency {m['mape']['latency']:.2%}, energy "
        f"{m['mape']['energy']:.2%}, area {m['mape']['area']:.2%}; Spearman "
        f"{m['spearman']['latency']:.4f}/{m['spearman']['energy']:.4f}/"
        f"{m['spearman']['area']:.4f}; trained {m['train_seconds']:.0f} s; "
        f"{m['predictions_per_s']:,.0f} predictions/s"
    )
    typer.echo(f"generator: {gmetrics['steps']} steps ({gcfg.objective}). Saved to {folder}")


class _time_bar:
    """A rich progress bar over a time budget; the callback shows the latest phase."""

    def __init__(self, total_s: float, quiet: bool) -> None:
        self.total, self.quiet = total_s, quiet
        self.progress: Any = None

    def __enter__(self) -> Any:
        if self.quiet or not sys.stderr.isatty():
            return _say(self.quiet)  # phase lines in logs, nothing with --json
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
        )
        self.progress.__enter__()
        task = self.progress.add_task("preparing", total=self.total)
        start: list[float] = []

        def say(message: str) -> None:
            if message.startswith("training on") and not start:
                start.append(time.perf_counter())
            done = time.perf_counter() - start[0] if start else 0.0
            self.progress.update(task, description=message[:60], completed=min(done, self.total))

        return say

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _register_quant() -> None:
    from coexplore.api import _quant_cli

    _quant_cli.register(app, bench_app, _guard)


_register_quant()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
