"""The ``quantize`` job: a :class:`QuantSpec` in, a :class:`~coexplore.runs.RunResult` out.

Every check on the spec happens before any long work: the model is resolved and its weights
loaded, the bits map and the test data are checked, then synthetic data is made (or read
from the cache), the model quantized, evaluated when test data is given, and the integer
model exported as the run's artefact. The CLI and the REST service both call
:func:`run_quantize`.

Example:
    >>> from coexplore.quant import QuantSpec, run_quantize
    >>> res = run_quantize(QuantSpec(weights="resnet20.th", bits=4, eval_data="test.npz"))
    >>> res.result.quant_top1
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.quant.bitmap import BitMap, has_batchnorm
from coexplore.quant.data import load_test_set
from coexplore.quant.evaluate import describe_device, peak_memory_mb, resolve_device, top1
from coexplore.quant.export import export_quantized
from coexplore.quant.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODELS,
    load_model,
    load_state_dict_file,
)
from coexplore.quant.pipeline import DEFAULT_METHOD, get_method, quantize
from coexplore.quant.spec import QuantSpec
from coexplore.runs import RunResult

__all__ = ["QuantReport", "run_quantize", "resolve_model"]


@dataclasses.dataclass(frozen=True)
class QuantReport:
    """What one quantization run measured (``result.json`` of its run folder)."""

    model: str
    method: dict[str, Any]
    protocol: str
    bits: str
    bits_map: dict[str, list[int]]
    device: str
    seconds: dict[str, float]
    synthetic_images: int
    synthetic_from_cache: bool
    layers: list[dict[str, Any]]
    peak_memory_mb: float
    num_classes: int
    eval_data: str | None = None
    eval_images: int | None = None
    eval_lossless: bool | None = None
    fp_top1: float | None = None
    quant_top1: float | None = None

    @property
    def drop(self) -> float | None:
        """FP top-1 minus quantized top-1, in points (``None`` without test data)."""
        if self.fp_top1 is None or self.quant_top1 is None:
            return None
        return self.fp_top1 - self.quant_top1

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["drop"] = self.drop
        return out


def resolve_model(spec: str, weights: str | Path | None) -> nn.Module:
    """A registered name (``resnet20``) with weights, or ``package.module:factory`` for any
    model of the user's own (the factory builds it; weights, if given, are loaded into it).

    Raises:
        ConfigError: unknown names, a factory that cannot be called without arguments or
            does not return a ``torch.nn.Module``, weights that are missing or do not fit.
    """
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"model {spec!r}: cannot import {attr!r} from {mod_name!r} ({exc}); give a "
                f"built-in name ({', '.join(MODELS.names())}) or package.module:factory."
            ) from None
        if not callable(factory):
            raise ConfigError(
                f"model {spec!r}: {attr!r} is a {type(factory).__name__}, not a factory; give "
                "package.module:factory where factory() returns a torch.nn.Module."
            )
        try:
            model = factory()
        except TypeError as exc:
            raise ConfigError(
                f"model {spec!r}: the factory must build the model without arguments, but "
                f"{attr}() failed: {exc}. Wrap it in a function that passes them."
            ) from None
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model {spec!r}: {attr}() returned a {type(model).__name__}, not a "
                "torch.nn.Module; the factory must return the model to quantize."
            )
        if weights is not None:
            state = load_state_dict_file(weights)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise ConfigError(
                    f"weights {str(weights)!r} do not fit {spec}: {str(exc).splitlines()[0]}"
                ) from None
        return model.eval()
    MODELS.get(spec)  # unknown names fail here with the list of valid ones
    if weights is None:
        raise ConfigError(
            f"weights are required for model {spec}: zero-shot quantization needs a trained "
            "model (e.g. the akamaster checkpoints in shared/data/weights); pass --weights."
        )
    return load_model(spec, weights, None)


def run_quantize(spec: QuantSpec, progress: ProgressFn | None = None) -> RunResult:
    """Runs a quantize job.

    Args:
        spec: What to quantize, how, and what to evaluate it on.
        progress: Receives the pipeline's phases, then ``evaluate``.

    Returns:
        A run result whose ``result`` is a :class:`QuantReport`; its artefacts are
        ``quantized.pt`` (integer weights, scales, bits) and ``bits.json``.

    Raises:
        ConfigError: any bad input, before long work starts.
    """
    overrides: dict[str, Any] = {}
    if spec.images is not None:
        overrides["synthetic__n_images"] = spec.images
    if spec.synthetic_steps is not None:
        overrides["synthetic__steps"] = spec.synthetic_steps
    method = get_method(spec.method or DEFAULT_METHOD)
    if spec.recon_iters is not None and method.recon is not None:
        overrides["recon__iters"] = spec.recon_iters
    method = get_method(method.name, **overrides)
    model = resolve_model(spec.model, spec.weights)
    if not has_batchnorm(model):
        raise ConfigError(
            f"model {spec.model!r} has no BatchNorm layer: zero-shot quantization builds its "
            "data from BN statistics. Quantize a model with BatchNorm layers."
        )
    size = method.synthetic.image_size
    with torch.no_grad():
        classes = int(model(torch.zeros(1, 3, size, size)).shape[1])
    bitmap = (
        BitMap.from_dict(spec.bits_map, model, spec.bits, spec.protocol)
        if spec.bits_map
        else BitMap.uniform(model, spec.bits, spec.protocol)
    )
    test = None
    if spec.eval_data is not None:
        test = load_test_set(spec.eval_data, size)
        if int(test.labels.max()) >= classes:
            raise ConfigError(
                f"test labels go up to {int(test.labels.max())} but the model has {classes} "
                "classes; pass the test set the model was trained for."
            )
    dev = resolve_device(spec.device)
    qres = quantize(model, bitmap, method, dev, cache_dir=spec.cache_dir, progress=progress)
    seconds = dict(qres.seconds)
    fp = q = None
    if test is not None:
        emit(progress, "evaluate", 0, 2, "evaluating FP and quantized")
        t = time.perf_counter()
        x, y = test.tensors(IMAGENET_MEAN, IMAGENET_STD)
        fp = top1(model.to(dev), x, y, dev)
        emit(progress, "evaluate", 1, 2, "evaluating quantized", fp_top1=fp)
        q = top1(qres.model, x, y, dev)
        emit(progress, "evaluate", 2, 2, "evaluated", fp_top1=fp, quant_top1=q)
        seconds["evaluate"] = time.perf_counter() - t
    report = QuantReport(
        model=spec.model,
        method=method.to_dict(),
        protocol=spec.protocol,
        bits=bitmap.label(),
        bits_map=bitmap.to_dict(),
        device=describe_device(dev),
        seconds=seconds,
        synthetic_images=len(qres.synthetic),
        synthetic_from_cache=qres.synthetic.from_cache,
        layers=qres.layer_table(),
        peak_memory_mb=peak_memory_mb(dev),
        num_classes=classes,
        eval_data=spec.eval_data,
        eval_images=None if test is None else len(test),
        eval_lossless=None if test is None else test.lossless,
        fp_top1=fp,
        quant_top1=q,
    )

    def write_model(path: Path) -> None:
        export_quantized(qres.model, path, spec.model, classes, bitmap, size,
                         extra={"method": method.name})  # fmt: skip

    metrics: dict[str, Any] = {"bits": report.bits, "method": method.name}
    if q is not None:
        metrics.update(fp_top1=fp, quant_top1=q, drop=report.drop)
    return RunResult(
        spec=spec,
        result=report,
        metrics=metrics,
        timings_s=seconds,
        artefacts={
            "bits.json": json.dumps(bitmap.to_dict(), indent=2) + "\n",
            "quantized.pt": write_model,
        },
    )
