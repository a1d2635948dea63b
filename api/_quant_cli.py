"""``search quantize`` and ``search bench zsq``: the zero-shot quantization commands.

Kept apart from cli.py (which registers them) so that the CLI module stays readable; torch
is imported only when one of these commands runs.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from coexplore.errors import ConfigError

__all__ = ["register"]


def _resolve_model(spec: str, weights: Path | None, num_classes: int | None) -> tuple[Any, str]:
    """A registered name (``resnet20``) with --weights, or ``package.module:factory`` for any
    model of the user's own (its factory builds it; --weights, if given, is loaded into it)."""
    from coexplore.quant.models import MODELS, load_model, load_state_dict_file

    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"--model {spec!r}: cannot import {attr!r} from {mod_name!r} ({exc}); give a "
                f"built-in name ({', '.join(MODELS.names())}) or module:factory."
            ) from None
        model = factory()
        if weights is not None:
            state = load_state_dict_file(weights)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise ConfigError(
                    f"weights {str(weights)!r} do not fit {spec}: {str(exc).splitlines()[0]}"
                ) from None
        return model.eval(), spec
    MODELS.get(spec)  # unknown names fail here with the list of valid ones
    if weights is None:
        raise ConfigError(
            f"--weights is required for --model {spec}: zero-shot quantization needs a "
            "trained model (e.g. the akamaster checkpoints in shared/data/weights)."
        )
    return load_model(spec, weights, num_classes), spec


