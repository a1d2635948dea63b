"""The ``quantize`` job spec (torch-free, so specs can be read and validated anywhere)."""

from __future__ import annotations

import dataclasses

from coexplore.config import check_choice, check_range
from coexplore.errors import ConfigError
from coexplore.runs import RunSpec, register_spec

__all__ = ["QuantSpec", "MIN_BITS", "MAX_BITS", "PROTOCOLS"]

#: Bit-widths the quantizers support (weights and activations).
MIN_BITS, MAX_BITS = 2, 8
#: A: every conv/linear layer at the given bits; B: first and last layer kept at 8 bits.
PROTOCOLS = ("A", "B")


@register_spec
@dataclasses.dataclass(frozen=True)
class QuantSpec(RunSpec):
    """Quantize a trained model zero-shot (synthetic data only) and evaluate it.

    Args:
        model: ``resnet20/32/44/56``, ``mobilenetv2`` or ``package.module:factory``.
        weights: Trained weights (a state dict, loaded with ``weights_only=True``); required
            for built-in names.
        bits: Weight and activation bits of every layer a bits map does not name.
        bits_map: ``{layer: bits | [w_bits, a_bits]}`` for mixed precision.
        method: Recipe name (``search quantize-methods``); ``None`` = the default recipe.
        protocol: ``A`` or ``B`` (see :data:`PROTOCOLS`).
        eval_data: Test data (.npz or CIFAR python batches) to score FP and quantized top-1.
        device: ``auto``, ``cpu`` or ``cuda``.
        images, synthetic_steps, recon_iters: Budget overrides of the recipe (``None`` = its
            own).
        cache_dir: Synthetic-set cache (``None`` = ``~/.cache/coexplore``).

    Example:
        >>> QuantSpec(weights="resnet20.th", bits=4).label
        'quant-resnet20-W4-A'
    """

    kind = "quantize"

    model: str = "resnet20"
    weights: str | None = None
    bits: int = 4
    bits_map: dict[str, int | tuple[int, int]] | None = None
    method: str | None = None
    protocol: str = "A"
    eval_data: str | None = None
    device: str = "auto"
    images: int | None = None
    synthetic_steps: int | None = None
    recon_iters: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.bits, bool) or not isinstance(self.bits, int):
            raise ConfigError(f"`bits` must be an integer, but got {self.bits!r}.")
        check_range("bits", self.bits, MIN_BITS, MAX_BITS, "Try --bits 4.")
        object.__setattr__(self, "protocol", str(self.protocol).upper())
        check_choice("protocol", self.protocol, PROTOCOLS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("images", "synthetic_steps"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 1, 10_000_000)
        if self.recon_iters is not None:
            check_range("recon_iters", self.recon_iters, 0, 10_000_000)
        if self.bits_map is not None and not isinstance(self.bits_map, dict):
            raise ConfigError(
                f"`bits_map` is a JSON object {{layer: bits | [w, a]}}, got {self.bits_map!r}."
            )

    @property
    def label(self) -> str:
        name = self.model.replace(":", "-").replace(".", "-")
        return f"quant-{name}-{'mixed' if self.bits_map else f'W{self.bits}'}-{self.protocol}"
