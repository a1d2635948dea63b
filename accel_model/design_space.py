"""Discrete accelerator design spaces: enumeration, seeded sampling and a numeric encoding."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from coexplore.accel_model.accelerator import DATAFLOWS, MAC_MODES, Accelerator, AcceleratorBatch
from coexplore.errors import ConfigError
from coexplore.registry import Registry

__all__ = ["DesignSpace", "DESIGN_SPACES", "get_design_space", "PARAMETERS"]

# Order of parameters in index arrays and encodings.
PARAMETERS = (
    "pe_rows",
    "pe_cols",
    "rf_bytes",
    "glb_kib",
    "glb_bits_per_cycle",
    "dram_bytes_per_cycle",
    "clock_hz",
    "dataflow",
    "mac_mode",
)


@dataclasses.dataclass(frozen=True)
class DesignSpace:
    """A grid of accelerator configurations: one tuple of choices per parameter.

    Args:
        name: Registry name.
        choices: Parameter -> allowed values, for every name in :data:`PARAMETERS`.
        mac_bits: Datapath width of ``fixed`` MAC mode (``bitfusion`` is always 8).

    Example:
        >>> space = get_design_space("edge")
        >>> accs = space.sample(4, seed=0)
        >>> len(accs)
        4
    """

    name: str
    choices: dict[str, tuple[Any, ...]]
    mac_bits: int = 8

    def __post_init__(self) -> None:
        missing = [p for p in PARAMETERS if p not in self.choices]
        extra = [p for p in self.choices if p not in PARAMETERS]
        if missing or extra:
            raise ConfigError(
                f"design space {self.name!r}: parameters must be exactly {', '.join(PARAMETERS)}; "
                f"missing {missing}, unknown {extra}."
            )
        for p, vals in self.choices.items():
            if not vals:
                raise ConfigError(f"design space {self.name!r}: `{p}` has no choices.")
        for v in self.choices["dataflow"]:
            if v not in DATAFLOWS:
                raise ConfigError(f"dataflow must be one of {DATAFLOWS}, got {v!r}.")
        for v in self.choices["mac_mode"]:
            if v not in MAC_MODES:
                raise ConfigError(f"mac_mode must be one of {MAC_MODES}, got {v!r}.")

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.choices[p]) for p in PARAMETERS)

    @property
    def size(self) -> int:
        return math.prod(self.sizes)

    @property
    def encoding_dim(self) -> int:
        return sum(self.sizes)

    def all_indices(self) -> np.ndarray:
        """Every configuration as an (size, n_params) int array of choice indices."""
        grids = np.indices(self.sizes, dtype=np.int32).reshape(len(PARAMETERS), -1)
        return grids.T.copy()

    def sample_indices(self, n: int, seed: int) -> np.ndarray:
        """``n`` configurations drawn uniformly with replacement, seeded."""
        rng = np.random.default_rng(seed)
        return np.stack([rng.integers(0, s, size=n) for s in self.sizes], axis=1)

    def batch(self, indices: np.ndarray) -> AcceleratorBatch:
        """Choice indices (n, n_params) -> an :class:`AcceleratorBatch`."""
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != len(PARAMETERS):
            raise ConfigError(f"indices must have shape (n, {len(PARAMETERS)}), got {idx.shape}.")
        cols: dict[str, np.ndarray] = {}
        for j, p in enumerate(PARAMETERS):
            vals = self.choices[p]
            if p == "dataflow":
                table = np.array([DATAFLOWS.index(v) for v in vals], dtype=np.int64)
            elif p == "mac_mode":
                table = np.array([MAC_MODES.index(v) for v in vals], dtype=np.int64)
            elif p in ("dram_bytes_per_cycle", "clock_hz"):
                table = np.array(vals, dtype=np.float64)
            else:
                table = np.array(vals, dtype=np.int64)
            cols[p] = table[idx[:, j]]
        cols["mac_bits"] = np.full(idx.shape[0], self.mac_bits, dtype=np.int64)
        cols["psum_bits"] = np.zeros(idx.shape[0], dtype=np.int64)
        return AcceleratorBatch(**cols)

    def sample(self, n: int, seed: int) -> AcceleratorBatch:
        return self.batch(self.sample_indices(n, seed))

    def encode(self, indices: np.ndarray) -> np.ndarray:
        """One-hot encoding, (n, encoding_dim) float32, one block per parameter."""
        idx = np.asarray(indices)
        out = np.zeros((idx.shape[0], self.encoding_dim), dtype=np.float32)
        offset = 0
        for j, s in enumerate(self.sizes):
            out[np.arange(idx.shape[0]), offset + idx[:, j]] = 1.0
            offset += s
        return out

    def decode(self, encoding: np.ndarray) -> np.ndarray:
        """Encodings (hard or relaxed probabilities) -> choice indices by argmax per block."""
        enc = np.asarray(encoding)
        if enc.ndim != 2 or enc.shape[1] != self.encoding_dim:
            raise ConfigError(
                f"encoding must have shape (n, {self.encoding_dim}), got {enc.shape}."
            )
        cols, offset = [], 0
        for s in self.sizes:
            cols.append(enc[:, offset : offset + s].argmax(axis=1))
            offset += s
        return np.stack(cols, axis=1)

    def index_of(self, acc: Accelerator) -> np.ndarray:
        """Choice indices of ``acc``; ConfigError if a value is not in this space."""
        out = []
        for p in PARAMETERS:
            v = getattr(acc, p)
            vals = self.choices[p]
            if v not in vals:
                raise ConfigError(f"{p}={v!r} is not in design space {self.name!r}: {vals}.")
            out.append(vals.index(v))
        return np.array(out)


DESIGN_SPACES: Registry = Registry("design space")

# Edge scale (RESEARCH.md s.2): small arrays and buffers, so that 30 fps on a CIFAR-scale
# network binds: ResNet-20 needs ~41 MMAC per frame, i.e. >= 1.2 GMAC/s at 30 fps, which a
# 4x4 array at 100 MHz (1.6 GMAC/s peak) only just reaches; 2-PE rows/columns and 50 MHz
# extend the space below the bound.
DESIGN_SPACES.register(
    "edge",
    DesignSpace(
        "edge",
        {
            "pe_rows": (2, 4, 8, 12, 16, 24, 32),
            "pe_cols": (2, 4, 8, 14, 16, 24, 32),
            "rf_bytes": (16, 64, 256, 512),
            "glb_kib": (16, 32, 64, 128, 256, 512),
            "glb_bits_per_cycle": (64, 128, 256, 512),
            "dram_bytes_per_cycle": (4.0, 8.0, 16.0, 32.0),
            "clock_hz": (50e6, 100e6, 200e6, 400e6),
            "dataflow": DATAFLOWS,
            "mac_mode": MAC_MODES,
        },
    ),
)
# Microcontroller class: 2-16 PEs, 2-12 MHz clocks (an ultra-low-power MCU's accelerator),
# 4-32 KiB buffers, narrow buffer and DRAM ports. The co-search's default space: even its
# fastest design runs the largest 8-bit network of the `micro` joint space below 30 fps (a
# test holds this), so a 30 fps bound trades operators and bit-widths against each other
# (in `edge`, 91 % of the designs run ResNet-20 at 30 fps and the bound hardly binds).
DESIGN_SPACES.register(
    "micro",
    DesignSpace(
        "micro",
        {
            "pe_rows": (1, 2, 4),
            "pe_cols": (2, 4),
            "rf_bytes": (16, 64),
            "glb_kib": (4, 8, 16, 32),
            "glb_bits_per_cycle": (16, 32, 64),
            "dram_bytes_per_cycle": (0.5, 1.0, 2.0),
            "clock_hz": (2e6, 4e6, 8e6, 12e6),
            "dataflow": DATAFLOWS,
            "mac_mode": MAC_MODES,
        },
    ),
)
DESIGN_SPACES.register(
    "tiny",
    DesignSpace(
        "tiny",
        {
            "pe_rows": (4, 8),
            "pe_cols": (4, 8),
            "rf_bytes": (64, 256),
            "glb_kib": (32, 128),
            "glb_bits_per_cycle": (128,),
            "dram_bytes_per_cycle": (8.0,),
            "clock_hz": (200e6,),
            "dataflow": DATAFLOWS,
            "mac_mode": MAC_MODES,
        },
    ),
)


def get_design_space(name: str) -> DesignSpace:
    """A registered design space by name (``edge``, ``micro``, ``tiny``)."""
    return DESIGN_SPACES.get(name)