class _Phases:
    """Progress of the phases: a rich bar on a terminal, timestamped lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.t0, self.bar, self.tasks = quiet, time.perf_counter(), None, {}

    def __enter__(self) -> _Phases:
        if not self.quiet and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), transient=True,
            )  # fmt: skip
            self.bar.__enter__()
        return self

    def __call__(self, phase: str, done: int, total: int, message: str) -> None:
        if self.quiet:
            return
        if self.bar is None:
            typer.echo(f"[{time.perf_counter() - self.t0:6.0f} s] {phase}: {message}", err=True)
            return
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(phase, total=total)
        self.bar.update(self.tasks[phase], completed=done, total=total, description=message[:40])

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _quantize(
    model_spec: str,
    weights: Path | None,
    bits: int,
    bits_map: Path | None,
    method: str | None,
    protocol: str,
    eval_data: Path | None,
    device: str,
    images: int | None,
    synthetic_steps: int | None,
    recon_iters: int | None,
    out: Path,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    from coexplore.api.cli import _write_run

    # every check on user input happens before any long work
    if not 2 <= bits <= 8:
        raise ConfigError(f"--bits must be from 2 to 8, but got {bits}. Try --bits 4.")
    protocol = protocol.upper()
    if protocol not in ("A", "B"):
        raise ConfigError(f"--protocol must be A or B, but got {protocol!r}.")
    import torch
    from coexplore.quant import BitMap, get_method, load_test_set, quantize, top1
    from coexplore.quant.bitmap import has_batchnorm
    from coexplore.quant.evaluate import describe_device, peak_memory_mb, resolve_device
    from coexplore.quant.export import export_quantized
    from coexplore.quant.models import IMAGENET_MEAN, IMAGENET_STD
    from coexplore.quant.pipeline import DEFAULT_METHOD

    method = method or DEFAULT_METHOD
    overrides: dict[str, Any] = {}
    if images is not None:
        overrides["synthetic__n_images"] = images
    if synthetic_steps is not None:
        overrides["synthetic__steps"] = synthetic_steps
    m = get_method(method)
    if recon_iters is not None and m.recon is not None:
        overrides["recon__iters"] = recon_iters
    m = get_method(method, **overrides)
    model, name = _resolve_model(model_spec, weights, None)
    if not has_batchnorm(model):
        raise ConfigError(
            f"model {name!r} has no BatchNorm layer: zero-shot quantization builds its data "
            "from BN statistics. Quantize a model with BatchNorm layers."
        )
    size = m.synthetic.image_size
    with torch.no_grad():
        classes = int(model(torch.zeros(1, 3, size, size)).shape[1])
    bitmap = (
        BitMap.from_json(bits_map, model, bits, protocol)
        if bits_map
        else BitMap.uniform(model, bits, protocol)
    )
    test = None
    if eval_data is not None:
        test = load_test_set(eval_data, size)
        if int(test.labels.max()) >= classes:
            raise ConfigError(
                f"test labels go up to {int(test.labels.max())} but the model has {classes} "
                "classes; pass the test set the model was trained for."
            )
    dev = resolve_device(device)
    with _Phases(as_json) as phases:
        result = quantize(model, bitmap, m, dev, cache_dir=cache_dir, progress=phases)
        report: dict[str, Any] = {
            "model": name,
            "method": m.to_dict(),
            "protocol": protocol,
            "bits": bitmap.label(),
            "device": describe_device(dev),
            "seconds": result.seconds,
            "synthetic_images": len(result.synthetic),
            "synthetic_from_cache": result.synthetic.from_cache,
            "layers": result.layer_table(),
        }
        if test is not None:
            phases("evaluate", 0, 2, "evaluating FP and quantized")
            t = time.perf_counter()
            x, y = test.tensors(IMAGENET_MEAN, IMAGENET_STD)
            fp, q = top1(model.to(dev), x, y, dev), top1(result.model, x, y, dev)
            report["seconds"]["evaluate"] = time.perf_counter() - t
            report.update(
                eval_data=str(eval_data), eval_images=len(test), eval_lossless=test.lossless,
                fp_top1=fp, quant_top1=q, drop=fp - q,
            )  # fmt: skip
    report["peak_memory_mb"] = peak_memory_mb(dev)

    def fill(folder: Path) -> None:
        export_quantized(result.model, folder / "quantized.pt", name, classes, bitmap, size,
                         extra={"method": m.name})  # fmt: skip

    folder = _write_run(
        out,
        f"quant-{name.replace(':', '-').replace('.', '-')}-{bitmap.label()}-{protocol}",
        {
            "report.json": json.dumps(report, indent=2, default=float) + "\n",
            "bits.json": json.dumps(bitmap.to_dict(), indent=2) + "\n",
        },
        fill,
    )
    report["run_folder"] = str(folder)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=float))
        return
    typer.echo(
        f"{name} {bitmap.label()} protocol {protocol}, method {m.name}, on {report['device']}"
    )
    if test is not None:
        note = "" if test.lossless else " (lossy JPEG set: use the drop, not the absolute)"
        typer.echo(
            f"top-1 on {len(test):,} test images{note}: FP {report['fp_top1']:.2f} %, "
            f"quantized {report['quant_top1']:.2f} %, drop {report['drop']:.2f} points"
        )
    secs = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items() if v >= 0.5)
    typer.echo(f"time: {secs}; peak memory {report['peak_memory_mb']:.0f} MB")
    typer.echo(f"saved to {folder}")


def _bench_zsq(
    weights: Path | None,
    data_dir: Path | None,
    device: str,
    images: int,
    synthetic_steps: int,
    recon_iters: int,
    kd_steps: int,
    ablation: bool,
    headline: bool,
    seeds: str,
    out: Path,
    as_json: bool,
) -> None:
    seed_list = _parse_seeds(seeds)
    if not (ablation or headline):
        raise ConfigError("--no-headline with --no-ablation leaves nothing to measure.")
    from coexplore.quant.bench import ZSQBudget, render_zsq_markdown, run_zsq_bench
    from coexplore.quant.data import default_data_dir
    from coexplore.quant.evaluate import resolve_device

    data_dir = data_dir or default_data_dir()
    weights = weights or data_dir / "weights" / "akamaster_resnet20-12fca82f.th"
    t0 = time.perf_counter()

    def say(message: str) -> None:
        if not as_json:
            typer.echo(f"[{time.perf_counter() - t0:6.0f} s] {message}", err=True)

    budget = ZSQBudget(images, synthetic_steps, recon_iters, kd_steps)
    partial = out.with_suffix(".partial.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def checkpoint(res: dict) -> None:  # what a run cut short keeps
        tmp = partial.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=2, default=float) + "\n")
        tmp.replace(partial)

    say(f"rows are saved as they finish to {partial}")
    res = run_zsq_bench(
        weights, data_dir, resolve_device(device), budget, ablation, say=say,
        headline=headline, seeds=seed_list, checkpoint=checkpoint,
    )  # fmt: skip
    command = (
        f"search bench zsq --images {images} --synthetic-steps {synthetic_steps} "
        f"--recon-iters {recon_iters} --kd-steps {kd_steps}"
        + ("" if ablation else " --no-ablation")
        + ("" if headline else " --no-headline")
        + (f" --seeds {','.join(map(str, seed_list))}" if seed_list != [0] else "")
        + (f" --device {device}" if device != "auto" else "")
        + (f" --out {out}" if out != Path("results/zsq.md") else "")
    )
    text = render_zsq_markdown(res, command)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    partial.unlink(missing_ok=True)
    typer.echo(json.dumps(res, indent=2, default=float) if as_json else text)


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(
            f"--seeds must be distinct non-negative integers separated by commas, e.g. 0,1,2; "
            f"got {text!r}."
        )
    return seeds


def register(app: typer.Typer, bench_app: typer.Typer, guard: Any) -> None:
    """Adds the commands to the CLI."""

    @app.command()
    def quantize(
        model: Annotated[
            str, typer.Option(help="resnet20/32/44/56, mobilenetv2, or module:factory.")
        ] = "resnet20",
        weights: Annotated[
            Path | None, typer.Option(help="Trained weights (a state dict; loaded safely).")
        ] = None,
        bits: Annotated[int, typer.Option(help="Weight and activation bits, 2-8.")] = 4,
        bits_map: Annotated[
            Path | None, typer.Option(help="JSON {layer: bits | [w, a]} for mixed precision.")
        ] = None,
        method: Annotated[
            str | None,
            typer.Option(help="Recipe (default: the bench's best; see `search quantize-methods`)."),
        ] = None,
        protocol: Annotated[
            str, typer.Option(help="A: all layers at --bits. B: first/last layers at 8 bits.")
        ] = "A",
        eval_data: Annotated[
            Path | None, typer.Option(help="Test data (.npz or CIFAR python batch) to score.")
        ] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        images: Annotated[int | None, typer.Option(min=1, help="Synthetic images.")] = None,
        synthetic_steps: Annotated[
            int | None, typer.Option(min=1, help="Optimisation steps per synthetic batch.")
        ] = None,
        recon_iters: Annotated[
            int | None, typer.Option(min=0, help="Reconstruction iterations per block.")
        ] = None,
        out: Annotated[Path, typer.Option(help="Folder for run folders.")] = Path("results/runs"),
        cache_dir: Annotated[
            Path | None, typer.Option(help="Synthetic-set cache (default ~/.cache/coexplore).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Quantize a trained model without training data; evaluate it when test data is
        given; save the integer model, its bits and a report in a run folder.

        Example: search quantize --model resnet20 --weights resnet20.th --bits 4
        --eval-data cifar10_test_first1017.npz
        """
        guard(_quantize)(
            model, weights, bits, bits_map, method, protocol, eval_data, device, images,
            synthetic_steps, recon_iters, out, cache_dir, as_json,
        )  # fmt: skip

    @bench_app.command("zsq")
    def bench_zsq(
        weights: Annotated[
            Path | None, typer.Option(help="ResNet-20 weights (default: the shared akamaster).")
        ] = None,
        data_dir: Annotated[
            Path | None,
            typer.Option(help="Folder with the CIFAR-10 test .npz files (default ../shared/data)."),
        ] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        images: Annotated[int, typer.Option(min=1, help="Synthetic images per set.")] = 512,
        synthetic_steps: Annotated[int, typer.Option(min=1, help="Steps per batch.")] = 200,
        recon_iters: Annotated[int, typer.Option(min=0, help="Iterations per block.")] = 1000,
        kd_steps: Annotated[int, typer.Option(min=0, help="Distillation steps.")] = 200,
        ablation: Annotated[bool, typer.Option(help="Also run the ablation table.")] = True,
        headline: Annotated[
            bool, typer.Option(help="Run the target configurations (off: ablation only).")
        ] = True,
        seeds: Annotated[
            str, typer.Option(help="Ablation seeds, comma-separated (e.g. 0,1,2): mean ± sd.")
        ] = "0",
        out: Annotated[Path, typer.Option(help="Markdown table to write.")] = Path(
            "results/zsq.md"
        ),
        as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    ) -> None:
        """ResNet-20 W8A8/W4A4/W3A3 (protocol A), W4A4 protocol B, a mixed-precision map and
        an ablation, beside the papers' anchors; writes results/zsq.md."""
        guard(_bench_zsq)(
            weights, data_dir, device, images, synthetic_steps, recon_iters, kd_steps,
            ablation, headline, seeds, out, as_json,
        )  # fmt: skip

    @app.command("quantize-methods")
    def quantize_methods() -> None:
        """List the quantization recipes."""
        from coexplore.quant import METHODS
        from coexplore.quant.pipeline import DEFAULT_METHOD

        width = max(map(len, METHODS.names()))
        for name in METHODS.names():
            mark = " (default)" if name == DEFAULT_METHOD else ""
            typer.echo(f"{name:{width}s}  {METHODS.get(name).description}{mark}")
