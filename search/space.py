"""The joint search space: architecture slots x per-slot bit-widths x accelerator parameters.

Torch-free. An architecture is a fixed stem, a sequence of searchable MBConv *slots* and a
fixed head. Each slot chooses an operator (an inverted-residual block with kernel 3/5/7 and
expansion 3/6, or ``skip`` where the block keeps its shape) and a bit-width.

Bits are chosen jointly per slot (the same width for weights and activations of every layer
in the block) rather than separately per tensor: it halves the encoding, matches how the
quantization core names configurations (W4A4...), and a Bit Fusion PE packs best when both
operands share a width. Stem and head stay at 8 bits, as quantization protocol B keeps them.

An encoding is one one-hot (or relaxed probability) block per slot operator, per slot
bit-width, then per accelerator parameter (:meth:`DesignSpace.encode`).

Example:
    >>> space = get_space("tiny")
    >>> ops, bits, hw = space.sample(4, seed=0)
    >>> space.encode(ops, bits, hw).shape[0]
    4
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from coexplore.accel_model import DesignSpace, Layer, Workload, get_design_space
from coexplore.accel_model.accelerator import Accelerator
from coexplore.errors import ConfigError
from coexplore.registry import Registry

__all__ = ["OPERATORS", "SKIP", "BITS", "Slot", "JointSpace", "SPACES", "get_space"]

# (kernel, expansion) of each MBConv operator; index len(OPERATORS) is "skip".
OPERATORS: tuple[tuple[int, int], ...] = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
SKIP = len(OPERATORS)
BITS: tuple[int, ...] = (2, 3, 4, 6, 8)


def operator_name(op: int) -> str:
    if op == SKIP:
        return "skip"
    k, e = OPERATORS[op]
    return f"mb_k{k}_e{e}"


@dataclasses.dataclass(frozen=True)
class Slot:
    """One searchable block position: its input/output channels, stride and input size."""

    name: str
    in_channels: int
    out_channels: int
    stride: int
    in_size: int

    @property
    def allows_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def out_size(self) -> int:
        return math.ceil(self.in_size / self.stride)

    def layers(self, op: int, bits: int) -> tuple[Layer, ...]:
        """The layers of operator ``op`` at ``bits`` (none for ``skip``)."""
        if op == SKIP:
            if not self.allows_skip:
                raise ConfigError(
                    f"slot {self.name!r} changes shape ({self.in_channels}->{self.out_channels}, "
                    f"stride {self.stride}), so it cannot be skipped."
                )
            return ()
        k, e = OPERATORS[op]
        hidden = self.in_channels * e
        size = self.in_size  # feature-map height = width
        return (
            Layer(
                f"{self.name}.expand",
                "pointwise",
                self.in_channels,
                hidden,
                size,
                size,
                w_bits=bits,
                a_bits=bits,
            ),
            Layer(
                f"{self.name}.dw",
                "depthwise",
                hidden,
                hidden,
                size,
                size,
                k,
                k,
                self.stride,
                k // 2,
                hidden,
                bits,
                bits,
            ),
            Layer(
                f"{self.name}.project",
                "pointwise",
                hidden,
                self.out_channels,
                self.out_size,
                self.out_size,
                w_bits=bits,
                a_bits=bits,
            ),
        )


@dataclasses.dataclass(frozen=True)
class JointSpace:
    """Architecture slots x per-slot bits x an accelerator design space.

    Args:
        name: Registry name.
        stem, head: Fixed layers before and after the slots (8-bit).
        slots: The searchable positions, in order.
        hardware: The accelerator :class:`DesignSpace`.
        bits: Bit-width choices per slot.
    """

    name: str
    stem: tuple[Layer, ...]
    slots: tuple[Slot, ...]
    head: tuple[Layer, ...]
    hardware: DesignSpace
    bits: tuple[int, ...] = BITS

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    @property
    def n_ops(self) -> int:
        return len(OPERATORS) + 1

    @property
    def skip_allowed(self) -> np.ndarray:
        """(slots,) bool: where ``skip`` is a valid choice."""
        return np.array([s.allows_skip for s in self.slots])

    @property
    def size(self) -> int:
        """Number of distinct (architecture, bits, accelerator) points."""
        arch = math.prod(len(OPERATORS) + int(s.allows_skip) for s in self.slots)
        return arch * len(self.bits) ** self.n_slots * self.hardware.size

    @property
    def encoding_dim(self) -> int:
        return self.n_slots * (self.n_ops + len(self.bits)) + self.hardware.encoding_dim

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` uniform samples: operator indices (n, slots), bit indices (n, slots) and
        accelerator choice indices (n, params)."""
        rng = np.random.default_rng(seed)
        n_choices = np.where(self.skip_allowed, self.n_ops, len(OPERATORS))
        ops = (rng.random((n, self.n_slots)) * n_choices).astype(np.int64)
        bits = rng.integers(0, len(self.bits), size=(n, self.n_slots))
        hw = self.hardware.sample_indices(n, seed + 1)
        return ops, bits, hw

    def validate(self, ops: np.ndarray, bits: np.ndarray) -> None:
        ops, bits = np.asarray(ops), np.asarray(bits)
        if ops.shape[-1] != self.n_slots or bits.shape[-1] != self.n_slots:
            raise ConfigError(
                f"space {self.name!r} has {self.n_slots} slots, got operator/bits arrays "
                f"of shape {ops.shape} and {bits.shape}."
            )
        if np.any((ops == SKIP) & ~self.skip_allowed):
            bad = [
                self.slots[j].name
                for j in np.unique(np.nonzero((ops == SKIP) & ~self.skip_allowed)[-1])
            ]
            raise ConfigError(f"slots {bad} change shape and cannot be skipped.")
        if np.any((ops < 0) | (ops > SKIP)) or np.any((bits < 0) | (bits >= len(self.bits))):
            raise ConfigError("operator or bit-width index out of range.")

    def encode(self, ops: np.ndarray, bits: np.ndarray, hw: np.ndarray) -> np.ndarray:
        """Hard choices -> one-hot encodings (n, encoding_dim), float32."""
        ops, bits = np.atleast_2d(ops), np.atleast_2d(bits)
        self.validate(ops, bits)
        n = ops.shape[0]
        rows = np.arange(n)[:, None]
        arch = np.zeros((n, self.n_slots, self.n_ops), dtype=np.float32)
        arch[rows, np.arange(self.n_slots)[None, :], ops] = 1.0
        bit = np.zeros((n, self.n_slots, len(self.bits)), dtype=np.float32)
        bit[rows, np.arange(self.n_slots)[None, :], bits] = 1.0
        return np.concatenate(
            [arch.reshape(n, -1), bit.reshape(n, -1), self.hardware.encode(np.atleast_2d(hw))],
            axis=1,
        )

    def split(self, encoding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encodings (hard or relaxed) -> (ops probs (n, S, O), bits probs (n, S, B), hw)."""
        enc = np.asarray(encoding)
        if enc.ndim != 2 or enc.shape[1] != self.encoding_dim:
            raise ConfigError(
                f"encodings of space {self.name!r} have shape (n, {self.encoding_dim}), "
                f"got {enc.shape}."
            )
        n = enc.shape[0]
        return (
            enc[:, self.ops_slice].reshape(n, self.n_slots, self.n_ops),
            enc[:, self.bits_slice].reshape(n, self.n_slots, len(self.bits)),
            enc[:, self.hw_slice],
        )

    # -- the layout of an encoding: [operators | bits | accelerator] -------------------------
    @property
    def ops_slice(self) -> slice:
        """Columns of the operator one-hots, slot-major (S * O)."""
        return slice(0, self.n_slots * self.n_ops)

    @property
    def bits_slice(self) -> slice:
        """Columns of the bit-width one-hots, slot-major (S * B)."""
        return slice(self.ops_slice.stop, self.ops_slice.stop + self.n_slots * len(self.bits))

    @property
    def arch_dim(self) -> int:
        """Width of the (architecture, bits) part, which precedes the accelerator part."""
        return self.bits_slice.stop

    @property
    def hw_slice(self) -> slice:
        """Columns of the accelerator parameters' one-hots."""
        return slice(self.arch_dim, self.encoding_dim)

    def decode(self, encoding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encodings (hard or relaxed probabilities) -> index arrays, by argmax per block;
        ``skip`` is never chosen where a slot changes shape."""
        arch, bit, hw = self.split(encoding)
        arch = np.where(
            self.skip_allowed[None, :, None] | (np.arange(self.n_ops) != SKIP), arch, -np.inf
        )
        return arch.argmax(axis=2), bit.argmax(axis=2), self.hardware.decode(hw)

    def workload(self, ops: np.ndarray, bits: np.ndarray, batch: int = 1) -> Workload:
        """The layers of one architecture with its per-slot bit-widths."""
        ops, bits = np.asarray(ops).reshape(-1), np.asarray(bits).reshape(-1)
        self.validate(ops[None], bits[None])
        layers = list(self.stem)
        for slot, op, b in zip(self.slots, ops, bits, strict=True):
            layers += slot.layers(int(op), self.bits[int(b)])
        layers += self.head
        wl = Workload(f"{self.name}:" + "-".join(operator_name(int(o)) for o in ops), tuple(layers))
        return wl.with_batch(batch) if batch != 1 else wl

    def accelerator(self, hw: np.ndarray) -> Accelerator:
        return self.hardware.batch(np.asarray(hw).reshape(1, -1)).get(0)

    def fingerprint(self) -> str:
        """A short hash of everything that defines the space (layers, slots, bits, accelerator
        grid): caches of models trained on a space are keyed by it, so a changed space is
        never served a stale evaluator."""
        import hashlib

        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]

    def describe(self, ops: np.ndarray, bits: np.ndarray) -> str:
        return " ".join(
            f"{operator_name(int(o))}@{self.bits[int(b)]}b"
            for o, b in zip(np.ravel(ops), np.ravel(bits), strict=True)
        )


def _mbv2_like(
    name: str,
    stem_out: int,
    stages: tuple[tuple[int, int, int], ...],
    head_out: int,
    hardware: str,
    stem_stride: int = 1,
) -> JointSpace:
    """A 32x32 space: stem conv, stages of (out channels, slots, first stride), 1x1 head."""
    stem = (Layer("stem", "conv", 3, stem_out, 32, 32, 3, 3, stem_stride, 1),)
    slots, c, size = [], stem_out, math.ceil(32 / stem_stride)
    for s_idx, (out, n, stride) in enumerate(stages, start=1):
        for j in range(n):
            slot = Slot(f"s{s_idx}.{j}", c, out, stride if j == 0 else 1, size)
            slots.append(slot)
            c, size = out, slot.out_size
    head = (
        Layer("head", "pointwise", c, head_out, size, size),
        Layer("classifier", "linear", head_out, 10),
    )
    return JointSpace(name, stem, tuple(slots), head, get_design_space(hardware))


SPACES: Registry = Registry("search space")
# 12 slots in 4 stages, 32x32 -> 8x8 (MobileNetV2/ProxylessNAS-style, as in DANCE).
SPACES.register(
    "mbv2-cifar",
    _mbv2_like("mbv2-cifar", 32, ((24, 2, 1), (32, 3, 2), (64, 4, 2), (96, 3, 1)), 1280, "edge"),
)
# The co-search's default: a strided stem (32x32 -> 16x16), then 7 slots in 4 stages down to
# 4x4, on microcontroller-class accelerators where 30 fps binds; small enough that a
# supernet training step takes a fraction of a second on 2 CPU cores.
SPACES.register(
    "micro",
    _mbv2_like(
        "micro", 16, ((16, 1, 1), (24, 2, 2), (32, 2, 2), (48, 2, 1)), 256, "micro", stem_stride=2
    ),
)
# 4 slots, a few thousand architectures: for fast tests.
SPACES.register("tiny", _mbv2_like("tiny", 16, ((16, 2, 1), (32, 2, 2)), 64, "tiny"))


def get_space(name: str) -> JointSpace:
    """A registered joint space (``search spaces`` lists them)."""
    return SPACES.get(name)
