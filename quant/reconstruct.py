"""Block-wise reconstruction on synthetic data (BRECQ, Li et al. 2021; as used by Genie).

The quantized model is rebuilt unit by unit, in execution order. A unit is a block (a module
that sits in a Sequential and holds quantized layers: a ResNet basic block, an inverted
residual) or a quantized layer outside any block (the stem conv, the classifier). For each
unit:

1. its inputs are captured twice: from the full-precision model (x_fp) and from the
   quantized model with every earlier unit already reconstructed (x_q);
2. the input quantizers of its layers are calibrated on x_q (MSE-searched ranges);
3. AdaRound rounding variables and LSQ activation step sizes are learned so that the unit's
   output on the (QDrop-mixed) input matches the full-precision unit's output on x_fp:
   each input element comes from x_fp with probability ``qdrop_prob``, else from x_q
   (Wei et al., 2022), which flattens the loss landscape the unit sees;
4. the rounding is hardened before the next unit.

Loss: ||y_q - y_fp||^2 summed over channels, averaged over the batch, plus AdaRound's
regulariser with beta annealed from 20 to 2 after a 20 % warm-up (BRECQ's schedule).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from coexplore.progress import ProgressFn, emit
from coexplore.quant.bitmap import quant_layers
from coexplore.quant.quantizers import QuantConv2d, QuantLinear

__all__ = ["ReconConfig", "find_units", "calibrate_activations", "reconstruct"]

log = logging.getLogger(__name__)
_QUANT = (QuantConv2d, QuantLinear)


@dataclass(frozen=True)
class ReconConfig:
    iters: int = 1000
    batch_size: int = 32
    lr_round: float = 1e-3
    lr_act_scale: float = 4e-5
    round_weight: float = 0.01
    qdrop_prob: float = 0.5
    adaround: bool = True


class _Stop(Exception):
    """Raised by a capture hook to end a forward pass early."""


def find_units(model: nn.Module) -> list[str]:
    """Reconstruction units of ``model`` in registration (execution) order."""
    units: list[str] = []

    def has_quant(m: nn.Module) -> bool:
        return any(isinstance(x, _QUANT) for x in m.modules())

    def visit(module: nn.Module, prefix: str, in_container: bool) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if isinstance(child, _QUANT) or (in_container and has_quant(child)):
                units.append(full)
            elif has_quant(child):
                visit(child, full + ".", isinstance(child, (nn.Sequential, nn.ModuleList)))

    visit(model, "", False)
    return units


@torch.no_grad()
def _capture(
    model: nn.Module,
    unit: nn.Module,
    data: torch.Tensor,
    batch: int,
    device: torch.device,
    output: bool = False,
) -> torch.Tensor:
    """Inputs (or outputs) of ``unit`` over ``data``, stacked on the CPU."""
    got: list[torch.Tensor] = []

    def hook(_m, inp, out=None):  # noqa: ANN001, ANN202
        got.append((out if output else inp[0]).detach().cpu())
        raise _Stop

    h = (unit.register_forward_hook(hook) if output
         else unit.register_forward_pre_hook(lambda m, i: hook(m, i)))  # fmt: skip
    try:
        for i in range(0, len(data), batch):
            try:
                model(data[i : i + batch].to(device))
            except _Stop:
                pass
    finally:
        h.remove()
    return torch.cat(got)


@torch.no_grad()
def calibrate_activations(
    qmodel: nn.Module, data: torch.Tensor, device: torch.device, batch: int = 256
) -> None:
    """Calibrates every input quantizer on the quantized model's own activations in one
    forward pass: each layer calibrates just before it runs, so every later layer already
    sees the quantized earlier ones."""
    hooks = [
        layer.register_forward_pre_hook(lambda m, inp: m.a_quant.calibrate(inp[0]))
        for layer in quant_layers(qmodel).values()
    ]
    try:
        qmodel(data[:batch].to(device))
    finally:
        for h in hooks:
            h.remove()


def reconstruct(
    fp_model: nn.Module,
    qmodel: nn.Module,
    data: torch.Tensor,
    config: ReconConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> list[dict]:
    """Reconstructs ``qmodel`` in place, unit by unit; returns per-unit losses.

    ``fp_model`` is the BN-folded full-precision model with the same module names.
    """
    gen = torch.Generator().manual_seed(seed)
    fp_model.eval()
    qmodel.eval()
    fp_mods, q_mods = dict(fp_model.named_modules()), dict(qmodel.named_modules())
    units = find_units(qmodel)
    report = []
    for ui, name in enumerate(units):
        fp_unit, q_unit = fp_mods[name], q_mods[name]
        x_fp = _capture(fp_model, fp_unit, data, 256, device)
        x_q = _capture(qmodel, q_unit, data, 256, device)
        with torch.no_grad():
            y_fp = torch.cat([fp_unit(x_fp[i : i + 256].to(device)).cpu()
                              for i in range(0, len(x_fp), 256)])  # fmt: skip
        layers = list(quant_layers(q_unit).values())
        calibrate_activations(q_unit, x_q, device)  # this unit's inputs, on x_q
        loss_before = _unit_loss(q_unit, x_q, y_fp, device)
        if config.iters > 0:
            _optimise_unit(q_unit, layers, x_fp, x_q, y_fp, config, device, gen)
        loss_after = _unit_loss(q_unit, x_q, y_fp, device)
        report.append({"unit": name, "loss_before": loss_before, "loss_after": loss_after})
        log.info("unit %s: output error %.4g -> %.4g", name, loss_before, loss_after)
        emit(progress, "reconstruct", ui + 1, len(units), f"reconstructed {name}")
    return report


@torch.no_grad()
def _unit_loss(unit: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    unit.eval()
    total = 0.0
    for i in range(0, len(x), 256):
        out = unit(x[i : i + 256].to(device))
        total += float((out - y[i : i + 256].to(device)).pow(2).flatten(1).sum(1).sum())
    return total / len(x)


def _optimise_unit(
    unit: nn.Module,
    layers: list[nn.Module],
    x_fp: torch.Tensor,
    x_q: torch.Tensor,
    y_fp: torch.Tensor,
    config: ReconConfig,
    device: torch.device,
    gen: torch.Generator,
) -> None:
    round_params, scale_params = [], []
    for layer in layers:
        if config.adaround and layer.w_quant.bits is not None:
            layer.w_quant.enable_adaround(layer.weight)
            round_params.append(layer.w_quant.alpha)
        layer.w_quant.scale.requires_grad_(False)
        if layer.a_quant.bits is not None and layer.a_quant.calibrated:
            scale_params.append(layer.a_quant.scale)
    groups = []
    if round_params:
        groups.append({"params": round_params, "lr": config.lr_round})
    if scale_params:
        groups.append({"params": scale_params, "lr": config.lr_act_scale})
    if not groups:
        return
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.iters, eta_min=0.0)
    warm = int(0.2 * config.iters)
    # the unit stays in eval mode: soft rounding follows requires_grad, and any BN that was
    # not folded must keep its running statistics
    for it in range(config.iters):
        idx = torch.randint(0, len(x_q), (config.batch_size,), generator=gen)
        xq, xf, y = x_q[idx].to(device), x_fp[idx].to(device), y_fp[idx].to(device)
        if config.qdrop_prob > 0:
            xq = torch.where(torch.rand(xq.shape, generator=gen).to(device) < config.qdrop_prob,
                             xf, xq)  # fmt: skip
        out = unit(xq)
        rec = (out - y).pow(2).flatten(1).sum(1).mean()
        loss = rec
        if round_params and it >= warm:
            beta = 20 + (2 - 20) * (it - warm) / max(1, config.iters - warm)
            reg = sum(layer.w_quant.rounding_loss(beta) for layer in layers)
            loss = loss + config.round_weight * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        for p in scale_params:  # a step size must stay positive
            p.data.clamp_(min=1e-8)
    for layer in layers:
        layer.w_quant.harden()
        layer.a_quant.scale.requires_grad_(False)
