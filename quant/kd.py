"""Knowledge-distillation fine-tuning of the quantized student on the synthetic set.

Parts (each switched by :class:`KDConfig`):
- KL-only loss (AIT, Choi et al. 2022): KL(teacher || student) at temperature T; no CE on
  the synthetic labels unless ``soft_labels`` is on.
- Gradient inundation (AIT): latent weights are stepped by SGD; per layer the gradient is
  scaled by a multiplier, doubled from 1 until at least ``inundation`` (a fraction, 0.1 % on
  CIFAR) of the layer's weights would move to another quantization bin, then refined by
  bisection. Without it, small steps on a fine-tuned quantized model rarely flip a bin.
- Grad-CAM alignment (SynQ, Kim et al. 2025): on the last conv layer, the class-activation
  maps of teacher and student for the target class, min-max normalised, are matched by MSE
  with weight ``gradcam_weight``.
- Difficulty-aware soft labels (SynQ): difficulty delta = 1 - p_teacher(y | x); the
  cross-entropy on the synthetic label is applied only to easy samples (delta <= tau); hard
  samples get the KL term only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.progress import ProgressFn, emit
from coexplore.quant.bitmap import quant_layers
from coexplore.quant.quantizers import QuantConv2d, QuantLinear
from coexplore.quant.synthetic import SyntheticSet

__all__ = ["KDConfig", "distill"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KDConfig:
    steps: int = 200
    batch_size: int = 64
    lr: float = 1e-4
    lr_act_scale: float = 1e-5
    temperature: float = 1.0
    inundation: float | None = 1e-3
    gradcam_weight: float = 0.0
    soft_labels: bool = False
    tau: float = 0.7
    ce_weight: float = 1.0


def _bake(layer: QuantConv2d | QuantLinear) -> None:
    """Puts the learned rounding into the latent weight: it becomes the dequantized grid
    value, so nearest rounding reproduces the reconstruction's codes exactly."""
    wq = layer.w_quant
    if wq.bits is None:
        return
    with torch.no_grad():
        codes = wq.integer(layer.weight)
        layer.weight.copy_((codes - wq.zero_point) * wq.scale)
    wq.alpha, wq.adaround = None, False
    wq.scale.requires_grad_(False)


def _inundation_multiplier(
    w: torch.Tensor, step: torch.Tensor, scale: torch.Tensor, target: float, bisect: int = 4
) -> float:
    """Smallest power-of-two multiple of ``step`` (refined by bisection) that moves at least
    ``target`` of the weights ``w`` to another bin of the grid ``scale``."""
    base = torch.round(w / scale)

    def frac(m: float) -> float:
        return float((torch.round((w - m * step) / scale) != base).float().mean())

    m = 1.0
    if frac(m) >= target:
        return m
    while frac(m) < target and m < 2**16:
        m *= 2
    lo, hi = m / 2, m
    for _ in range(bisect):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if frac(mid) >= target else (mid, hi)
    return hi


def _last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, QuantConv2d))]
    return convs[-1]


