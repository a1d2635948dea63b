"""Uniform affine fake quantizers and the conv/linear layers that use them.

- Weights: per output channel, symmetric (signed grid, zero point 0) or asymmetric
  (unsigned grid with a zero point). The initial range per channel is chosen by a small
  search over clipping ratios that minimises the L2.4 error, as in BRECQ/OMSE: min/max
  ranges waste most of a 2-4 bit grid on outliers.
- Weight rounding: nearest, or AdaRound (Nagel et al., 2020): a learnable per-weight
  rounding variable through the rectified sigmoid h(a) = clip(sigmoid(a)(zeta-gamma)+gamma,
  0, 1), hardened to 0/1 when reconstruction ends.
- Step sizes are LSQ parameters (Esser et al., 2020): learned through a straight-through
  round with the gradient scaled by 1/sqrt(numel * qmax).
- Activations: per tensor, asymmetric unless the calibration data are non-negative (then
  unsigned with zero point 0). QDrop (Wei et al., 2022): during reconstruction each
  element keeps its full-precision value with probability ``drop_prob``.

Every quantizer with ``bits=None`` is the identity, so one module type serves FP layers too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "round_ste",
    "fake_quantize_weight",
    "WeightQuantizer",
    "ActQuantizer",
    "QuantConv2d",
    "QuantLinear",
]

_ZETA, _GAMMA = 1.1, -0.1  # AdaRound's stretch of the sigmoid


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient."""
    return (x.round() - x).detach() + x


def _grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    """Value of x, gradient scaled by g (LSQ)."""
    return (x - x * g).detach() + x * g


