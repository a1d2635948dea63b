"""The ``search`` command line: parse flags into a spec, call the library, print.

Subcommands import what they need when they run, so ``search --help`` starts fast and loads
neither torch nor FastAPI. User mistakes end with a one-paragraph message and exit code 2;
searches that find nothing end with exit code 1; never a traceback for either.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from coexplore.api import _compare_cli, _quant_cli, _service_cli
from coexplore.api._common import (
    DEFAULT_RUNS,
    AreaOpt,
    BitsAwareOpt,
    EnergyOpt,
    FpsOpt,
    InputShapeOpt,
    JsonOpt,
    LatencyOpt,
    MapperOpt,
    ModelOpt,
    NestedBuffersOpt,
    NetworkOpt,
    OutOpt,
    PowerOpt,
    ProgressView,
    constraints,
    execute,
    fail,
    guard,
    network_ref,
    parse_floats,
    parse_ints,
)
from coexplore.defaults import SEARCH_BITS_AWARE, SEARCH_MAPPER
from coexplore.runs import atomic_write

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


@app.command()
@guard
def run(
    fps: FpsOpt = None,
    latency_ms: LatencyOpt = None,
    area_mm2: AreaOpt = None,
    energy_uj: EnergyOpt = None,
    power_mw: PowerOpt = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="dance-hdx (hard bounds by HDX), dance-soft (penalty), "
            "dance-adaptive (primal-dual penalty), optuna-nsga2, random or "
            "sequential (baselines; sequential needs the nni extra)."
        ),
    ] = "dance-hdx",
    cost_weight: Annotated[
        float, typer.Option("--lambda", min=0, help="Weight of the hardware cost (lambda).")
    ] = 0.02,
    task: Annotated[str, typer.Option(help="digits (built in), cifar10, fashion-mnist.")] = (
        "digits"
    ),
    data: Annotated[
        Path | None, typer.Option(help="The task's data (folder or .npz) when not built in.")
    ] = None,
    space: Annotated[str, typer.Option(help="Joint search space (see `search spaces`).")] = (
        "micro"
    ),
    objective: Annotated[
        str, typer.Option(help="Hardware cost: edp, latency, energy, area or edap.")
    ] = "edp",
    steps: Annotated[
        int | None, typer.Option(min=1, help="Search steps (co-search 300, data-free 500).")
    ] = None,
    warmup_steps: Annotated[int, typer.Option(min=0, help="Weight-only steps first.")] = 100,
    top_k: Annotated[int, typer.Option(min=1, help="Distinct winners to verify.")] = 3,
    trials: Annotated[
        int, typer.Option(min=2, help="Designs optuna-nsga2 evaluates after the weight training.")
    ] = 48,
    study_storage: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the Optuna study database (optuna-nsga2; "
            "default sqlite:///results/optuna.db)."
        ),  # fmt: skip
    ] = None,
    quantize: Annotated[
        bool, typer.Option(help="Hand the winners to the zero-shot quantization core.")
    ] = True,
    quant_images: Annotated[
        int, typer.Option(min=8, help="Synthetic images per winner for the hand-off.")
    ] = 64,
    quant_synthetic_steps: Annotated[
        int, typer.Option(min=1, help="Steps making the hand-off's synthetic images.")
    ] = 100,
    quant_iters: Annotated[
        int, typer.Option(min=1, help="Reconstruction steps per unit for the hand-off.")
    ] = 100,
    model: Annotated[
        str | None,
        typer.Option(
            help="Data-free mode: a pretrained model (resnet20... or "
            "package.module:factory); its per-layer bits and the accelerator are "
            "searched, without its data."
        ),  # fmt: skip
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Data-free mode: its weights.")] = None,
    eval_data: Annotated[
        Path | None, typer.Option(help="Data-free mode: test data to score the designs on.")
    ] = None,
    accel_space: Annotated[
        str, typer.Option(help="Data-free mode: accelerator space (edge, tiny, micro...).")
    ] = "edge",
    bits: Annotated[
        str | None,
        typer.Option(
            help="Bit-widths a slot (data-free: a layer) may take, e.g. 4,6,8. "
            "Default: 4,6,8 when the winners go to zero-shot quantization, all "
            "(2,3,4,6,8) with --no-quantize and in data-free mode."
        ),  # fmt: skip
    ] = None,
    lambda_sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="Data-free mode: further lambdas searched in the same "
            "run, e.g. 0.005,0.2; each one's designs join the table.",
        ),  # fmt: skip
    ] = None,
    budgeted: Annotated[
        bool | None,
        typer.Option(
            "--budgeted/--no-budgeted",
            help="Data-free mode: for each uniform choice "
            "that meets the bounds, also the least sensitive bits at no more energy "
            "(an exact knapsack). On by default.",
        ),  # fmt: skip
    ] = None,
    mapper: MapperOpt = SEARCH_MAPPER,
    bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(min=0, help="Seed.")] = 0,
    max_seconds: Annotated[
        float, typer.Option(min=0, help="Wall-clock cap on the search (0 = none).")
    ] = 0.0,
    out: OutOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
) -> None:
    """Co-search architecture, per-slot bit-widths and accelerator under hard bounds.

    DANCE prices the relaxed design through a generator and an evaluator trained on the
    analytical cost model (trained once per space, then cached); HDX keeps every bound met.
    The winners are verified on the analytical model over the whole accelerator space.

    With --model (and --weights), the data-free co-search: the network is fixed, its
    per-layer bit-widths and the accelerator are searched under the same bounds with HDX,
    accuracy estimated from synthetic data; uniform W8A8/W6A6/W4A4 are compared in the run.

    Example: search run --fps 30
    """
    from coexplore.search import CoSearchSpec

    if lambda_sweep is not None and model is None:
        raise typer.BadParameter("--sweep applies to the data-free mode (--model ... --weights "
                                 "...); a co-search takes one --lambda.")  # fmt: skip
    if budgeted is not None and model is None:
        raise typer.BadParameter("--budgeted/--no-budgeted applies to the data-free mode "
                                 "(--model ... --weights ...).")  # fmt: skip
    if model is not None:
        from coexplore.search.specs import DataFreeSpec

        df = DataFreeSpec(
            model=model, weights=None if weights is None else str(weights),
            eval_data=None if eval_data is None else str(eval_data), accel_space=accel_space,
            **({} if bits is None else {"bits": parse_ints(bits, "--bits", "4,6,8")}),
            constraints=constraints(fps, latency_ms, area_mm2, energy_uj, power_mw),
            objective=objective, cost_weight=cost_weight, top_k=top_k, device=device,
            sweep=() if lambda_sweep is None else parse_floats(lambda_sweep, "--sweep",
                                                                "0.005,0.2"),
            images=quant_images, synthetic_steps=quant_synthetic_steps, recon_iters=quant_iters,
            seed=seed, budgeted=budgeted is not False, mapper=mapper, bits_aware=bits_aware,
            **({} if steps is None else {"steps": steps}),
        )  # fmt: skip
        done = execute(df, out, as_json)
        if done is not None:
            _print_datafree(done[0].result)
            typer.echo(f"Saved to {done[1]}")
        return
    spec = CoSearchSpec(
        strategy=strategy,
        task=task,
        data=None if data is None else str(data),
        space=space,
        constraints=constraints(fps, latency_ms, area_mm2, energy_uj, power_mw),
        objective=objective,
        cost_weight=cost_weight,
        steps=300 if steps is None else steps,
        warmup_steps=warmup_steps,
        top_k=top_k,
        bits=() if bits is None else parse_ints(bits, "--bits", "4,6,8"),
        trials=trials,
        study_storage=study_storage,
        quantize=quantize,
        quant_images=quant_images,
        quant_synthetic_steps=quant_synthetic_steps,
        quant_iters=quant_iters,
        max_seconds=max_seconds,
        mapper=mapper,
        bits_aware=bits_aware,
        device=device,
        seed=seed,
    )
    done = execute(spec, out, as_json)
    if done is None:
        return
    res, folder = done
    _print_winners(res.result, spec)
    typer.echo(f"Saved to {folder}")


def _print_datafree(r: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"data-free co-search of {r.model} ({r.accel_space}; {r.constraints}): "
                  "every cost verified on the analytical model")  # fmt: skip
    for col in ("design", "bits per layer", "accelerator", "fps", "energy uJ", "area mm^2",
                "sensitivity", "zero-shot %", "dominated by"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("design", "bits per layer",
                                                        "accelerator", "dominated by")
                         else "right")  # fmt: skip
    for d in r.designs:
        v = d.get("verified")
        sens = d["predicted_sensitivity"]
        table.add_row(
            d["name"], "/".join(map(str, d["bits"])),
            d.get("accelerator", "none meets the bounds: " + d.get("closest", "")),
            f"{v['fps']:,.1f}" if v else "-", f"{v['energy_uj']:,.2f}" if v else "-",
            f"{v['area_mm2']:.3f}" if v else "-", "-" if sens is None else f"{sens:.4f}",
            f"{d['test_zsq']:.2f}" if "test_zsq" in d else "-",
            ", ".join(d.get("dominated_by", [])) or "-",
        )  # fmt: skip
    Console(width=max(Console().width, 160)).print(table)
    if r.dominates_uniform is not None:
        typer.echo("every uniform choice that meets the bounds is dominated by a searched "
                   f"design: {'yes' if r.dominates_uniform else 'no'}")  # fmt: skip
        from coexplore.search.datafree import describe_rival

        for u in r.designs:
            line = None if u["searched"] or not u.get("feasible") else describe_rival(u)
            if line:
                typer.echo("  " + line)


def _accel_text(accelerator: dict[str, Any]) -> str:
    from coexplore.accel_model import Accelerator

    return Accelerator.from_dict(accelerator).describe()


def _print_winners(r: Any, spec: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{r.strategy} on {r.task} ({r.space}): winners, verified on the analytical "
        f"model ({r.constraints})"
    )
    for col in ("#", "architecture @ bits per slot", "accelerator", "fps", "energy uJ",
                "area mm^2", "slack", "val acc %"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("architecture @ bits per slot",
                                                        "accelerator") else "right")  # fmt: skip
    for w, acc in zip(r.winners, r.val_accuracy, strict=True):
        slack = ", ".join(f"{k.split('_')[0]} {v:+.0%}" for k, v in w.slack.items()) or "-"
        table.add_row(
            str(w.rank), w.architecture, w.accelerator_text, f"{w.verified['fps']:,.1f}",
            f"{w.verified['energy_uj']:,.2f}", f"{w.verified['area_mm2']:.3f}", slack,
            f"{acc:.1f}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 150))
    console.print(table)
    p = r.predicted_final
    typer.echo(
        f"predicted by the evaluator for the final relaxed design: {p['fps']:,.1f} fps, "
        f"{p['energy_uj']:,.2f} uJ, {p['area_mm2']:.3f} mm^2 (not verified)"
    )
    check = Table(
        title="each winner on the generator's own accelerator: the evaluator's "
        "prediction (what the search steered by) vs the analytical model"
    )
    for col in (
        "#",
        "accelerator (generator)",
        "fps pred",
        "fps verified",
        "energy uJ pred",
        "energy uJ verified",
        "meets bounds",
        "refined: fps",
        "refined: energy uJ",
    ):
        check.add_column(col, justify="left" if col.startswith("acc") else "right")
    for w in r.winners:
        pred, gen = w.predicted, w.generator_verified
        check.add_row(
            str(w.rank), _accel_text(w.generator_accelerator),
            f"{pred['fps']:,.1f}" if pred else "-", f"{gen['fps']:,.1f}",
            f"{pred['energy_uj']:,.2f}" if pred else "-", f"{gen['energy_uj']:,.2f}",
            "yes" if w.generator_feasible else "no", f"{w.verified['fps']:,.1f}",
            f"{w.verified['energy_uj']:,.2f}",
        )  # fmt: skip
    console.print(check)
    hdx = (
        f"; HDX changed the gradient on {r.manipulated_steps} of {r.arch_steps} architecture steps"
        if r.strategy == "dance-hdx"
        else ""
    )
    typer.echo(
        f"winner 1 test accuracy after {r.finetune_steps} fine-tuning steps: FP "
        f"{r.test_accuracy_fp:.1f} %, fake-quantized at its bits {r.test_accuracy_quant:.1f} % "
        f"({r.task_source}){hdx}"
    )
    for d in r.dropped:
        typer.echo(f"dropped #{d['rank']} {d['architecture']}: no accelerator meets the bounds "
                   f"(closest {d['closest']})")  # fmt: skip
    if r.handoff:
        hand = Table(title="winners through the zero-shot quantization core (synthetic data "
                     f"only; test split, {r.task_source})")  # fmt: skip
        for col in ("#", "bits per slot", "FP %", "fake-quant with data %", "zero-shot %",
                    "seconds", "integer model"):  # fmt: skip
            hand.add_column(col, justify="left" if col in ("bits per slot", "integer model")
                            else "right")  # fmt: skip
        for h, w in zip(r.handoff, r.winners, strict=True):
            hand.add_row(
                str(h["rank"]), "/".join(map(str, w.bit_widths)),
                f"{h['test_accuracy_fp']:.1f}", f"{h['test_accuracy_fakequant_data']:.1f}",
                f"{h['test_accuracy_zsq']:.1f}", f"{h['seconds']:.0f}", h["exported"],
            )  # fmt: skip
        Console(width=max(Console().width, 150)).print(hand)
    if r.study:
        st = r.study
        typer.echo(f"Optuna study {st['name']!r}: {st['feasible_trials']} of {st['trials']} "
                   f"trials feasible; open it with: {st['dashboard']}")  # fmt: skip


@app.command()
@guard
def sweep(
    fps: FpsOpt = None,
    latency_ms: LatencyOpt = None,
    area_mm2: AreaOpt = None,
    energy_uj: EnergyOpt = None,
    power_mw: PowerOpt = None,
    network: NetworkOpt = "resnet20",
    model: ModelOpt = None,
    input_shape: InputShapeOpt = None,
    accel_space: Annotated[
        str, typer.Option(help="Accelerator design space (edge, tiny).")
    ] = "edge",
    bits: Annotated[
        str, typer.Option(help="Uniform bit-widths to try, comma-separated, from 2,3,4,6,8.")
    ] = "8",
    batch: Annotated[int, typer.Option(min=1, max=1024, help="Images per inference call.")] = 1,
    top: Annotated[int, typer.Option(min=1, help="Rows of the Pareto table to print.")] = 15,
    mapper: MapperOpt = SEARCH_MAPPER,
    nested_buffers: NestedBuffersOpt = False,
    bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
    out: OutOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
) -> None:
    """Sweep an accelerator design space for a fixed network: every design that meets every
    bound, and their Pareto front.

    Prints the Pareto-optimal designs (max fps, min energy, min area) and saves the run
    (run.json manifest, spec, full Pareto set, best accelerator as YAML) under --out.

    Example: search sweep --fps 30 --area-mm2 2
    """
    from coexplore.accel_model.user_workloads import parse_shape
    from coexplore.search import HardwareSweepSpec

    spec = HardwareSweepSpec(
        network=network_ref(network, model),
        input_shape=parse_shape(input_shape) if input_shape else (),
        accel_space=accel_space,
        bits=parse_ints(bits, "--bits", "8 or 4,8"),
        batch=batch,
        constraints=constraints(fps, latency_ms, area_mm2, energy_uj, power_mw),
        mapper=mapper,
        nested_buffers=nested_buffers,
        bits_aware=bits_aware,
    )
    done = execute(spec, out, as_json)
    if done is None:
        return
    res, folder = done
    result = res.result
    _print_pareto(result, top)
    typer.echo(
        f"\n{result.meeting:,} of {result.evaluated:,} designs meet "
        f"{spec.constraints.describe()}; {len(result.pareto)} on the Pareto front "
        f"({result.seconds:.1f} s). Saved to {folder}"
    )


def _print_pareto(result: Any, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Pareto-optimal designs for {result.spec.network} "
        f"({result.spec.constraints.describe()})"
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
@guard
def cost(
    network: NetworkOpt = "resnet20",
    model: ModelOpt = None,
    input_shape: InputShapeOpt = None,
    pe: Annotated[str, typer.Option(help="PE array as ROWSxCOLS.")] = "16x16",
    dataflow: Annotated[str, typer.Option(help="ws, os or rs.")] = "ws",
    rf_bytes: Annotated[int, typer.Option(min=1, help="Register file per PE (bytes).")] = 64,
    glb_kib: Annotated[int, typer.Option(min=1, help="Global buffer (KiB).")] = 128,
    glb_bw_bits: Annotated[
        int, typer.Option(min=1, help="Global buffer bandwidth (bits/cycle).")
    ] = 256,
    dram_bw_bytes: Annotated[
        float, typer.Option(min=0.01, help="DRAM bandwidth (bytes/cycle).")
    ] = 8.0,
    clock_mhz: Annotated[float, typer.Option(min=1, help="Clock (MHz).")] = 200.0,
    mac_mode: Annotated[str, typer.Option(help="fixed or bitfusion.")] = "fixed",
    mac_bits: Annotated[int, typer.Option(help="Datapath width of fixed mode: 4, 8 or 16.")] = 8,
    bits: Annotated[int, typer.Option(min=2, max=16, help="Uniform weight/activation bits.")] = 8,
    batch: Annotated[int, typer.Option(min=1, max=1024)] = 1,
    eyeriss: Annotated[bool, typer.Option(help="Use the Eyeriss v1 configuration.")] = False,
    mapper: MapperOpt = SEARCH_MAPPER,
    nested_buffers: NestedBuffersOpt = False,
    bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
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
    Your own: search cost --network layers.yaml, --network model.onnx, or
    --model mypkg.nets:build --input-shape 1,3,224,224
    """
    ref = network_ref(network, model)
    from coexplore.accel_model import AnalyticalModel
    from coexplore.errors import ConfigError

    try:  # a bad --mapper fails before anything is loaded or priced
        cost_model = AnalyticalModel(
            mapper_metric=mapper, nested_buffers=nested_buffers, bits_aware=bits_aware
        )
    except ConfigError as exc:
        raise fail(str(exc).replace("mapper_metric", "--mapper"), 2) from None
    if zigzag:
        from coexplore.accel_model.zigzag_adapter import zigzag_available

        if not zigzag_available():
            raise fail("ZigZag is not installed: `pip install -e '.[zigzag]'`.", 2)
        if mac_mode != "fixed":
            raise fail(
                f"--zigzag needs --mac-mode fixed (ZigZag cannot model Bit Fusion packing), "
                f"got {mac_mode!r}.",
                2,
            )
    from coexplore.accel_model import Accelerator
    from coexplore.accel_model import eyeriss as eyeriss_config
    from coexplore.accel_model.user_workloads import load_workload

    if eyeriss:
        acc = eyeriss_config()
    else:
        rows, cols = _parse_pe(pe)
        acc = Accelerator(
            pe_rows=rows,
            pe_cols=cols,
            rf_bytes=rf_bytes,
            glb_kib=glb_kib,
            glb_bits_per_cycle=glb_bw_bits,
            dram_bytes_per_cycle=dram_bw_bytes,
            clock_hz=clock_mhz * 1e6,
            dataflow=dataflow,
            mac_mode=mac_mode,
            mac_bits=mac_bits,
        )
    model = cost_model
    wl = load_workload(ref, input_shape, batch=batch).with_bits(bits)
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
    reference_configs: Annotated[
        int,
        typer.Option(
            min=0,
            help="Configurations per network for ZigZag's own mapping search, the reference "
            "for our mapper (seconds per layer; 0 skips it).",
        ),
    ] = 10,
    metric: Annotated[
        str, typer.Option(help="What ZigZag's mapping search minimises: edp, latency, energy.")
    ] = "edp",
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only these parts (repeatable): speed, properties, anchors, fidelity, "
            "reference. Default: all.",
        ),
    ] = None,
    reference_networks: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-network",
            help="Network for ZigZag's mapping search (repeatable; default resnet20, "
            "mobilenetv2-cifar, vgg16).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
        "results/cost_model_validation.md"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the measurements as JSON.")
    ] = False,
) -> None:
    """Speed, fidelity against ZigZag, the Eyeriss anchor and SCALE-Sim closed forms."""
    from coexplore.accel_model import get_network
    from coexplore.accel_model.validation import (
        BENCH_PARTS,
        REFERENCE_NETWORKS,
        render_markdown,
        run_cost_model_bench,
    )
    from coexplore.accel_model.zigzag_adapter import zigzag_available
    from coexplore.errors import UnknownComponentError

    parts = tuple(only) if only else BENCH_PARTS
    bad = sorted(set(parts) - set(BENCH_PARTS))
    if bad:
        raise fail(f"--only takes {', '.join(BENCH_PARTS)}; got {', '.join(bad)}.", 2)
    ref_nets = tuple(reference_networks) if reference_networks else REFERENCE_NETWORKS
    for name in ref_nets:
        try:
            get_network(name)  # an unknown name fails here, before any measurement
        except UnknownComponentError as exc:
            raise fail(f"--reference-network: {exc}", 2) from exc
    if zigzag and not zigzag_available():
        raise fail(
            "ZigZag is not installed: `pip install -e '.[zigzag]'`, or pass "
            "--no-zigzag to skip the fidelity comparison.",
            2,
        )

    if metric not in ("edp", "latency", "energy"):
        raise fail(f"--metric must be edp, latency or energy, got {metric!r}.", 2)
    with ProgressView(as_json) as view:
        res = run_cost_model_bench(n_configs=configs, seed=seed, with_zigzag=zigzag,
                                   progress=view, reference_configs=reference_configs,
                                   reference_networks=ref_nets, metric=metric,
                                   parts=parts)  # fmt: skip
    command = (
        f"search bench cost-model --configs {configs} --seed {seed}"
        + ("" if zigzag else " --no-zigzag")
        + (f" --reference-configs {reference_configs}" if reference_configs != 10 else "")
        + (f" --metric {metric}" if metric != "edp" else "")
        + "".join(f" --only {p}" for p in (only or ()))
        + "".join(f" --reference-network {n}" for n in (reference_networks or ()))
        + (f" --out {out}" if out != Path("results/cost_model_validation.md") else "")
    )
    text = render_markdown(res, command)
    atomic_write(out, text)
    atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
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
    mapper: MapperOpt = SEARCH_MAPPER,
    bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
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

    with ProgressView(as_json) as view:
        res = guard(run_evaluator_bench)(
            space, samples, seed, networks=networks, pairs=pairs, mapper=mapper,
            bits_aware=bits_aware, progress=view,
        )  # fmt: skip
    command = (
        f"search bench evaluator --space {space} --samples {samples} --seed {seed}"
        + (f" --pairs {pairs}" if networks else " --no-networks")
        + f" --mapper {mapper}"
        + (  # explicit: the labels do not hang on a default
            " --bits-aware" if bits_aware else " --no-bits-aware"
        )
        + ("" if out == Path("results/evaluator.md") else f" --out {out}")
    )
    text = render_evaluator_markdown(res, command)
    atomic_write(out, text)
    typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)