def _gradcam(model: nn.Module, layer: nn.Module, x: torch.Tensor, y: torch.Tensor,
             create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(logits, normalised CAM (B, H, W)) for the classes ``y``."""
    feats: list[torch.Tensor] = []
    h = layer.register_forward_hook(lambda _m, _i, out: feats.append(out))
    try:
        logits = model(x)
    finally:
        h.remove()
    a = feats[0]  # (B, C, H, W)
    score = logits.gather(1, y[:, None]).sum()
    (g,) = torch.autograd.grad(score, a, create_graph=create_graph)
    cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1))  # (B, H, W)
    lo = cam.flatten(1).min(1).values[:, None, None]
    hi = cam.flatten(1).max(1).values[:, None, None]
    return logits, (cam - lo) / (hi - lo + 1e-8)


def distill(
    teacher: nn.Module,
    student: nn.Module,
    synthetic: SyntheticSet,
    config: KDConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
) -> dict:
    """Fine-tunes ``student`` (a quantized model) in place; returns loss and flip stats."""
    gen = torch.Generator().manual_seed(synthetic.config.seed + 1)
    layers = quant_layers(student)
    for layer in layers.values():
        _bake(layer)
    weights = [m.weight for m in layers.values()]
    for w in weights:
        w.requires_grad_(True)
    scales = [m.a_quant.scale for m in layers.values() if m.a_quant.bits is not None]
    for s in scales:
        s.requires_grad_(True)
    opt_s = torch.optim.Adam(scales, lr=config.lr_act_scale) if scales else None
    momentum = [torch.zeros_like(w) for w in weights]
    x_all, soft_all = synthetic.images, synthetic.soft_labels
    t_conv, s_conv = _last_conv(teacher), _last_conv(student)
    student.eval()  # BN is folded away; quantizers behave the same in both modes
    losses, flips = [], []
    for step in range(config.steps):
        idx = torch.randint(0, len(x_all), (config.batch_size,), generator=gen)
        x, soft = x_all[idx].to(device), soft_all[idx].to(device)
        y = soft.argmax(1)
        if config.gradcam_weight > 0:
            with torch.enable_grad():
                xt = x.clone().requires_grad_(True)  # the teacher is frozen: grads need a path
                t_logits, t_cam = _gradcam(teacher, t_conv, xt, y, create_graph=False)
            t_logits, t_cam = t_logits.detach(), t_cam.detach()
            s_logits, s_cam = _gradcam(student, s_conv, x, y, create_graph=True)
        else:
            with torch.no_grad():
                t_logits = teacher(x)
            s_logits = student(x)
        temp = config.temperature
        kl = F.kl_div(F.log_softmax(s_logits / temp, 1), F.softmax(t_logits / temp, 1),
                      reduction="batchmean") * temp * temp  # fmt: skip
        loss = kl
        if config.soft_labels:
            p_t = F.softmax(t_logits, 1).gather(1, y[:, None]).squeeze(1)
            easy = (1 - p_t) <= config.tau
            if easy.any():
                ce = torch.sum(-soft * F.log_softmax(s_logits, 1), 1)
                loss = loss + config.ce_weight * (ce * easy.float()).sum() / easy.sum()
        if config.gradcam_weight > 0:
            loss = loss + config.gradcam_weight * F.mse_loss(s_cam, t_cam)
        grads = torch.autograd.grad(loss, weights + scales, allow_unused=True)
        with torch.no_grad():
            n_flip, n_all = 0, 0
            for k, (w, m, layer) in enumerate(zip(weights, momentum, layers.values(),
                                                  strict=True)):  # fmt: skip
                g = grads[k]
                if g is None:
                    continue
                m.mul_(0.9).add_(g)
                step_w = config.lr * m
                wq = layer.w_quant
                if config.inundation and wq.bits is not None:
                    mult = _inundation_multiplier(w, step_w, wq.scale, config.inundation)
                    step_w = step_w * mult
                before = wq.integer(w)
                w.sub_(step_w)
                if wq.bits is not None:
                    n_flip += int((wq.integer(w) != before).sum())
                    n_all += w.numel()
            flips.append(n_flip / max(1, n_all))
        if opt_s is not None:
            for s, g in zip(scales, grads[len(weights) :], strict=True):
                s.grad = g
            opt_s.step()
            opt_s.zero_grad(set_to_none=True)
            for s in scales:
                s.data.clamp_(min=1e-8)
        losses.append(float(loss.detach()))
        if (step + 1) % max(1, config.steps // 20) == 0:
            emit(progress, "distill", step + 1, config.steps, f"step {step + 1}", loss=losses[-1])
    for w in weights:
        w.requires_grad_(False)
    for s in scales:
        s.requires_grad_(False)
    return {
        "first_loss": losses[0] if losses else None,
        "last_loss": sum(losses[-10:]) / max(1, len(losses[-10:])),
        "mean_bin_flip_fraction": sum(flips) / max(1, len(flips)),
    }
