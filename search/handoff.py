"""The hand-off: a co-search winner, as a standalone network, to the zero-shot quantization
core at its searched per-layer bits.

:func:`extract_subnet` copies one sub-network of a :class:`~coexplore.search.supernet.Supernet`
into plain torch layers (``Conv2d``/``BatchNorm2d``/``ReLU6``/``Linear``; an operator (k, e)
takes the first ``cin * e`` hidden channels and the centre k x k of the shared depthwise
kernel, and its own BN layers), so the quantization core sees an ordinary MBConv network
(depthwise convolutions, residual skips). :func:`winner_bitmap` keys the searched bits by the
extracted network's layer names (stem, head and classifier at 8 bits, as the cost model
prices them). :func:`quantize_winner` runs the quantization core on synthetic data only and
scores the result on the task's test split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.progress import ProgressFn
from coexplore.search.space import OPERATORS, SKIP, JointSpace
from coexplore.search.supernet import FIXED_BITS, Supernet

__all__ = ["MBConv", "SubNet", "build_subnet", "extract_subnet", "winner_bitmap", "HandoffResult",
           "quantize_winner", "HANDOFF_METHOD"]  # fmt: skip

#: The quantization core's recipe for winners, at a budget a CPU affords per winner.
HANDOFF_METHOD = "recon-no-boundary"


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise (stride), 1x1 project; identity skip
    when the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, k: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class SubNet(nn.Module):
    """Stem, the chosen blocks (skipped slots left out), head, pooled classifier."""

    def __init__(self, stem: nn.Sequential, blocks: list[nn.Module], head: nn.Sequential,
                 classifier: nn.Linear) -> None:  # fmt: skip
        super().__init__()
        self.stem, self.blocks, self.head = stem, nn.Sequential(*blocks), head
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, classes)
        y = self.head(self.blocks(self.stem(x)))
        return self.classifier(F.adaptive_avg_pool2d(y, 1).flatten(1))


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())  # fmt: skip


def build_subnet(space: JointSpace, ops: Any, num_classes: int) -> SubNet:
    """The untrained network of architecture ``ops`` in ``space`` (the layout
    :func:`extract_subnet` fills, and what an exported winner is loaded into)."""
    (stem,) = space.stem
    head = space.head[0]
    blocks = [
        MBConv(slot.in_channels, slot.out_channels, slot.stride, *OPERATORS[int(op)])
        for slot, op in zip(space.slots, ops, strict=True)
        if int(op) != SKIP
    ]  # fmt: skip
    return SubNet(_conv_bn_relu(3, stem.out_channels, stem.kernel_h, stem.stride), blocks,
                  _conv_bn_relu(head.in_channels, head.out_channels, 1, 1),
                  nn.Linear(head.out_channels, num_classes))  # fmt: skip


def extract_subnet(net: Supernet, ops: Any) -> SubNet:
    """The sub-network ``ops`` (one operator index per slot) as a standalone network with
    the supernet's current weights and BN statistics; in eval mode it computes what
    ``net(x, ops, bits, quantize=False)`` computes."""
    sub = build_subnet(net.space, ops, net.classifier.out_features)
    kept = [(block, int(op)) for block, op in zip(net.slots, ops, strict=True) if int(op) != SKIP]
    with torch.no_grad():
        for (src, dst) in ((net.stem, sub.stem), (net.head, sub.head)):
            dst[0].weight.copy_(src.conv.weight)
            dst[1].load_state_dict(src.bn.state_dict())
        for (block, op), m in zip(kept, sub.blocks, strict=True):
            k, e = OPERATORS[op]
            h = block.cin * e
            off = (block.w_dw.shape[-1] - k) // 2
            m.conv[0].weight.copy_(block.w_expand[:h])
            m.conv[3].weight.copy_(block.w_dw[:h, :, off : off + k, off : off + k])
            m.conv[6].weight.copy_(block.w_project[:, :h])
            for i, bn in zip((1, 4, 7), block.bn[op], strict=True):
                m.conv[i].load_state_dict(bn.state_dict())
        sub.classifier.load_state_dict(net.classifier.state_dict())
    return sub.to(next(net.parameters()).device).eval()


def winner_bitmap(space: JointSpace, ops: Any, bits: Any) -> dict[str, list[int]]:
    """Weight and input bits per layer name of :func:`extract_subnet`'s network: each kept
    slot's three convs at the slot's searched bits; stem, head and classifier at 8."""
    out = {"stem.0": [FIXED_BITS, FIXED_BITS]}
    i = 0
    for s in range(space.n_slots):
        if int(ops[s]) == SKIP:
            continue
        b = space.bits[int(bits[s])]
        for j in (0, 3, 6):
            out[f"blocks.{i}.conv.{j}"] = [b, b]
        i += 1
    out["head.0"] = [FIXED_BITS, FIXED_BITS]
    out["classifier"] = [FIXED_BITS, FIXED_BITS]
    return out


@dataclasses.dataclass
class HandoffResult:
    """One winner through the quantization core."""

    rank: int
    bits: dict[str, list[int]]
    method: str
    synthetic_images: int
    recon_iters: int
    test_accuracy_fp: float  # the extracted network, floating point
    test_accuracy_zsq: float  # quantized zero-shot at the searched bits
    seconds: float
    exported: str  # artefact name of the integer model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def top1_tensors(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy (%) of ``model`` on normalised images ``x`` and labels ``y``."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), 256):
            correct += int((model(x[i : i + 256]).argmax(1) == y[i : i + 256]).sum())
    return 100.0 * correct / max(1, len(y))


def quantize_winner(
    sub: SubNet,
    bitmap: dict[str, list[int]],
    test: tuple[torch.Tensor, torch.Tensor],
    images: int,
    synthetic_steps: int,
    recon_iters: int,
    seed: int,
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Quantizes ``sub`` zero-shot at ``bitmap`` (synthetic images only, the core's
    :data:`HANDOFF_METHOD` at ``images`` images made in ``synthetic_steps`` steps and
    ``recon_iters`` reconstruction steps per unit); returns the quantized model and its
    report (test accuracies in floating point and quantized)."""
    import time

    from coexplore.quant import BitMap, get_method, quantize

    t = time.perf_counter()
    method = get_method(HANDOFF_METHOD, synthetic__n_images=images, synthetic__seed=seed,
                        synthetic__steps=synthetic_steps, recon__iters=recon_iters)  # fmt: skip
    bm = BitMap.from_dict(bitmap, sub, default_bits=FIXED_BITS)
    device = next(sub.parameters()).device
    q = quantize(sub, bm, method, device=device, cache_dir=cache_dir, progress=progress)
    x, y = test
    report = {
        "method": method.name, "synthetic_images": images, "synthetic_steps": synthetic_steps,
        "recon_iters": recon_iters,
        "test_accuracy_fp": top1_tensors(sub, x, y),
        "test_accuracy_zsq": top1_tensors(q.model, x, y),
        "seconds": time.perf_counter() - t, "bits": bm.to_dict(),
    }  # fmt: skip
    return q.model, report


def same_function(net: Supernet, sub: SubNet, x: torch.Tensor, ops: Any, bits: Any) -> float:
    """Largest absolute difference between the supernet path and the extracted network on
    ``x`` (floating point, eval mode): a check that the extraction copied the right weights."""
    net.eval()
    with torch.no_grad():
        a = net(x, ops, bits, quantize=False)
        b = sub(x)
    return float((a - b).abs().max())
