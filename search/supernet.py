"""The weight-sharing supernet of a :class:`~coexplore.search.space.JointSpace` (torch).

Every slot holds all its MBConv operators in one set of shared weights (:class:`SlotBlock`;
``skip`` where the slot keeps its shape is the identity); every conv of a block is
fake-quantized at the bit-width chosen for the slot, weights per
output channel and inputs per tensor, with the quantization core's own quantizers
(``fake_quantize_weight`` on the current weights, min/max range, straight-through rounding;
``ActQuantizer`` per bit-width with an LSQ step size). The stem and head stay at 8 bits, as
the cost model prices them.

One step runs one sub-network (GDAS-style path sampling): the caller picks an operator and a
bit-width per slot and passes straight-through weights (value 1, gradient towards the
architecture logits); the output of the chosen block is multiplied by them, so the logits of
the chosen choices get a gradient through the task loss at the cost of one sub-network.

Example:
    >>> net = Supernet(get_space("micro"), num_classes=10)
    >>> logits = net(x, ops=[0] * 7, bits=[2] * 7)  # (B, 10)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coexplore.quant.quantizers import ActQuantizer, fake_quantize_weight
from coexplore.search.space import OPERATORS, SKIP, JointSpace

__all__ = ["Supernet", "QConvBN", "SlotBlock", "qconv", "FIXED_BITS"]

#: Bits of the stem and head (not searched), as in the cost model's workloads.
FIXED_BITS = 8


class QConvBN(nn.Module):
    """Conv + BN whose weight and input are fake-quantized at the bits passed to ``forward``."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int, groups: int, bits: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act_q = nn.ModuleDict({str(b): ActQuantizer(b) for b in bits})

    def forward(self, x: torch.Tensor, bits: int | None) -> torch.Tensor:  # (B,C,H,W)
        aq = None if bits is None else self.act_q[str(bits)]
        y = qconv(x, self.conv.weight, self.conv.stride[0], self.conv.groups, bits, aq)
        return self.bn(y)


def qconv(
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int,
    groups: int,
    bits: int | None,
    act_q: ActQuantizer | None,
) -> torch.Tensor:
    """Convolution with its input and weight fake-quantized at ``bits`` (None: FP)."""
    if bits is not None and act_q is not None:
        if not act_q.calibrated:  # first use of this width: range from this batch
            act_q.calibrate(x[:2].detach())  # two images: a cheap, fair first range
        x = act_q(x)
        w = fake_quantize_weight(w, bits)
    return F.conv2d(x, w, None, stride, w.shape[-1] // 2, 1, groups)


class SlotBlock(nn.Module):
    """Every MBConv operator of one slot in one set of weights (single-path, as in
    Single-Path NAS): the largest expansion's 1x1 convs and the 7x7 depthwise kernel; an
    operator (k, e) uses the first ``cin * e`` hidden channels and the centre k x k of the
    kernel. Each operator keeps its own BatchNorm layers (their statistics differ) and each
    conv one activation quantizer per bit-width.

    With shared weights every step trains every operator a little, so the supernet learns
    in the few hundred steps a CPU affords; with separate blocks per operator the training
    loss stayed near chance on digits for as many steps as a fixed network needs to learn.
    """

    def __init__(self, cin: int, cout: int, stride: int, bits: tuple[int, ...]) -> None:
        super().__init__()
        e_max = max(e for _, e in OPERATORS)
        k_max = max(k for k, _ in OPERATORS)
        hidden = cin * e_max
        self.cin, self.stride = cin, stride
        self.residual = stride == 1 and cin == cout
        self.w_expand = nn.Parameter(torch.empty(hidden, cin, 1, 1))
        self.w_dw = nn.Parameter(torch.empty(hidden, 1, k_max, k_max))
        self.w_project = nn.Parameter(torch.empty(cout, hidden, 1, 1))
        for w in (self.w_expand, self.w_dw, self.w_project):
            nn.init.kaiming_normal_(w, mode="fan_out")
        self.bn = nn.ModuleList(
            nn.ModuleList([nn.BatchNorm2d(cin * e), nn.BatchNorm2d(cin * e), nn.BatchNorm2d(cout)])
            for _, e in OPERATORS
        )
        self.act_q = nn.ModuleList(
            nn.ModuleDict({str(b): ActQuantizer(b) for b in bits}) for _ in range(3)
        )

    def forward(self, x: torch.Tensor, op: int, bits: int | None) -> torch.Tensor:
        k, e = OPERATORS[op]
        h = self.cin * e
        off = (self.w_dw.shape[-1] - k) // 2
        bn = self.bn[op]
        q = [None if bits is None else self.act_q[i][str(bits)] for i in range(3)]
        y = F.relu6(bn[0](qconv(x, self.w_expand[:h], 1, 1, bits, q[0])))
        w_dw = self.w_dw[:h, :, off : off + k, off : off + k]
        y = F.relu6(bn[1](qconv(y, w_dw, self.stride, h, bits, q[1])))
        y = bn[2](qconv(y, self.w_project[:, :h], 1, 1, bits, q[2]))
        return x + y if self.residual else y


class Supernet(nn.Module):
    """All candidate blocks of ``space``, sharing nothing but the stem and head.

    Args:
        space: The joint space (its stem, slots and head define the layers).
        num_classes: Outputs of the classifier.
    """

    def __init__(self, space: JointSpace, num_classes: int = 10) -> None:
        super().__init__()
        self.space = space
        (stem,) = space.stem
        fixed = (FIXED_BITS,)
        self.stem = QConvBN(3, stem.out_channels, stem.kernel_h, stem.stride, 1, fixed)
        self.slots = nn.ModuleList(
            SlotBlock(slot.in_channels, slot.out_channels, slot.stride, space.bits)
            for slot in space.slots
        )
        head = space.head[0]
        self.head = QConvBN(head.in_channels, head.out_channels, 1, 1, 1, fixed)
        self.classifier = nn.Linear(head.out_channels, num_classes)

    def forward(
        self,
        x: torch.Tensor,
        ops: list[int] | np.ndarray,
        bits: list[int] | np.ndarray | None,
        op_weight: torch.Tensor | None = None,
        bit_weight: torch.Tensor | None = None,
        quantize: bool = True,
    ) -> torch.Tensor:
        """Runs the sub-network ``ops`` at ``bits`` (indices into ``space.bits``).

        Args:
            x: Images (B, 3, 32, 32), normalised.
            ops, bits: One operator and one bit index per slot.
            op_weight, bit_weight: (S,) straight-through weights of the chosen choices
                (value 1); their gradient reaches the architecture logits.
            quantize: False runs every layer in floating point.

        Returns:
            Logits (B, num_classes).
        """
        fixed = FIXED_BITS if quantize else None
        y = F.relu6(self.stem(x, fixed))  # (B, C, 32, 32)
        for s, block in enumerate(self.slots):
            op = int(ops[s])
            if op == SKIP:
                out = y
            else:
                b = self.space.bits[int(bits[s])] if (quantize and bits is not None) else None
                out = block(y, op, b)
            if op_weight is not None:
                out = out * op_weight[s]
            if bit_weight is not None and op != SKIP:
                out = out * bit_weight[s]
            y = out
        y = F.relu6(self.head(y, fixed))
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)  # (B, C_head)
        return self.classifier(y)

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter (convolution, BN, classifier, LSQ step sizes)."""
        return [p for p in self.parameters() if p.requires_grad]
