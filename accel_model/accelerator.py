"""The Eyeriss-like spatial-array accelerator template.

A PE array of ``pe_rows x pe_cols`` processing elements, each with a MAC unit and a register
file (RF), a shared global buffer (GLB) fed from DRAM, and one of three dataflows:

- ``ws`` weight-stationary systolic array (TPU-like): rows reduce over C*R*S, columns hold
  output channels, output pixels stream through.
- ``os`` output-stationary systolic array: rows hold output pixels, columns output channels,
  the reduction streams through.
- ``rs`` row-stationary (Eyeriss): rows hold filter rows (replicated over input channels),
  columns hold output rows (replicated over output channels); each PE runs a 1-D convolution.

MAC modes: ``fixed`` (one MAC per PE per cycle at up to ``mac_bits``) or ``bitfusion``
(an 8-bit datapath of 2-bit bricks that runs (8/w)*(8/a) low-bit MACs per cycle).

Partial sums are kept at the accumulator's full width (the product's bits plus the
reduction's growth, at most 32) unless ``psum_bits`` narrows them, as Eyeriss keeps its
partial sums at 16 bits in the PEs and the global buffer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

from coexplore.config import ConfigBase, check_choice, check_range
from coexplore.errors import ConfigError

__all__ = ["Accelerator", "AcceleratorBatch", "DATAFLOWS", "MAC_MODES", "eyeriss"]

DATAFLOWS = ("ws", "os", "rs")
MAC_MODES = ("fixed", "bitfusion")


@dataclasses.dataclass(frozen=True)
class Accelerator(ConfigBase):
    """One accelerator configuration. Units are in the field names.

    Example:
        >>> Accelerator(pe_rows=12, pe_cols=14, dataflow="rs").num_pes
        168
    """

    pe_rows: int = 16
    pe_cols: int = 16
    rf_bytes: int = 64
    glb_kib: int = 128
    glb_bits_per_cycle: int = 256
    dram_bytes_per_cycle: float = 8.0
    clock_hz: float = 200e6
    dataflow: str = "ws"
    mac_mode: str = "fixed"
    mac_bits: int = 8
    psum_bits: int = 0  # stored partial-sum width; 0: the accumulator's full width

    def __post_init__(self) -> None:
        check_range("pe_rows", self.pe_rows, 1, 1024)
        check_range("pe_cols", self.pe_cols, 1, 1024)
        check_range("rf_bytes", self.rf_bytes, 1, 1 << 20)
        check_range("glb_kib", self.glb_kib, 1, 1 << 20)
        check_range("glb_bits_per_cycle", self.glb_bits_per_cycle, 1, 1 << 16)
        check_range("dram_bytes_per_cycle", self.dram_bytes_per_cycle, 0.01, 4096)
        check_range("clock_hz", self.clock_hz, 1e6, 1e10)
        check_choice("dataflow", self.dataflow, DATAFLOWS)
        check_choice("mac_mode", self.mac_mode, MAC_MODES)
        check_choice("mac_bits", self.mac_bits, (4, 8, 16))
        if self.psum_bits and not self.mac_bits <= self.psum_bits <= 32:
            raise ConfigError(
                f"psum_bits must be 0 (the accumulator's full width) or between mac_bits "
                f"({self.mac_bits}) and 32, but got {self.psum_bits}; partial sums narrower "
                "than the datapath would drop the products' bits."
            )
        if self.mac_mode == "bitfusion" and self.mac_bits != 8:
            raise ConfigError(
                f"a bitfusion datapath is 8 bits wide, but got mac_bits={self.mac_bits}; "
                "use mac_mode='fixed' for other widths."
            )

    @property
    def num_pes(self) -> int:
        return self.pe_rows * self.pe_cols

    def describe(self) -> str:
        """A one-line summary, e.g. ``12x14 rs fixed16 rf512B glb108KiB ...``."""
        mode = "bf8" if self.mac_mode == "bitfusion" else f"fixed{self.mac_bits}"
        if self.psum_bits:
            mode += f" psum{self.psum_bits}"
        return (
            f"{self.pe_rows}x{self.pe_cols} {self.dataflow} {mode} rf{self.rf_bytes}B "
            f"glb{self.glb_kib}KiB glb-bw{self.glb_bits_per_cycle}b "
            f"dram{self.dram_bytes_per_cycle:g}B "
            f"{self.clock_hz / 1e6:g}MHz"
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump({"accelerator": self.to_dict()}, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> Accelerator:
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or not isinstance(data.get("accelerator"), dict):
            raise ConfigError("an accelerator YAML needs a top-level `accelerator:` mapping.")
        return cls.from_dict(data["accelerator"])


_INT_FIELDS = (
    "pe_rows", "pe_cols", "rf_bytes", "glb_kib", "glb_bits_per_cycle", "mac_bits", "psum_bits"
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AcceleratorBatch:
    """Many accelerator configurations as parallel arrays (one entry per configuration).

    ``dataflow`` and ``mac_mode`` hold indices into :data:`DATAFLOWS` and :data:`MAC_MODES`.
    """

    pe_rows: np.ndarray
    pe_cols: np.ndarray
    rf_bytes: np.ndarray
    glb_kib: np.ndarray
    glb_bits_per_cycle: np.ndarray
    dram_bytes_per_cycle: np.ndarray
    clock_hz: np.ndarray
    dataflow: np.ndarray
    mac_mode: np.ndarray
    mac_bits: np.ndarray
    psum_bits: np.ndarray  # 0: the accumulator's full width

    def __len__(self) -> int:
        return int(self.pe_rows.shape[0])

    @classmethod
    def from_accelerators(cls, accs: Sequence[Accelerator]) -> AcceleratorBatch:
        if not accs:
            raise ConfigError("need at least one accelerator to evaluate.")
        cols: dict[str, Any] = {}
        for f in dataclasses.fields(Accelerator):
            vals = [getattr(a, f.name) for a in accs]
            if f.name == "dataflow":
                cols[f.name] = np.array([DATAFLOWS.index(v) for v in vals], dtype=np.int64)
            elif f.name == "mac_mode":
                cols[f.name] = np.array([MAC_MODES.index(v) for v in vals], dtype=np.int64)
            elif f.name in _INT_FIELDS:
                cols[f.name] = np.array(vals, dtype=np.int64)
            else:
                cols[f.name] = np.array(vals, dtype=np.float64)
        return cls(**cols)

    def take(self, idx: np.ndarray | slice) -> AcceleratorBatch:
        return AcceleratorBatch(
            **{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)}
        )

    def get(self, i: int) -> Accelerator:
        """The ``i``-th configuration as an :class:`Accelerator`."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)[i]
            if f.name == "dataflow":
                kw[f.name] = DATAFLOWS[int(v)]
            elif f.name == "mac_mode":
                kw[f.name] = MAC_MODES[int(v)]
            elif f.name in _INT_FIELDS:
                kw[f.name] = int(v)
            else:
                kw[f.name] = float(v)
        return Accelerator(**kw)


def eyeriss() -> Accelerator:
    """Eyeriss v1 (JSSC'17): 12x14 PEs, 512 B RF per PE, 108 KB GLB, 16-bit, RS, 200 MHz.

    The off-chip link is 64 bits at 60 MHz (480 MB/s), i.e. 2.4 bytes per 200 MHz core cycle.
    Three 64-bit buses (ifmap, filter, psum) connect the GLB and the array: 192 bits per cycle.
    Partial sums are 16 bits wide, in the PEs' scratch pads and in the GLB.
    """
    return Accelerator(
        pe_rows=12,
        pe_cols=14,
        rf_bytes=512,
        glb_kib=108,
        glb_bits_per_cycle=192,
        dram_bytes_per_cycle=2.4,
        clock_hz=200e6,
        dataflow="rs",
        mac_mode="fixed",
        mac_bits=16,
        psum_bits=16,
    )
