"""Layers and workloads: the shapes and bit-widths the cost model prices.

A :class:`Workload` is an ordered tuple of :class:`Layer` records. ``Workload.arrays()`` turns it
into column arrays (one entry per layer) for the vectorised cost model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from coexplore.config import check_range
from coexplore.errors import ConfigError

__all__ = ["Layer", "Workload", "LayerArrays", "LAYER_KINDS", "BIT_RANGE"]

LAYER_KINDS = ("conv", "depthwise", "pointwise", "linear")
BIT_RANGE = (2, 16)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution or fully connected layer.

    Args:
        name: Unique name within the workload (a module name when extracted from torch).
        kind: ``conv``, ``depthwise``, ``pointwise`` or ``linear``.
        in_channels, out_channels: Channel counts (features for ``linear``).
        in_h, in_w: Input feature-map size (1 for ``linear``).
        kernel_h, kernel_w, stride, padding: Convolution geometry (1/1/1/0 for ``linear``);
            ``padding`` pads the rows, and the columns too unless ``padding_w`` is given.
        padding_w: Column padding when it differs from the rows' (a 1x7 kernel pads 0 and 3).
        dilation: Spacing of the kernel taps (MACs are unchanged; the window widens to
            ``dilation * (kernel - 1) + 1``).
        groups: Channel groups; ``depthwise`` has ``groups == in_channels == out_channels``.
        w_bits, a_bits: Weight and input-activation bit-widths.
        batch: Images per inference call.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    in_h: int = 1
    in_w: int = 1
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    w_bits: int = 8
    a_bits: int = 8
    batch: int = 1
    padding_w: int | None = None
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ConfigError(
                f"layer {self.name!r}: `kind` must be one of {', '.join(LAYER_KINDS)}, "
                f"but got {self.kind!r}."
            )
        for field in (
            "in_channels",
            "out_channels",
            "in_h",
            "in_w",
            "kernel_h",
            "kernel_w",
            "stride",
            "groups",
            "batch",
            "dilation",
        ):
            value = getattr(self, field)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(
                    f"layer {self.name!r}: `{field}` must be a positive integer, but got {value!r}."
                )
        for field in ("padding", "padding_w"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int | np.integer) or value < 0):
                raise ConfigError(
                    f"layer {self.name!r}: `{field}` must be an integer >= 0, got {value!r}."
                )
        for field in ("w_bits", "a_bits"):
            check_range(f"{self.name}.{field}", getattr(self, field), *BIT_RANGE)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ConfigError(
                f"layer {self.name!r}: `groups` ({self.groups}) must divide in_channels "
                f"({self.in_channels}) and out_channels ({self.out_channels})."
            )
        if self.kind == "depthwise" and not (self.groups == self.in_channels == self.out_channels):
            raise ConfigError(
                f"layer {self.name!r}: a depthwise layer needs groups == in_channels == "
                f"out_channels, got {self.groups}/{self.in_channels}/{self.out_channels}; "
                f"use kind='conv' for other grouped convolutions."
            )
        if self.kind in ("pointwise", "linear") and (self.kernel_h, self.kernel_w) != (1, 1):
            raise ConfigError(f"layer {self.name!r}: a {self.kind} layer has a 1x1 kernel.")
        if self.out_h < 1 or self.out_w < 1:
            raise ConfigError(
                f"layer {self.name!r}: kernel {self.kernel_h}x{self.kernel_w} with padding "
                f"{self.padding} does not fit the {self.in_h}x{self.in_w} input."
            )

    @property
    def pad_w(self) -> int:
        return self.padding if self.padding_w is None else self.padding_w

    @property
    def out_h(self) -> int:
        window = self.dilation * (self.kernel_h - 1) + 1
        return (self.in_h + 2 * self.padding - window) // self.stride + 1

    @property
    def out_w(self) -> int:
        window = self.dilation * (self.kernel_w - 1) + 1
        return (self.in_w + 2 * self.pad_w - window) // self.stride + 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one call (all ``batch`` images)."""
        per_group = (self.in_channels // self.groups) * self.kernel_h * self.kernel_w
        return self.batch * self.out_channels * self.out_h * self.out_w * per_group

    @property
    def weight_count(self) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_h * self.kernel_w

    def with_bits(self, w_bits: int, a_bits: int) -> Layer:
        return dataclasses.replace(self, w_bits=int(w_bits), a_bits=int(a_bits))


@dataclasses.dataclass(frozen=True)
class LayerArrays:
    """Column view of a workload: each field is an int64 array with one entry per layer."""

    batch: np.ndarray
    groups: np.ndarray
    k: np.ndarray  # output channels per group
    c: np.ndarray  # input channels per group
    p: np.ndarray  # output rows
    q: np.ndarray  # output columns
    r: np.ndarray  # kernel rows
    s: np.ndarray  # kernel columns
    stride: np.ndarray
    dilation: np.ndarray
    in_h: np.ndarray
    in_w: np.ndarray
    w_bits: np.ndarray
    a_bits: np.ndarray

    @property
    def macs(self) -> np.ndarray:
        return self.batch * self.groups * self.k * self.c * self.p * self.q * self.r * self.s


@dataclasses.dataclass(frozen=True)
class Workload:
    """An ordered set of layers, priced as one inference of ``batch`` images.

    Example:
        >>> from coexplore.accel_model import get_network
        >>> wl = get_network("resnet20")
        >>> round(wl.total_macs / 1e6, 1)
        40.6
    """

    name: str
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ConfigError(f"workload {self.name!r} has no layers; give at least one.")
        names = [layer.name for layer in self.layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"workload {self.name!r}: layer names repeat: {', '.join(dupes)}.")

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def batch(self) -> int:
        return self.layers[0].batch

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def with_bits(
        self, w_bits: int | Sequence[int], a_bits: int | Sequence[int] | None = None
    ) -> Workload:
        """Returns a copy with uniform (an int) or per-layer (a sequence) bit-widths."""
        if a_bits is None:
            a_bits = w_bits
        n = len(self.layers)
        wb = [int(w_bits)] * n if np.isscalar(w_bits) else [int(b) for b in w_bits]
        ab = [int(a_bits)] * n if np.isscalar(a_bits) else [int(b) for b in a_bits]
        if len(wb) != n or len(ab) != n:
            raise ConfigError(
                f"workload {self.name!r} has {n} layers, but got {len(wb)} weight and "
                f"{len(ab)} activation bit-widths; give one per layer or a single value."
            )
        layers = tuple(ly.with_bits(w, a) for ly, w, a in zip(self.layers, wb, ab, strict=True))
        return dataclasses.replace(self, layers=layers)

    def with_batch(self, batch: int) -> Workload:
        layers = tuple(dataclasses.replace(ly, batch=int(batch)) for ly in self.layers)
        return dataclasses.replace(self, layers=layers)

    def arrays(self) -> LayerArrays:
        """Column arrays for the vectorised cost model."""

        def col(fn: Any) -> np.ndarray:
            return np.array([fn(ly) for ly in self.layers], dtype=np.int64)

        return LayerArrays(
            batch=col(lambda ly: ly.batch),
            groups=col(lambda ly: ly.groups),
            k=col(lambda ly: ly.out_channels // ly.groups),
            c=col(lambda ly: ly.in_channels // ly.groups),
            p=col(lambda ly: ly.out_h),
            q=col(lambda ly: ly.out_w),
            r=col(lambda ly: ly.kernel_h),
            s=col(lambda ly: ly.kernel_w),
            stride=col(lambda ly: ly.stride),
            dilation=col(lambda ly: ly.dilation),
            in_h=col(lambda ly: ly.in_h),
            in_w=col(lambda ly: ly.in_w),
            w_bits=col(lambda ly: ly.w_bits),
            a_bits=col(lambda ly: ly.a_bits),
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "layers": [...]}``; a layer's fields at their defaults are left out for
        ``padding_w`` and ``dilation``, so files written before they existed read the same."""
        layers = []
        for ly in self.layers:
            d = dataclasses.asdict(ly)
            if d["padding_w"] is None:
                del d["padding_w"]
            if d["dilation"] == 1:
                del d["dilation"]
            layers.append(d)
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workload:
        fields = [f.name for f in dataclasses.fields(Layer)]
        if not isinstance(data, dict) or "layers" not in data or "name" not in data:
            raise ConfigError(
                "a workload needs `name` and `layers` (a list of layer records with the fields "
                f"{', '.join(fields)}); see `Workload.to_dict`."
            )
        layers = []
        for i, ly in enumerate(data["layers"]):
            if not isinstance(ly, dict):
                raise ConfigError(f"layer {i}: a record of fields, got {ly!r}.")
            unknown = sorted(set(ly) - set(fields))
            if unknown:
                raise ConfigError(
                    f"layer {ly.get('name', i)!r}: unknown field(s) {', '.join(unknown)}; "
                    f"valid fields: {', '.join(fields)}."
                )
            try:
                layers.append(Layer(**ly))
            except TypeError as exc:  # a required field is missing
                raise ConfigError(f"layer {ly.get('name', i)!r}: {exc}") from None
        return cls(name=str(data["name"]), layers=tuple(layers))


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def log2_ceil(x: int) -> int:
    return max(0, math.ceil(math.log2(max(1, x))))
