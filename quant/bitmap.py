"""Per-layer bit-widths, protocols A and B, and turning a model into a fake-quantized copy.

The layers that get quantized are every ``nn.Conv2d`` and ``nn.Linear``, named as in
``model.named_modules()``, in registration order (the first is the network's input layer,
the last its classifier in every model here). Each gets a weight bit-width and the bit-width
of its *input* activation. The network input is an image, already 8-bit; its layer's input
quantizer is 8-bit in both protocols.

- Protocol A (GDFQ, Qimera, AIT, SynQ): every conv and linear layer, first and last
  included, at the given bits.
- Protocol B (Genie, BRECQ): the first layer's weights at 8 bits, the last layer W8A8, and
  the second layer's input at 8 bits; the rest at the given bits.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from coexplore.config import check_choice
from coexplore.errors import ConfigError
from coexplore.quant.quantizers import QuantConv2d, QuantLinear
from coexplore.quant.spec import MAX_BITS, MIN_BITS, PROTOCOLS

__all__ = [
    "PROTOCOLS",
    "LayerBits",
    "BitMap",
    "quantizable_layers",
    "fold_batchnorm",
    "has_batchnorm",
    "quantize_model",
    "quant_layers",
]


@dataclass(frozen=True)
class LayerBits:
    w_bits: int
    a_bits: int


def _check_bits(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
        raise ConfigError(
            f"{what} must be an integer from {MIN_BITS} to {MAX_BITS}, but got {value!r}."
        )
    return value


def quantizable_layers(model: nn.Module) -> list[str]:
    """Names of the conv and linear layers, in registration order."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class BitMap:
    """Weight and input-activation bits per layer name, under a protocol.

    Example:
        >>> bm = BitMap.uniform(model, 4, protocol="A")
        >>> bm = BitMap.from_json("bits.json", model, default_bits=4)
    """

    def __init__(self, bits: dict[str, LayerBits], protocol: str = "A") -> None:
        check_choice("protocol", protocol, PROTOCOLS)
        self.bits = dict(bits)
        self.protocol = protocol

    @classmethod
    def uniform(cls, model: nn.Module, bits: int, protocol: str = "A", a_bits: int | None = None):
        """Every layer at ``bits`` (weights) and ``a_bits`` (inputs, default ``bits``)."""
        w = _check_bits(bits, "--bits")
        a = _check_bits(a_bits if a_bits is not None else bits, "activation bits")
        names = quantizable_layers(model)
        if not names:
            raise ConfigError("the model has no Conv2d or Linear layer to quantize.")
        return cls({n: LayerBits(w, a) for n in names}, protocol).apply_protocol(names)

    def apply_protocol(self, names: list[str]) -> BitMap:
        """Applies the protocol's fixed 8-bit layers; the network input is always 8-bit."""
        bits = dict(self.bits)
        first, last = names[0], names[-1]
        bits[first] = LayerBits(bits[first].w_bits, 8)
        if self.protocol == "B":
            bits[first] = LayerBits(8, 8)
            bits[last] = LayerBits(8, 8)
            if len(names) > 2:
                bits[names[1]] = LayerBits(bits[names[1]].w_bits, 8)
        return BitMap(bits, self.protocol)

    @classmethod
    def from_dict(
        cls, data: dict, model: nn.Module, default_bits: int, protocol: str = "A"
    ) -> BitMap:
        """Layers named in ``data`` get their bits; the others ``default_bits``.

        Values: an int (weights and inputs), ``[w, a]``, or ``{"w_bits": w, "a_bits": a}``.
        The protocol's fixed layers are applied after (protocol B overrides a map).

        Raises:
            ConfigError: unknown layer names (listing the valid ones) or bad bit values.
        """
        names = quantizable_layers(model)
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"the bits map names layers the model does not have: {unknown[:5]}; the "
                f"quantizable layers are: {', '.join(names)}."
            )
        d = _check_bits(default_bits, "--bits")
        bits = {n: LayerBits(d, d) for n in names}
        for name, v in data.items():
            if isinstance(v, dict):
                extra = set(v) - {"w_bits", "a_bits"}
                if extra:
                    raise ConfigError(f"bits of {name!r}: unknown keys {sorted(extra)}.")
                w, a = v.get("w_bits", d), v.get("a_bits", d)
            elif isinstance(v, (list, tuple)) and len(v) == 2:
                w, a = v
            else:
                w = a = v
            bits[name] = LayerBits(
                _check_bits(w, f"weight bits of {name!r}"),
                _check_bits(a, f"input bits of {name!r}"),
            )
        return cls(bits, protocol).apply_protocol(names)

    @classmethod
    def from_json(cls, path: str | Path, model: nn.Module, default_bits: int, protocol="A"):
        """Reads a bits map from a JSON file (see :meth:`from_dict`)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"bits map {str(path)!r} does not exist.") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"bits map {str(path)!r} is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise ConfigError(f"bits map {str(path)!r} must be a JSON object {{layer: bits}}.")
        return cls.from_dict(data, model, default_bits, protocol)

    def to_dict(self) -> dict[str, list[int]]:
        return {n: [b.w_bits, b.a_bits] for n, b in self.bits.items()}

    def label(self) -> str:
        """Short name: ``W4A4`` when uniform apart from the protocol's fixed layers, else
        ``mixed``."""
        inner = list(self.bits.values())[1:-1] or list(self.bits.values())
        ws, as_ = {b.w_bits for b in inner}, {b.a_bits for b in inner[1:] or inner}
        if len(ws) == 1 and len(as_) == 1:
            return f"W{ws.pop()}A{as_.pop()}"
        return "mixed"


# -- model surgery --------------------------------------------------------------------------
def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv, bn) names where the BN reads exactly the conv's output, found by running the
    model once with hooks (works for any model, not only for attribute naming patterns)."""
    produced: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(
                lambda _m, _i, out, name=name: produced.__setitem__(id(out), name)))  # fmt: skip
        elif isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_hook(
                lambda _m, inp, _o, name=name: pairs.append((produced[id(inp[0])], name))
                if id(inp[0]) in produced else None))  # fmt: skip
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    uses: dict[str, int] = {}
    for conv, _ in pairs:
        uses[conv] = uses.get(conv, 0) + 1
    return [(c, b) for c, b in pairs if uses[c] == 1]


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (eval mode) with each BN folded into the conv that feeds it; the
    BN becomes Identity. Integer hardware runs the folded conv, so that is what we quantize."""
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    for conv_name, bn_name in _conv_bn_pairs(model, example):
        conv, bn = modules[conv_name], modules[bn_name]
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        factor = (gamma / std).detach()
        with torch.no_grad():
            w = conv.weight * factor.view(-1, 1, 1, 1)
            b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            b = (b - bn.running_mean) * factor + beta
        conv.weight = nn.Parameter(w.detach())
        conv.bias = nn.Parameter(b.detach())
        parent_name, _, attr = bn_name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        setattr(parent, attr, nn.Identity())
    return model


def quantize_model(model: nn.Module, bitmap: BitMap, symmetric: bool = False) -> nn.Module:
    """A copy of ``model`` with every layer in ``bitmap`` replaced by its fake-quantized
    version (activation ranges still to be calibrated). The input model is not touched."""
    model = copy.deepcopy(model)
    modules = dict(model.named_modules())
    for name, b in bitmap.bits.items():
        m = modules.get(name)
        if m is None:
            raise ConfigError(f"bits map names {name!r}, which the model does not have.")
        if isinstance(m, nn.Conv2d):
            q: nn.Module = QuantConv2d(m, b.w_bits, b.a_bits, symmetric)
        elif isinstance(m, nn.Linear):
            q = QuantLinear(m, b.w_bits, b.a_bits, symmetric)
        else:
            raise ConfigError(f"layer {name!r} is a {type(m).__name__}, not Conv2d/Linear.")
        parent_name, _, attr = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, attr, q)
    return model


def quant_layers(model: nn.Module) -> dict[str, QuantConv2d | QuantLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (QuantConv2d, QuantLinear))}
