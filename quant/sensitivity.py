"""Data-free per-layer sensitivity, for mixed-precision bit maps.

A layer's sensitivity is the KL divergence between the full-precision model's outputs and
those of the model with only that layer quantized (weights and input, calibrated, no
training), on synthetic images. The most sensitive layers are the ones to keep at 8 bits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.quant.bitmap import (
    BitMap,
    LayerBits,
    fold_batchnorm,
    quantizable_layers,
    quantize_model,
)
from coexplore.quant.reconstruct import calibrate_activations

__all__ = ["layer_sensitivity", "mixed_bitmap"]


@torch.no_grad()
def layer_sensitivity(
    model: nn.Module, images: torch.Tensor, bits: int, device: torch.device, n: int = 256
) -> dict[str, float]:
    """KL(FP || one layer at ``bits``) per layer, on the first ``n`` synthetic images."""
    x = images[:n].to(device)
    folded = fold_batchnorm(model, x[:2]).to(device)
    ref = F.log_softmax(folded(x), 1)
    out = {}
    for name in quantizable_layers(folded):
        q = quantize_model(folded, BitMap({name: LayerBits(bits, bits)})).to(device)
        calibrate_activations(q, x, device)
        out[name] = float(F.kl_div(F.log_softmax(q(x), 1), ref, log_target=True,
                                   reduction="batchmean"))  # fmt: skip
    return out


def mixed_bitmap(
    model: nn.Module, sensitivity: dict[str, float], low: int, keep_8: int, protocol: str = "A"
) -> BitMap:
    """The ``keep_8`` most sensitive layers at W8A8, the rest at ``low`` bits."""
    top = sorted(sensitivity, key=sensitivity.get, reverse=True)[:keep_8]
    return BitMap.from_dict({n: 8 for n in top}, model, low, protocol)