@bench_app.command("search")
@guard
def bench_search(
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per strategy and setting.")] = 10,
    steps: Annotated[int, typer.Option(min=2, help="Search steps per run.")] = 300,
    cifar10: Annotated[
        Path | None,
        typer.Option(
            help="CIFAR-10 data for the not-digits check (default: the shared "
            "10k test-set .npz when present; none skips it)."
        ),  # fmt: skip
    ] = None,
    out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path("results/search.md"),
    resume: Annotated[
        bool,
        typer.Option(help="Reuse the finished runs of an interrupted bench (OUT.partial.jsonl)."),
    ] = False,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Safety net: start no new run after this many minutes; the "
            "table then shows what finished, marked partial (--resume completes it).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Feasibility (raw argmax and final) and accuracy of HDX vs the soft penalty at three
    lambdas, over seeds, for fps 30, a tight fps and fps + area; and the default run's time.
    Each finished run is journalled to OUT.partial.jsonl; ``--resume`` picks up after a crash
    or a --max-minutes stop."""
    from coexplore.search.bench_search import render_search_markdown, run_search_bench

    with ProgressView(as_json, lines=("bench",)) as view:
        if cifar10 is None:
            from coexplore.quant.data import default_data_dir

            found = default_data_dir() / "cifar10_test_jpegq75_10k.npz"
            cifar10 = found if found.is_file() else None
        journal = out.with_suffix(".partial.jsonl")
        res = run_search_bench(seeds=seeds, steps=steps, progress=view,
                               cifar10=None if cifar10 is None else str(cifar10),
                               journal=journal, resume=resume,
                               max_seconds=max_minutes and max_minutes * 60)  # fmt: skip
    command = f"search bench search --seeds {seeds}" + (f" --steps {steps}" if steps != 300 else "")
    text = render_search_markdown(res, command)
    atomic_write(out, text)
    atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
    if res["partial"]:  # kept: --resume runs only what is missing
        typer.echo(
            f"partial: {res['partial']['done']} of {res['partial']['planned']} runs; "
            f"the journal {journal} stays for --resume",
            err=True,
        )
    else:
        journal.unlink(missing_ok=True)
    typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)


@bench_app.command("api")
@guard
def bench_api(
    clients: Annotated[int, typer.Option(min=1, max=2000, help="Concurrent clients.")] = 200,
    requests_per_client: Annotated[int, typer.Option(min=1)] = 25,
    jobs: Annotated[int, typer.Option(min=1, help="Short jobs for the throughput run.")] = 12,
    think: Annotated[
        float, typer.Option(min=0.0, help="Seconds between one client's status polls.")
    ] = 1.0,
    out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path("results/api.md"),
    as_json: JsonOpt = False,
) -> None:
    """Status latency (p50/p99) at N concurrent clients and jobs per minute with 2 workers,
    against a real server on this machine."""
    from coexplore.api.bench_api import render_api_markdown, run_api_bench

    with ProgressView(as_json, lines=("bench",)) as view:
        res = run_api_bench(clients, requests_per_client, jobs, think, progress=view)
    command = (
        "search bench api"
        + (f" --clients {clients}" if clients != 200 else "")
        + (f" --think {think:g}" if think != 1.0 else "")
    )
    text = render_api_markdown(res, command)
    atomic_write(out, text)
    atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2) + "\n")
    typer.echo(json.dumps(res, indent=2) if as_json else text)


@evaluator_app.command("train")
@guard
def evaluator_train(
    space: Annotated[str, typer.Option(help="Joint search space (see `search spaces`).")] = (
        "mbv2-cifar"
    ),
    objective: Annotated[
        str, typer.Option(help="Generator objective: edp, latency, energy, area or edap.")
    ] = "edp",
    train_steps: Annotated[
        int, typer.Option(min=1, help="Evaluator optimiser steps (~270 s on 2 cores).")
    ] = 9600,
    generator_steps: Annotated[
        int, typer.Option(min=1, help="Generator optimiser steps (~90 s on 2 cores).")
    ] = 2200,
    max_seconds: Annotated[
        float, typer.Option(min=0, help="Wall-clock cap on each training (0 = none).")
    ] = 0.0,
    samples: Annotated[int, typer.Option(min=100, help="Labelled training designs.")] = 200_000,
    fps: FpsOpt = None,
    latency_ms: LatencyOpt = None,
    area_mm2: AreaOpt = None,
    energy_uj: EnergyOpt = None,
    power_mw: PowerOpt = None,
    mapper: MapperOpt = SEARCH_MAPPER,
    bits_aware: BitsAwareOpt = SEARCH_BITS_AWARE,
    seed: Annotated[int, typer.Option(min=0, help="Seed.")] = 0,
    out: OutOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
) -> None:
    """Train the evaluator on cost-model labels and the generator through it (the bounds
    train the generator's hinge penalties); save both with their held-out metrics."""
    from coexplore.search import EvaluatorSpec

    spec = EvaluatorSpec(
        space=space,
        objective=objective,
        constraints=constraints(fps, latency_ms, area_mm2, energy_uj, power_mw),
        samples=samples,
        train_steps=train_steps,
        generator_steps=generator_steps,
        max_seconds=max_seconds,
        mapper=mapper,
        bits_aware=bits_aware,
        seed=seed,
    )
    done = execute(spec, out, as_json)
    if done is None:
        return
    res, folder = done
    m, g = res.result.evaluator, res.result.generator
    typer.echo(
        f"evaluator: held-out MAPE latency {m['mape']['latency']:.2%}, energy "
        f"{m['mape']['energy']:.2%}, area {m['mape']['area']:.2%}; Spearman "
        f"{m['spearman']['latency']:.4f}/{m['spearman']['energy']:.4f}/"
        f"{m['spearman']['area']:.4f}; {m['steps']:,} steps in {m['train_seconds']:.0f} s; "
        f"{m['predictions_per_s']:,.0f} predictions/s"
    )
    typer.echo(f"generator: {g['steps']:,} steps ({objective}). Saved to {folder}")


_quant_cli.register(app, bench_app)
_service_cli.register(app)
_compare_cli.register(app, bench_app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
