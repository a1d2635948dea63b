"""What every CLI command shares: error handling, the progress view, the constraint flags,
saving a run. The command modules (cli.py, _quant_cli.py) import this, never each other."""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_RUNS = Path("results") / "runs"


def fail(message: str, code: int) -> typer.Exit:
    """Prints ``error: message`` on stderr; returns the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def guard(fn: Any) -> Any:
    """Turns project errors into a message and an exit code (2: bad input, 1: nothing found)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from coexplore.errors import ConfigError, InfeasibleDesignError, UnknownComponentError

        try:
            return fn(*args, **kwargs)
        except InfeasibleDesignError as exc:
            raise fail(str(exc), 1) from None
        except (ConfigError, UnknownComponentError) as exc:
            raise fail(str(exc), 2) from None

    return wrapper


# -- one set of constraint flags for every command -----------------------------------------
FpsOpt = Annotated[float | None, typer.Option("--fps", min=0.001, help="Frames/s, at least.")]
LatencyOpt = Annotated[
    float | None, typer.Option("--latency-ms", min=1e-6, help="Latency per call, at most (ms).")
]
AreaOpt = Annotated[
    float | None, typer.Option("--area-mm2", min=1e-6, help="Chip area, at most (mm^2).")
]
EnergyOpt = Annotated[
    float | None, typer.Option("--energy-uj", min=1e-6, help="Energy per frame, at most (uJ).")
]
PowerOpt = Annotated[
    float | None, typer.Option("--power-mw", min=1e-6, help="Average power, at most (mW).")
]
OutOpt = Annotated[Path, typer.Option(help="Folder for run folders.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NetworkOpt = Annotated[
    str,
    typer.Option(help="Built-in workload (`search networks`), a .json/.yaml layer file (the "
                 "Workload.to_dict format) or an .onnx graph."),  # fmt: skip
]
ModelOpt = Annotated[
    str | None,
    typer.Option(help="A torch model factory, package.module:factory (needs --input-shape); "
                 "replaces --network."),  # fmt: skip
]
InputShapeOpt = Annotated[
    str | None,
    typer.Option(help="Input shape N,C,H,W for --model (N,C,L for 1-D, N,F for MLPs), or "
                 "the concrete shape of an ONNX graph's symbolic input."),  # fmt: skip
]

MapperOpt = Annotated[
    str,
    typer.Option(help="What the cost model's mapper minimises per layer: edp (the "
                 "default), latency, energy (data movement only), or balanced (the least "
                 "energy within 2 % of the fastest tiling; with --no-bits-aware). A co-search "
                 "trains and caches one evaluator per mapper."),  # fmt: skip
]
BitsAwareOpt = Annotated[
    bool,
    typer.Option(help="The mapper also sizes tiles at the layers' own bit-widths (a buffer "
                 "holds twice the 4-bit words); on by default. --no-bits-aware keeps the "
                 "datapath's tiling at every width (faster on low-bit networks; needed with "
                 "--mapper balanced or --nested-buffers)."),  # fmt: skip
]
NestedBuffersOpt = Annotated[
    bool,
    typer.Option(help="Also try the tilings of every halving of the register file and the "
                 "global buffer (a larger buffer then never slows a layer under the latency "
                 "mapper); needs --mapper latency, edp or balanced; several times "
                 "slower."),  # fmt: skip
]


def network_ref(network: str, model: str | None) -> str:
    """--model wins over --network; a --model that is not package.module:factory is exit 2."""
    if model is None:
        return network
    from coexplore.accel_model.user_workloads import is_factory_ref

    if not is_factory_ref(model):
        raise fail(f"--model must be package.module:factory, got {model!r}.", 2)
    return model


def constraints(
    fps: float | None,
    latency_ms: float | None,
    area_mm2: float | None,
    energy_uj: float | None,
    power_mw: float | None,
) -> Any:
    """The :class:`~coexplore.search.Constraints` of the shared flags."""
    from coexplore.search.constraints import Constraints

    return Constraints(
        fps_min=fps,
        latency_ms_max=latency_ms,
        area_mm2_max=area_mm2,
        energy_uj_max=energy_uj,
        power_mw_max=power_mw,
    )


def parse_ints(text: str, flag: str, example: str) -> tuple[int, ...]:
    """``"4,8"`` -> ``(4, 8)``; a bad list is a BadParameter naming ``flag``."""
    return _parse_list(text, flag, example, int, "integers")


def parse_floats(text: str, flag: str, example: str) -> tuple[float, ...]:
    """``"0.005,0.2"`` -> ``(0.005, 0.2)``; a bad list is a BadParameter naming ``flag``."""
    return _parse_list(text, flag, example, float, "numbers")


def _parse_list(text: str, flag: str, example: str, kind: Any, what: str) -> tuple[Any, ...]:
    try:
        return tuple(kind(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{flag} takes {what} separated by commas (e.g. {example}), got {text!r}."
        ) from None


# -- progress -------------------------------------------------------------------------------
class ProgressView:
    """Draws :class:`~coexplore.progress.ProgressEvent`s: one rich bar per phase on a
    terminal, timestamped lines (one per phase change or every 10 s) in logs, nothing when
    quiet (``--json``).

    Events of the phases in ``lines`` are results worth keeping (a bench row): each is
    printed as a line of its own, above the bars.

    Use as a context manager; the instance is the ``progress`` callback.
    """

    def __init__(self, quiet: bool = False, lines: tuple[str, ...] = ()) -> None:
        self.quiet, self.lines = quiet, lines
        self.t0 = time.perf_counter()
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self._last: tuple[str, float] = ("", 0.0)

    def __enter__(self) -> ProgressView:
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.fields[phase]:<12}"), TextColumn("{task.description:<44}"),
                BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.bar.__enter__()
        return self

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        if event.phase in self.lines:
            line = f"[{time.perf_counter() - self.t0:6.0f} s] {event.message}"
            if self.bar is None:
                typer.echo(line, err=True)
            else:
                self.bar.console.print(line, markup=False, highlight=False)
            return
        if self.bar is None:
            now = time.perf_counter() - self.t0
            phase, last = self._last
            if event.phase != phase or now - last >= 10 or event.done == event.total:
                self._last = (event.phase, now)
                total = f"/{event.total:,.0f}" if event.total else ""
                typer.echo(
                    f"[{now:6.0f} s] {event.phase}: {event.done:,.0f}{total} {event.message}",
                    err=True,
                )
            return
        if event.phase not in self.tasks:
            self.tasks[event.phase] = self.bar.add_task(
                event.message[:44], total=event.total, phase=event.phase
            )
        self.bar.update(
            self.tasks[event.phase],
            completed=event.done,
            total=event.total,
            description=event.message[:44],
        )

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def execute(spec: Any, out: Path, as_json: bool) -> tuple[Any, Path] | None:
    """Runs ``spec`` with a progress view, saves its run folder under ``out`` (an unwritable
    ``out`` is a clean exit 2); with ``as_json`` prints the result with the folder and returns
    None (nothing more to print), else ``(result, folder)``."""
    from coexplore.runs import save_run
    from coexplore.search import run

    with ProgressView(as_json) as view:
        res = run(spec, progress=view)
    folder = save_run(res, out)
    if as_json:
        echo_json({**res.result.to_dict(), "run_folder": str(folder)})
        return None
    return res, folder


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=float))