def _grid(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _quantize_nearest(
    weight: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """Fake-quantized weight: round to nearest (straight-through), LSQ-scaled step size."""
    s = _grad_scale(scale, 1.0 / math.sqrt(weight.numel() * qmax))
    q = torch.clamp(round_ste(weight / s) + zero_point, qmin, qmax)
    return (q - zero_point) * s


def fake_quantize_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """``WeightQuantizer(weight, bits, symmetric=True, search_clip=False)(weight)`` without
    building the module: per-output-channel symmetric min/max range, nearest rounding with
    a straight-through gradient to ``weight``. For callers that quantize the current
    weights on every forward (a supernet's shared weights): the same values and the same
    gradient to ``weight``, without a step-size parameter that nothing would train."""
    qmin, qmax = _grid(bits, True)
    flat = weight.detach().reshape(weight.shape[0], -1)
    m = torch.maximum(flat.min(1).values.abs(), flat.max(1).values.abs())
    shape = (-1,) + (1,) * (weight.dim() - 1)
    scale = (m / qmax).clamp_min(1e-8).view(shape)
    return _quantize_nearest(weight, scale, torch.zeros_like(scale), qmin, qmax)


class WeightQuantizer(nn.Module):
    """Per-output-channel quantizer of one weight tensor (C_out, ...).

    Args:
        weight: the full-precision weight; ranges are initialised from it.
        bits: 2..8, or None for no quantization.
        symmetric: signed grid with zero point 0 instead of unsigned with a zero point.
        search_clip: pick each channel's clipping ratio by minimising the L2.4 error.
    """

    def __init__(
        self, weight: torch.Tensor, bits: int | None, symmetric: bool = False, search_clip=True
    ) -> None:
        super().__init__()
        self.bits, self.symmetric = bits, symmetric
        self.adaround = False
        shape = (-1,) + (1,) * (weight.dim() - 1)
        if bits is None:
            self.register_buffer("zero_point", torch.zeros(0))
            self.scale = nn.Parameter(torch.zeros(0), requires_grad=False)
            return
        self.qmin, self.qmax = _grid(bits, symmetric)
        scale, zp = self._init_range(weight.detach(), search_clip)
        self.scale = nn.Parameter(scale.view(shape))
        self.register_buffer("zero_point", zp.view(shape))
        self.alpha: nn.Parameter | None = None

    def _range(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.symmetric:
            m = torch.maximum(lo.abs(), hi.abs())
            return (m / self.qmax).clamp_min(1e-8), torch.zeros_like(m)
        lo, hi = lo.clamp(max=0), hi.clamp(min=0)
        scale = ((hi - lo) / (self.qmax - self.qmin)).clamp_min(1e-8)
        return scale, (self.qmin - lo / scale).round()

    def _init_range(self, w: torch.Tensor, search: bool) -> tuple[torch.Tensor, torch.Tensor]:
        flat = w.reshape(w.shape[0], -1)  # (C, K)
        lo, hi = flat.min(1).values, flat.max(1).values
        best_s, best_z = self._range(lo, hi)
        if not search:
            return best_s, best_z
        best_err = torch.full_like(lo, float("inf"))
        for ratio in torch.linspace(1.0, 0.3, 36).tolist():
            s, z = self._range(lo * ratio, hi * ratio)
            q = (torch.clamp((flat / s[:, None]).round() + z[:, None], self.qmin, self.qmax)
                 - z[:, None]) * s[:, None]  # fmt: skip
            err = (q - flat).abs().pow(2.4).sum(1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_s, best_z = torch.where(better, s, best_s), torch.where(better, z, best_z)
        return best_s, best_z

    # -- AdaRound ---------------------------------------------------------------------------
    def enable_adaround(self, weight: torch.Tensor) -> None:
        """Starts learnable rounding, initialised at the weight's fractional part."""
        if self.bits is None:
            return
        frac = weight.detach() / self.scale.detach()
        frac = frac - frac.floor()
        # h(alpha) = frac  <=>  alpha = logit((frac - gamma) / (zeta - gamma))
        p = ((frac - _GAMMA) / (_ZETA - _GAMMA)).clamp(1e-4, 1 - 1e-4)
        self.alpha = nn.Parameter(torch.log(p / (1 - p)))
        self.adaround = True

    def soft_rounding(self) -> torch.Tensor:
        assert self.alpha is not None
        return (torch.sigmoid(self.alpha) * (_ZETA - _GAMMA) + _GAMMA).clamp(0, 1)

    def rounding_loss(self, beta: float) -> torch.Tensor:
        """AdaRound's regulariser: pushes every h(alpha) to 0 or 1 as beta falls."""
        if self.alpha is None:
            return torch.zeros(())
        return (1 - (2 * self.soft_rounding() - 1).abs().pow(beta)).sum()

    def harden(self) -> None:
        """Freezes the learned rounding as 0/1 decisions (ends AdaRound)."""
        if self.alpha is not None:
            self.alpha = nn.Parameter((self.alpha.detach() >= 0).float() * 20 - 10)
            self.alpha.requires_grad_(False)

    # -- forward ------------------------------------------------------------------------------
    def integer(self, weight: torch.Tensor) -> torch.Tensor:
        """The integer codes (as float), in [qmin, qmax]."""
        s = self.scale.detach()
        if self.alpha is not None:
            codes = (weight / s).floor() + (self.alpha >= 0).float()
        else:
            codes = (weight / s).round()
        return torch.clamp(codes + self.zero_point, self.qmin, self.qmax)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return weight
        if self.adaround and self.alpha is not None:
            s = _grad_scale(self.scale, 1.0 / math.sqrt(weight.numel() * self.qmax))
            # soft rounding while it is learned, the 0/1 decisions once hardened
            up = self.soft_rounding() if self.alpha.requires_grad else (self.alpha >= 0).float()
            codes = (weight / s).floor().detach() + up
            q = torch.clamp(codes + self.zero_point, self.qmin, self.qmax)
            return (q - self.zero_point) * s
        return _quantize_nearest(weight, self.scale, self.zero_point, self.qmin, self.qmax)


class ActQuantizer(nn.Module):
    """Per-tensor activation quantizer with an LSQ step size.

    Args:
        bits: 2..8, or None for no quantization.
    """

    def __init__(self, bits: int | None) -> None:
        super().__init__()
        self.bits = bits
        self.scale = nn.Parameter(torch.ones(()))
        self.register_buffer("zero_point", torch.zeros(()))
        self.register_buffer("signed_input", torch.zeros((), dtype=torch.bool))
        self.register_buffer("is_calibrated", torch.zeros((), dtype=torch.bool))
        self.drop_prob = 0.0
        self.qmin, self.qmax = _grid(bits or 8, False)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Sets the range from a batch: clipping ratio searched on the MSE of the tensor."""
        if self.bits is None:
            return
        lo, hi = float(x.min()), float(x.max())
        self.signed_input.fill_(lo < 0)
        sample = x.flatten()
        if sample.numel() > 1_000_000:  # a strided subset keeps the search cheap (and seedless)
            sample = sample[:: -(-sample.numel() // 1_000_000)]
        best = (float("inf"), 1.0, 0.0)
        for ratio in torch.linspace(1.0, 0.2, 41).tolist():
            a, b = min(lo, 0.0) * ratio, max(hi, 0.0) * ratio
            s = max((b - a) / (self.qmax - self.qmin), 1e-8)
            z = round(self.qmin - a / s)
            q = (torch.clamp((sample / s).round() + z, self.qmin, self.qmax) - z) * s
            err = float((q - sample).pow(2).mean())
            if err < best[0]:
                best = (err, s, z)
        self.scale.data.fill_(best[1])
        self.zero_point.fill_(best[2])
        self.is_calibrated.fill_(True)

    @property
    def calibrated(self) -> bool:
        return bool(self.is_calibrated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits is None or not self.calibrated:
            return x
        s = _grad_scale(self.scale, 1.0 / math.sqrt(x[0].numel() * self.qmax))
        q = (torch.clamp(round_ste(x / s) + self.zero_point, self.qmin, self.qmax)
             - self.zero_point) * s  # fmt: skip
        if self.training and self.drop_prob > 0:
            keep_fp = torch.rand_like(x) < self.drop_prob  # QDrop
            q = torch.where(keep_fp, x, q)
        return q


class _QuantLayer(nn.Module):
    """Shared parts: a frozen FP weight, its quantizer, and the input quantizer."""

    def __init__(
        self, layer: nn.Module, w_bits: int | None, a_bits: int | None, symmetric: bool
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().clone(), requires_grad=False)
        bias = layer.bias.detach().clone() if layer.bias is not None else None
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None
        self.w_quant = WeightQuantizer(self.weight, w_bits, symmetric)
        self.a_quant = ActQuantizer(a_bits)

    @property
    def w_bits(self) -> int | None:
        return self.w_quant.bits

    @property
    def a_bits(self) -> int | None:
        return self.a_quant.bits


class QuantConv2d(_QuantLayer):
    """Conv2d with fake-quantized input and weight."""

    def __init__(self, conv: nn.Conv2d, w_bits, a_bits, symmetric: bool = False) -> None:
        super().__init__(conv, w_bits, a_bits, symmetric)
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H', W')
        w = self.w_quant(self.weight)
        return F.conv2d(
            self.a_quant(x), w, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class QuantLinear(_QuantLayer):
    """Linear with fake-quantized input and weight."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in) -> (B, out)
        return F.linear(self.a_quant(x), self.w_quant(self.weight), self.bias)
