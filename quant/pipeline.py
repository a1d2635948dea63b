"""Zero-shot quantization of one model: synthetic data -> fold BN -> fake-quantize ->
calibrate -> reconstruct -> (distil). Methods are named combinations of these parts.

Example:
    >>> from coexplore.quant import BitMap, quantize, get_method, load_model
    >>> teacher = load_model("resnet20", "resnet20.th")
    >>> result = quantize(teacher, BitMap.uniform(teacher, 4), get_method("recon"))
    >>> result.model  # a fake-quantized copy; ``teacher`` is unchanged
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import torch
from torch import nn

from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn
from coexplore.quant.bitmap import (
    BitMap,
    fold_batchnorm,
    has_batchnorm,
    quant_layers,
    quantize_model,
)
from coexplore.quant.kd import KDConfig, distill
from coexplore.quant.reconstruct import ReconConfig, calibrate_activations, reconstruct
from coexplore.quant.synthetic import SyntheticConfig, SyntheticSet, load_or_make_synthetic
from coexplore.registry import Registry

__all__ = ["Method", "METHODS", "DEFAULT_METHOD", "get_method", "QuantResult", "quantize"]

#: The recipe ``search quantize`` uses unless told otherwise (chosen by the bench's ablation).
DEFAULT_METHOD = "recon-no-boundary"

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Method:
    """A named recipe: how the synthetic set is made and which calibration steps run."""

    name: str
    synthetic: SyntheticConfig
    recon: ReconConfig | None
    kd: KDConfig | None
    description: str

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "synthetic": self.synthetic.to_dict(),
            "recon": dataclasses.asdict(self.recon) if self.recon else None,
            "kd": dataclasses.asdict(self.kd) if self.kd else None,
        }


METHODS: Registry[Method] = Registry("quantization method")


def _register(method: Method) -> None:
    METHODS.register(method.name, method)


_PLAIN = SyntheticConfig(lpf_cutoff=None, boundary_fraction=0.0)
_register(
    Method(
        "calib",
        _PLAIN,
        None,
        None,
        "ZeroQ-style: BN-matched pixels, MSE ranges, nearest rounding; no training",
    )
)
_register(
    Method(
        "recon",
        SyntheticConfig(),
        ReconConfig(),
        None,
        "Genie/BRECQ-style block reconstruction (AdaRound + LSQ + QDrop) on "
        "BN-matched pixels with SynQ's low-pass filter and boundary samples",
    )
)
_register(
    Method(
        "recon-no-boundary",
        SyntheticConfig(boundary_fraction=0.0),
        ReconConfig(),
        None,
        "recon without boundary samples: LPF-filtered BN-matched pixels only (best mean "
        "drop over 3 seeds in results/zsq_ablation.md)",
    )
)
_register(
    Method(
        "recon-kd",
        SyntheticConfig(),
        ReconConfig(),
        KDConfig(),
        "recon, then KL-only distillation with AIT's gradient inundation",
    )
)
_register(
    Method(
        "kd",
        SyntheticConfig(),
        None,
        KDConfig(),
        "GDFQ/AIT/SynQ-style: calibration then distillation only",
    )
)
_DISTILL = KDConfig(inundation=None)  # KL-only KD: the base of the SynQ variants below
_register(Method("recon-distill", SyntheticConfig(), ReconConfig(), _DISTILL,
                 "recon, then KL-only distillation without inundation (the ablation found "
                 "inundation harmful after reconstruction)"))  # fmt: skip
_register(Method("recon-distill-cam", SyntheticConfig(), ReconConfig(),
                 dataclasses.replace(_DISTILL, gradcam_weight=100.0),
                 "recon-distill plus SynQ's Grad-CAM alignment on the last conv"))  # fmt: skip
_register(Method("recon-distill-soft", SyntheticConfig(), ReconConfig(),
                 dataclasses.replace(_DISTILL, soft_labels=True),
                 "recon-distill plus SynQ's difficulty-aware soft labels"))  # fmt: skip
_register(Method("recon-synq", SyntheticConfig(), ReconConfig(),
                 dataclasses.replace(_DISTILL, gradcam_weight=100.0, soft_labels=True),
                 "recon-distill plus both of SynQ's terms: Grad-CAM alignment and soft "
                 "labels"))  # fmt: skip
_register(Method("genie-recon", dataclasses.replace(SyntheticConfig(), method="genie"),
                 ReconConfig(), None, "recon on a Genie-style generator's images"))  # fmt: skip


def get_method(name: str, **overrides: object) -> Method:
    """A registered method, with fields of its parts replaced by ``overrides`` given as
    ``synthetic__field=value``, ``recon__field=value`` or ``kd__field=value``."""
    m = METHODS.get(name)
    parts = {"synthetic": m.synthetic, "recon": m.recon, "kd": m.kd}
    for key, value in overrides.items():
        part, _, field = key.partition("__")
        if part not in parts or not field:
            raise ConfigError(f"override {key!r} must look like synthetic__steps=100.")
        if parts[part] is None:
            raise ConfigError(f"method {name!r} has no {part} step to override ({key}).")
        parts[part] = dataclasses.replace(parts[part], **{field: value})
    return dataclasses.replace(m, **parts)


@dataclasses.dataclass
class QuantResult:
    """The quantized copy and what happened making it."""

    model: nn.Module
    bitmap: BitMap
    method: Method
    synthetic: SyntheticSet
    seconds: dict[str, float]
    recon_report: list[dict]
    kd_report: dict

    def layer_table(self) -> list[dict]:
        """Per quantized layer: name, kind, weight bits, input bits, weight count."""
        rows = []
        for name, m in quant_layers(self.model).items():
            rows.append({
                "layer": name,
                "kind": type(m).__name__.removeprefix("Quant"),
                "w_bits": m.w_bits,
                "a_bits": m.a_bits,
                "weights": int(m.weight.numel()),
            })  # fmt: skip
        return rows


def _example(model: nn.Module, size: int, device: torch.device) -> torch.Tensor:
    return torch.zeros(2, 3, size, size, device=device)


def quantize(
    model: nn.Module,
    bitmap: BitMap,
    method: Method,
    device: str | torch.device = "cpu",
    synthetic: SyntheticSet | None = None,
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> QuantResult:
    """Quantizes a copy of ``model`` zero-shot with ``bitmap`` and ``method``.

    Args:
        model: a trained model with BatchNorm layers (left unchanged).
        bitmap: weight/input bits per layer (see :class:`BitMap`).
        method: the recipe (see :data:`METHODS`).
        device: ``cpu``, ``cuda`` or a torch device.
        synthetic: a synthetic set to reuse; by default made once per teacher and method
            configuration and cached under ``cache_dir``.
        progress: receives a :class:`~coexplore.progress.ProgressEvent` per step of each
            phase (``synthetic``, ``reconstruct``, ``distill``).

    Raises:
        ConfigError: the model has no BatchNorm layer.
    """
    if not has_batchnorm(model):
        raise ConfigError(
            "the model has no BatchNorm layer; zero-shot quantization matches synthetic data "
            "to BN statistics. Use a model with BN (or quantize it with real calibration data)."
        )
    device = torch.device(device)
    teacher = _frozen_copy(model).to(device)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    if synthetic is None:
        synthetic = load_or_make_synthetic(teacher, method.synthetic, device, cache_dir, progress)
    seconds["synthetic"] = synthetic.seconds if not synthetic.from_cache else 0.0
    seconds["synthetic_load"] = time.perf_counter() - t
    data = synthetic.images
    t = time.perf_counter()
    size = data.shape[-1]
    folded = fold_batchnorm(teacher, _example(teacher, size, device)).to(device)
    qmodel = quantize_model(folded, bitmap).to(device)
    if method.recon is None:  # reconstruction calibrates each unit on its own inputs
        calibrate_activations(qmodel, data, device)
    seconds["calibrate"] = time.perf_counter() - t
    recon_report: list[dict] = []
    if method.recon is not None:
        t = time.perf_counter()
        recon_report = reconstruct(
            folded, qmodel, data, method.recon, device, progress,
            seed=method.synthetic.seed,
        )  # fmt: skip
        seconds["reconstruct"] = time.perf_counter() - t
    kd_report: dict = {}
    if method.kd is not None:
        t = time.perf_counter()
        kd_report = distill(teacher, qmodel, synthetic, method.kd, device, progress)
        seconds["distill"] = time.perf_counter() - t
    qmodel.eval()
    return QuantResult(qmodel, bitmap, method, synthetic, seconds, recon_report, kd_report)


def _frozen_copy(model: nn.Module) -> nn.Module:
    import copy

    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m
