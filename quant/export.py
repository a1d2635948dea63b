"""Export of a quantized model as integer weights, scales and per-layer bits, and loading it
back into a runnable (fake-quantized) model that gives the same outputs.

File: one ``torch.save`` archive of plain tensors and strings (loads with
``weights_only=True``):
- ``meta``: JSON text: model name, classes, image size, protocol, per-layer bits, method;
- per quantized layer ``L``: ``L.codes`` (uint8 or int8 integer weights), ``L.scale``
  (per-channel float32), ``L.zero_point`` (int32), ``L.act_scale``/``L.act_zero_point``;
- ``rest.*``: every other tensor of the model (biases, unquantized parameters).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from coexplore.errors import ConfigError
from coexplore.quant.bitmap import BitMap, LayerBits, fold_batchnorm, quant_layers, quantize_model
from coexplore.quant.models import build_model
from coexplore.runs import atomic_write

__all__ = ["export_quantized", "load_quantized", "FORMAT"]

FORMAT = "coexplore-quant-1"


def export_quantized(
    model: nn.Module, path: str | Path, model_name: str, num_classes: int, bitmap: BitMap,
    image_size: int = 32, extra: dict | None = None,
) -> Path:  # fmt: skip
    """Writes ``model`` (a quantized model from :func:`quantize`) to ``path`` atomically."""
    path = Path(path)
    layers = quant_layers(model)
    blob: dict[str, torch.Tensor | str] = {}
    skip = set()
    for name, m in layers.items():
        wq = m.w_quant
        skip.add(f"{name}.weight")
        if wq.bits is None:
            blob[f"{name}.fp_weight"] = m.weight.detach().cpu()
            continue
        codes = wq.integer(m.weight.detach()).cpu()
        dtype = torch.int8 if wq.symmetric else torch.uint8
        blob[f"{name}.codes"] = codes.to(dtype)
        blob[f"{name}.scale"] = wq.scale.detach().cpu().float().flatten()
        blob[f"{name}.zero_point"] = wq.zero_point.detach().cpu().to(torch.int32).flatten()
    for key, t in model.state_dict().items():
        if key in skip or key.endswith(("w_quant.scale", "w_quant.zero_point", "w_quant.alpha")):
            continue
        blob[f"rest.{key}"] = t.detach().cpu()
    blob["meta"] = json.dumps({
        "format": FORMAT,
        "model": model_name,
        "num_classes": num_classes,
        "image_size": image_size,
        "protocol": bitmap.protocol,
        "bits": bitmap.to_dict(),
        "symmetric": any(m.w_quant.symmetric for m in layers.values()),
        **(extra or {}),
    })  # fmt: skip
    return atomic_write(path, lambda tmp: torch.save(blob, tmp))


def load_quantized(path: str | Path, model: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """Rebuilds the quantized model in ``path``; returns (model in eval mode, meta).

    Args:
        model: an untrained instance of the architecture, for models not in the registry.

    Raises:
        ConfigError: not an export of this format, or it does not fit the architecture.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
    except Exception as exc:  # noqa: BLE001 - anything else is "not our export"
        raise ConfigError(f"{str(path)!r} is not a quantized-model export ({exc}).") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{str(path)!r} has format {meta.get('format')!r}, not {FORMAT!r}.")
    base = model if model is not None else build_model(meta["model"], meta["num_classes"])
    size = meta["image_size"]
    folded = fold_batchnorm(base, torch.zeros(2, 3, size, size))
    bits = {n: LayerBits(*wa) for n, wa in meta["bits"].items()}
    qmodel = quantize_model(folded, BitMap(bits, meta["protocol"]), meta["symmetric"])
    rest = {k[len("rest.") :]: v for k, v in blob.items() if k.startswith("rest.")}
    _, unexpected = qmodel.load_state_dict(rest, strict=False)
    if unexpected:
        raise ConfigError(f"{str(path)!r} does not fit {meta['model']}: {unexpected[:3]}.")
    with torch.no_grad():
        for name, m in quant_layers(qmodel).items():
            wq = m.w_quant
            if wq.bits is None:
                m.weight.copy_(blob[f"{name}.fp_weight"])
                continue
            shape = (-1,) + (1,) * (m.weight.dim() - 1)
            wq.scale.copy_(blob[f"{name}.scale"].view(shape))
            wq.zero_point.copy_(blob[f"{name}.zero_point"].view(shape).float())
            codes = blob[f"{name}.codes"].float()
            m.weight.copy_((codes - wq.zero_point) * wq.scale)
    return qmodel.eval(), meta
