"""Cost records: :class:`CostBatch` (arrays, many designs) and :class:`CostReport` (one design).

Infeasible designs carry ``feasible=False``, a reason code and the first failing layer; their
latency and energy are ``inf`` and their fps 0, never NaN.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from coexplore.accel_model.accelerator import Accelerator
from coexplore.accel_model.workload import Workload

__all__ = ["CostBatch", "CostReport", "LayerCost", "REASONS", "reason_text"]

REASONS = {
    0: "",
    1: "the layer's bit-width exceeds the MAC datapath",
    2: "the per-PE register file cannot hold one tile",
    3: "the global buffer cannot hold one filter and the input rows it needs",
}
_FIXES = {
    1: "use a wider MAC (mac_bits) or lower the layer's bits",
    2: "choose a larger rf_bytes or another dataflow",
    3: "choose a larger glb_kib",
}

_TOTAL_FIELDS = (
    "latency_cycles",
    "compute_cycles",
    "energy_mac_pj",
    "energy_rf_pj",
    "energy_glb_pj",
    "energy_dram_pj",
    "energy_leak_pj",
    "rf_bits",
    "glb_bits",
    "dram_bits",
    "utilisation",
)


def reason_text(code: int, workload: Workload, layer: int, acc: Accelerator | None = None) -> str:
    """A readable reason (with the fix) for an infeasibility code, or '' when feasible."""
    if code == 0:
        return ""
    name = workload.layers[layer].name if 0 <= layer < len(workload) else f"#{layer}"
    return f"layer {name!r}: {REASONS[code]}; {_FIXES[code]}."


@dataclasses.dataclass(frozen=True)
class CostBatch:
    """Costs of one workload on many configurations: every field is an array (configs,).

    ``layers`` (optional) maps breakdown names to (layers, configs) arrays.
    """

    latency_cycles: np.ndarray
    latency_s: np.ndarray
    fps: np.ndarray
    energy_pj: np.ndarray
    area_mm2: np.ndarray
    power_mw: np.ndarray
    edp_pj_s: np.ndarray
    utilisation: np.ndarray
    compute_cycles: np.ndarray
    energy_mac_pj: np.ndarray
    energy_rf_pj: np.ndarray
    energy_glb_pj: np.ndarray
    energy_dram_pj: np.ndarray
    energy_leak_pj: np.ndarray
    rf_bits: np.ndarray
    glb_bits: np.ndarray
    dram_bits: np.ndarray
    feasible: np.ndarray
    reason_code: np.ndarray
    reason_layer: np.ndarray
    layer_names: tuple[str, ...] = ()
    layers: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.fps.shape[0])

    @property
    def energy_uj(self) -> np.ndarray:
        return self.energy_pj * 1e-6

    @property
    def stall_cycles(self) -> np.ndarray:
        return self.latency_cycles - self.compute_cycles

    @classmethod
    def from_totals(
        cls,
        tot: dict[str, np.ndarray],
        *,
        energy: np.ndarray,
        area_mm2: np.ndarray,
        clock_hz: np.ndarray,
        feasible: np.ndarray,
        reason_code: np.ndarray,
        reason_layer: np.ndarray,
        layers: dict[str, np.ndarray] | None,
        batch: int = 1,
    ) -> CostBatch:
        cycles = np.where(feasible, tot["latency_cycles"], np.inf)
        energy = np.where(feasible, energy, np.inf)
        latency_s = cycles / clock_hz
        with np.errstate(divide="ignore", invalid="ignore"):
            fps = np.where(feasible, batch / latency_s, 0.0)  # frames, not calls
            power_mw = np.where(feasible, energy * 1e-12 / latency_s * 1e3, np.inf)
        fields = {key: tot[key] for key in _TOTAL_FIELDS if key != "latency_cycles"}
        return cls(
            latency_cycles=cycles,
            latency_s=latency_s,
            fps=fps,
            energy_pj=energy,
            area_mm2=np.asarray(area_mm2, dtype=np.float64),
            power_mw=power_mw,
            edp_pj_s=energy * latency_s,
            feasible=feasible,
            reason_code=reason_code,
            reason_layer=reason_layer,
            layers=layers,
            **fields,
        )

    @classmethod
    def concatenate(cls, parts: list[CostBatch], layer_names: list[str]) -> CostBatch:
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "layer_names":
                kw[f.name] = tuple(layer_names)
            elif f.name == "layers":
                if parts[0].layers is None:
                    kw[f.name] = None
                else:
                    kw[f.name] = {
                        k: np.concatenate([pt.layers[k] for pt in parts], axis=1)
                        for k in parts[0].layers
                    }
            else:
                kw[f.name] = np.concatenate([getattr(pt, f.name) for pt in parts])
        return cls(**kw)

    def take(self, idx: np.ndarray) -> CostBatch:
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "layer_names":
                kw[f.name] = v
            elif f.name == "layers":
                kw[f.name] = None if v is None else {k: a[:, idx] for k, a in v.items()}
            else:
                kw[f.name] = v[idx]
        return CostBatch(**kw)


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """One layer's share of a design's cost."""

    name: str
    kind: str
    macs: int
    w_bits: int
    a_bits: int
    latency_cycles: float
    compute_cycles: float
    fill_cycles: float  # systolic fill/drain or rs start-up, included in compute_cycles
    stall_cycles: float
    utilisation: float
    macs_per_pe_cycle: float
    energy_pj: float
    energy_mac_pj: float
    energy_rf_pj: float
    energy_glb_pj: float
    energy_dram_pj: float
    rf_bits: float
    glb_bits: float
    dram_bits: float


@dataclasses.dataclass(frozen=True)
class CostReport:
    """The cost of one workload on one accelerator, with breakdowns. Units in field names."""

    workload: str
    accelerator: Accelerator
    batch: int
    macs: int
    feasible: bool
    infeasible_reason: str
    latency_cycles: float
    latency_s: float
    fps: float
    energy_pj: float
    area_mm2: float
    power_mw: float
    edp_pj_s: float
    utilisation: float
    energy_by_level_pj: dict[str, float]
    accesses_by_level_bits: dict[str, float]
    layers: tuple[LayerCost, ...]

    @property
    def energy_uj(self) -> float:
        return self.energy_pj * 1e-6

    @property
    def dram_accesses_per_mac(self) -> float:
        """DRAM word accesses (at the datapath width) per MAC: Eyeriss reports 0.0029."""
        return self.accesses_by_level_bits["dram"] / self.accelerator.mac_bits / self.macs

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["accelerator"] = self.accelerator.to_dict()
        out["energy_uj"] = self.energy_uj
        out["dram_accesses_per_mac"] = self.dram_accesses_per_mac
        return _finite(out)


def _finite(obj: Any) -> Any:
    """JSON has no inf: infeasible designs report null there."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
