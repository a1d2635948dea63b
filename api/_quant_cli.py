"""``search quantize`` and ``search bench zsq``: the zero-shot quantization commands.

Kept apart from cli.py (which registers them) so that the CLI module stays readable; torch
is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from coexplore.api._common import ProgressView, execute, guard
from coexplore.errors import ConfigError
from coexplore.runs import atomic_write

__all__ = ["register"]


def _quantize(
    model: str,
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
    from coexplore.quant import QuantSpec

    spec = QuantSpec(
        model=model,
        weights=None if weights is None else str(weights),
        bits=bits,
        bits_map=None if bits_map is None else _read_bits_map(bits_map),
        method=method,
        protocol=protocol,
        eval_data=None if eval_data is None else str(eval_data),
        device=device,
        images=images,
        synthetic_steps=synthetic_steps,
        recon_iters=recon_iters,
        cache_dir=None if cache_dir is None else str(cache_dir),
    )
    done = execute(spec, out, as_json)
    if done is None:
        return
    res, folder = done
    report = res.result
    typer.echo(
        f"{report.model} {report.bits} protocol {report.protocol}, method "
        f"{report.method['name']}, on {report.device}"
    )
    if report.quant_top1 is not None:
        note = "" if report.eval_lossless else " (lossy JPEG set: use the drop, not the absolute)"
        typer.echo(
            f"top-1 on {report.eval_images:,} test images{note}: FP {report.fp_top1:.2f} %, "
            f"quantized {report.quant_top1:.2f} %, drop {report.drop:.2f} points"
        )
    secs = ", ".join(f"{k} {v:.0f} s" for k, v in report.seconds.items() if v >= 0.5)
    typer.echo(f"time: {secs}; peak memory {report.peak_memory_mb:.0f} MB")
    typer.echo(f"saved to {folder}")


def _read_bits_map(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"bits map {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"bits map {str(path)!r} cannot be read ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"bits map {str(path)!r} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"bits map {str(path)!r} must be a JSON object {{layer: bits}}.")
    return data


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
    budget = ZSQBudget(images, synthetic_steps, recon_iters, kd_steps)
    partial = out.with_suffix(".partial.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def checkpoint(res: dict) -> None:  # what a run cut short keeps
        atomic_write(partial, json.dumps(res, indent=2, default=float) + "\n")

    if not as_json:
        typer.echo(f"rows are saved as they finish to {partial}", err=True)
    with ProgressView(as_json, lines=("bench",)) as view:
        res = run_zsq_bench(
            weights, data_dir, resolve_device(device), budget, ablation, progress=view,
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
    atomic_write(out, text)
    atomic_write(out.with_suffix(".json"), json.dumps(res, indent=2, default=float) + "\n")
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


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
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
