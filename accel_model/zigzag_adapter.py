"""ZigZag (``zigzag-dse``, MIT) as a reference cost model, run in-process.

ZigZag is handed what the analytical model assumes, so that differences come from the
modelling and not from the inputs:

- the same layers (7-D convolution form: B, G, K, C, OY, OX, FY, FX; true data volumes) with
  the same per-operand precisions (W, I, partial O, final O);
- the same spatial unrolling per dataflow, expressed per loop dimension: ``ws`` rows unroll
  C, then FY, FX (greedy), columns K; ``os`` rows unroll OX, then OY, columns K; ``rs`` rows
  FY then C, columns OY then K. For ``ws``/``os`` this equals the analytical model's im2col
  (GEMM) unrolling whenever the greedy factors fill the rows the same way; the bench reports
  per-layer cycle errors on exactly those layers;
- the same memory hierarchy (per-PE RF, here one per operand sized in proportion to its
  bit-width so no access is charged for bits it does not move; one GLB; DRAM) with the same sizes,
  bandwidths and per-bit access energies (:class:`~coexplore.accel_model.tech.Tech`), and the
  same MAC energy for the layer's bit-widths (ZigZag has one MAC energy per accelerator, so
  an accelerator is built per layer);
- the analytical model's own tiling (:meth:`AnalyticalModel.mappings`: which loops the RF,
  the GLB and DRAM hold, in which order) as a fixed temporal ordering, so that per layer
  both tools price the same loop nest; and, for the totals, ZigZag's best of that tiling and
  two fixed orders of its own per dataflow (each loop split into prime factors so its
  allocator can fill every level), because ZigZag's per-operand allocation of a shared
  buffer sometimes spills partial sums to DRAM on one order and not on another. ZigZag's
  loop-order search (LOMA) takes seconds per layer; it is available as
  ``search_mapping=True`` and, as the independent reference for the analytical model's
  mapper, as :meth:`ZigZagModel.search_layer`. A tiling of the model's that ZigZag cannot
  write unchanged (a ceil split: loop factors must multiply exactly) is flagged
  (``mapping_exact``), never silently rounded into a different one.

Not modelled by ZigZag: systolic fill/drain (the analytical ``ws``/``os`` include it) and
Bit Fusion packing (fidelity is measured on fixed-precision configurations).

Requires the optional extra: ``pip install 'coexplore[zigzag]'``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from coexplore.accel_model._loopnest import (
    SPATIAL,
    accumulator_bits,
    psum_bits,
    psum_cap,
    rf_shares,
)
from coexplore.accel_model.accelerator import DATAFLOWS, Accelerator
from coexplore.accel_model.analytical import LayerMapping
from coexplore.accel_model.tech import DEFAULT_TECH, Tech
from coexplore.accel_model.workload import Layer, Workload
from coexplore.errors import ConfigError

__all__ = ["ZigZagModel", "ZigZagLayerResult", "ZigZagSearchResult", "zigzag_available"]

log = logging.getLogger(__name__)


def zigzag_available() -> bool:
    try:
        import zigzag  # noqa: F401
    except ImportError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class ZigZagLayerResult:
    name: str
    latency_cycles: float
    ideal_cycles: float
    energy_pj: float
    dram_energy_pj: float
    spatial_utilisation: float
    ok: bool
    error: str = ""
    # The same figures for exactly the analytical model's tiling (NaN when none was given).
    mapping_latency_cycles: float = float("nan")
    mapping_ideal_cycles: float = float("nan")
    mapping_energy_pj: float = float("nan")
    # ZigZag's latency split for that tiling: stall (the worst memory port's stall, ports
    # working in parallel), loading before compute and offloading after it, and which
    # memory port stalls most ("" when none does).
    mapping_stall_cycles: float = float("nan")
    mapping_onload_cycles: float = float("nan")
    mapping_offload_cycles: float = float("nan")
    mapping_stall_port: str = ""
    # Whether ZigZag priced the analytical model's tiling unchanged. ZigZag needs each
    # loop's factors to multiply to its trip count; a ceil split (43 as 22 x 2) cannot be
    # written so, and rounding it would price a different tiling: such a layer is not
    # comparable "on the same mapping".
    mapping_exact: bool = False


@dataclasses.dataclass(frozen=True)
class ZigZagSearchResult:
    """ZigZag's own mapping search (LOMA: loop orders over prime factors, with its memory
    allocator) on one layer, reduced by ``metric``; beside it, the analytical model's tiling
    priced by ZigZag (only when ZigZag can represent it unchanged)."""

    name: str
    metric: str
    ok: bool
    latency_cycles: float = float("nan")
    energy_pj: float = float("nan")
    ours_latency_cycles: float = float("nan")
    ours_energy_pj: float = float("nan")
    ours_exact: bool = False
    error: str = ""

    @property
    def edp(self) -> float:
        return self.latency_cycles * self.energy_pj

    @property
    def ours_edp(self) -> float:
        return self.ours_latency_cycles * self.ours_energy_pj


def _latency_split(cme: Any) -> dict[str, Any]:
    """Stall, on- and offloading cycles of a ZigZag evaluation, and its most-stalled port."""
    worst, port = 0.0, ""
    for level, ports in zip(cme.mem_level_list, cme.stall_slack_comb_collect, strict=False):
        for name, stall in ports.items():
            if stall > worst:
                worst, port = float(stall), f"{level.name}.{name}"
    return {
        "mapping_stall_cycles": float(cme.stall_slack_comb),
        "mapping_onload_cycles": float(cme.data_onloading_cycle),
        "mapping_offload_cycles": float(cme.data_offloading_cycle),
        "mapping_stall_port": port,
    }


def loop_dims(layer: Layer) -> dict[str, int]:
    g = layer.groups
    return {
        "B": layer.batch,
        "G": g,
        "K": layer.out_channels // g,
        "C": layer.in_channels // g,
        "OY": layer.out_h,
        "OX": layer.out_w,
        "FY": layer.kernel_h,
        "FX": layer.kernel_w,
    }


def spatial_unrolling(layer: Layer, acc: Accelerator) -> dict[str, list[tuple[str, int]]]:
    """Per array dimension (D1 = rows, D2 = columns): (loop, factor) pairs, greedy fill.

    The same rule as the analytical model's (:data:`coexplore.accel_model._loopnest.SPATIAL`).
    """
    d = loop_dims(layer)
    rows_loops, cols_loops = SPATIAL[DATAFLOWS.index(acc.dataflow)]
    out: dict[str, list[tuple[str, int]]] = {}
    for axis, size, loops in (("D1", acc.pe_rows, rows_loops), ("D2", acc.pe_cols, cols_loops)):
        left, pairs = size, []
        for loop in loops:
            f = min(d[loop], left)
            if f > 1:
                pairs.append((loop, f))
            left //= f
        out[axis] = pairs
    return out


# Innermost first. Each dataflow has its natural order (the stationary operand's irrelevant
# loops innermost) and one with the reduction innermost, which keeps partial sums low in the
# hierarchy when a buffer is small. ZigZag runs both; the lower-energy result is kept.
_TEMPORAL_ORDERS = {
    "ws": (
        ("OX", "OY", "B", "FX", "FY", "C", "K", "G"),
        ("FX", "FY", "C", "OX", "OY", "B", "K", "G"),
    ),
    "os": (
        ("FX", "FY", "C", "OX", "OY", "B", "K", "G"),
        ("FX", "FY", "C", "K", "OX", "OY", "B", "G"),
    ),
    "rs": (
        ("FX", "C", "OX", "K", "FY", "OY", "B", "G"),  # psums accumulate over C in the PE
        ("FX", "C", "FY", "OX", "K", "OY", "B", "G"),
    ),
}


def _divisor_at_most(n: int, f: int) -> int:
    """The largest divisor of ``n`` that is <= ``f`` (1 at least)."""
    for d in range(min(n, max(1, f)), 0, -1):
        if n % d == 0:
            return d
    return 1


def _exact_ordering(
    given: LayerMapping, dims: dict[str, int], unrolled: dict[str, int]
) -> tuple[list[list[Any]], bool]:
    """The model's RF, GLB and DRAM loops as a ZigZag temporal ordering, innermost first,
    and whether that ordering is the model's tiling unchanged.

    ZigZag needs each loop's factors to multiply to its trip count exactly. Where the model
    split a loop unevenly (a balanced ceil split), every appearance of the loop but its last
    is rounded down to a divisor of what is left (so it still fits where the model put it)
    and the last appearance takes the rest (so no remainder ends up outermost). That is a
    different tiling (a prime trip count such as 43 collapses to 1 below the last level), so
    the second value is False whenever any factor changed; callers must not count such a
    layer as priced on the same mapping.
    """
    left = {d: math.ceil(dims[d] / unrolled.get(d, 1)) for d in dims}
    sequence = list(given.rf) + list(given.glb) + list(given.dram)
    last = {d: i for i, (d, _) in enumerate(sequence)}
    ordering: list[list[Any]] = []
    unchanged = True
    for i, (d, f) in enumerate(sequence):
        f_exact = left[d] if last[d] == i else _divisor_at_most(left[d], f)
        unchanged &= f_exact == f
        if f_exact > 1:
            ordering.append([d, f_exact])
            left[d] //= f_exact
    for d in dims:
        if left[d] > 1:
            unchanged = False  # the model left a remainder it did not place
            ordering.append([d, left[d]])
    return ordering, unchanged


def _refuse_bitfusion(acc: Accelerator) -> None:
    if acc.mac_mode != "fixed":
        raise ConfigError("ZigZag does not model Bit Fusion packing; use mac_mode='fixed'.")


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1 and p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


class ZigZagModel:
    """Runs ZigZag layer by layer for one accelerator.

    Args:
        tech: The same technology table the analytical model uses.
        search_mapping: Let ZigZag's LOMA search loop orders (slow: seconds per layer) instead
            of the fixed order that matches the analytical model.
    """

    name = "zigzag"

    def __init__(self, tech: Tech = DEFAULT_TECH, search_mapping: bool = False) -> None:
        if not zigzag_available():
            raise ConfigError(
                "ZigZag is not installed; install the extra with `pip install 'coexplore[zigzag]'`."
            )
        self.tech = tech
        self.search_mapping = search_mapping

    # -- inputs -----------------------------------------------------------------------------
    def _accelerator_data(self, acc: Accelerator, layer: Layer) -> dict[str, Any]:
        t = self.tech
        wb, ab = layer.w_bits, layer.a_bits
        crs = (layer.in_channels // layer.groups) * layer.kernel_h * layer.kernel_w
        pb = int(psum_bits(wb, ab, crs, psum_cap(acc.psum_bits)))
        rf_bit = t.rf_pj_per_bit(acc.rf_bytes)
        glb_bit = t.rf_pj_per_bit(acc.glb_kib * 1024)
        glb_bw = acc.glb_bits_per_cycle
        dram_bw = max(8, int(round(acc.dram_bytes_per_cycle * 8)))

        def port(kind: str, bw: int, alloc: list[str], name: str) -> dict[str, Any]:
            return {
                "name": name,
                "type": kind,
                "bandwidth_min": bw,
                "bandwidth_max": bw,
                "allocation": alloc,
            }

        rw_all = ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]
        # One register file per operand, each as wide as its operand, so that no access is
        # charged for bits it does not move; capacity split as in the analytical model.
        memories: dict[str, Any] = {}
        acc_bits = accumulator_bits(acc.mac_bits, crs, psum_cap(acc.psum_bits))
        shares = rf_shares(float(acc.mac_bits), float(acc_bits))
        for operand, share, op_bits, reads, writes in (
            ("I2", shares["W"], wb, ["I2, tl"], ["I2, fh"]),
            ("I1", shares["I"], ab, ["I1, tl"], ["I1, fh"]),
            ("O", shares["O"], pb, ["O, tl", "O, th"], ["O, fh", "O, fl"]),
        ):
            size = max(op_bits, int(acc.rf_bytes * 8 * share))
            memories[f"rf_{operand}"] = {
                "size": size,
                "r_cost": rf_bit * op_bits,
                "w_cost": rf_bit * op_bits,
                "area": 0,
                "latency": 1,
                "operands": [operand],
                "ports": [
                    port("read", op_bits, reads, "r_port_1"),
                    port("write", op_bits, writes, "w_port_1"),
                ],
                "served_dimensions": [],
            }
        memories["glb"] = {
            "size": acc.glb_kib * 8192,
            "r_cost": (glb_bit + t.noc_pj_per_bit) * glb_bw,
            "w_cost": glb_bit * glb_bw,
            "area": 0,
            "latency": 1,
            "operands": ["I1", "I2", "O"],
            "ports": [port("read_write", glb_bw, rw_all, "rw_port_1")],
            "served_dimensions": ["D1", "D2"],
        }
        memories["dram"] = {
            "size": 10**12,
            "r_cost": t.dram_pj_per_bit * dram_bw,
            "w_cost": t.dram_pj_per_bit * dram_bw,
            "area": 0,
            "latency": 1,
            "operands": ["I1", "I2", "O"],
            "ports": [port("read_write", dram_bw, rw_all, "rw_port_1")],
            "served_dimensions": ["D1", "D2"],
        }
        return {
            "name": f"coexplore_{acc.dataflow}",
            "memories": memories,
            "operational_array": {
                "unit_energy": t.mult_pj_per_bit2 * wb * ab + t.add_pj_per_bit * pb,
                "unit_area": 1.0,
                "dimensions": ["D1", "D2"],
                "sizes": [acc.pe_rows, acc.pe_cols],
            },
        }

    def _workload_and_mapping(
        self,
        acc: Accelerator,
        layer: Layer,
        order: tuple[str, ...] | None,
        given: LayerMapping | None = None,
    ) -> tuple[list, list, bool]:
        """ZigZag's workload and mapping inputs, and whether a ``given`` tiling went in
        unchanged (always True without one)."""
        d = loop_dims(layer)
        crs = d["C"] * d["FY"] * d["FX"]
        pb = int(psum_bits(layer.w_bits, layer.a_bits, crs, psum_cap(acc.psum_bits)))
        wl = [
            {
                "id": 0,
                "name": layer.name,
                "operator_type": "Conv",
                "equation": "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]",
                "dimension_relations": [
                    f"ix={layer.stride}*ox+{layer.dilation}*fx",
                    f"iy={layer.stride}*oy+{layer.dilation}*fy",
                ],
                "loop_dims": ["B", "K", "G", "OX", "OY", "C", "FX", "FY"],
                "loop_sizes": [d[x] for x in ("B", "K", "G", "OX", "OY", "C", "FX", "FY")],
                "operand_precision": {
                    "W": layer.w_bits,
                    "I": layer.a_bits,
                    "O": pb,
                    "O_final": layer.a_bits,
                },
                "pr_loop_dims": ["IX", "IY"],
                "pr_loop_sizes": [layer.in_w + 2 * layer.pad_w, layer.in_h + 2 * layer.padding],
                "padding": [[layer.pad_w, layer.pad_w], [layer.padding, layer.padding]],
            }
        ]
        spatial = spatial_unrolling(layer, acc)
        unrolled = {loop: f for pairs in spatial.values() for loop, f in pairs}
        mapping: dict[str, Any] = {
            "name": "default",
            "spatial_mapping": {
                ax: [f"{loop}, {f}" for loop, f in pairs] or ["K, 1"]
                for ax, pairs in spatial.items()
            },
            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"},
        }
        exact = True
        if given is not None:
            mapping["temporal_ordering"], exact = _exact_ordering(given, d, unrolled)
        elif order is not None:
            # Each loop split into its prime factors, innermost first, so that ZigZag's
            # allocator can fill each memory level with part of a loop, as a mapper would.
            temporal = []
            for loop in order:
                f = math.ceil(d[loop] / unrolled.get(loop, 1))
                temporal += [[loop, pf] for pf in _prime_factors(f)]
            mapping["temporal_ordering"] = temporal
        # order None without a given tiling: no temporal ordering, so LOMA searches one
        return wl, [mapping], exact

    # -- running ----------------------------------------------------------------------------
    def _accelerator(self, acc: Accelerator, layer: Layer) -> Any:
        from zigzag.parser.accelerator_factory import AcceleratorFactory
        from zigzag.parser.accelerator_validator import AcceleratorValidator

        av = AcceleratorValidator(self._accelerator_data(acc, layer))
        if not av.validate():
            raise ConfigError(f"ZigZag rejected the accelerator: {av.validator.errors}")
        return AcceleratorFactory(av.normalized_data).create()

    @staticmethod
    def _run(accelerator: Any, wl: list, mp: list, reduce: str = "latency") -> Any:
        """One ZigZag evaluation; without a temporal ordering in ``mp``, LOMA's search,
        reduced to the best mapping by ``reduce`` (latency, energy or edp)."""
        from zigzag.mapping.temporal_mapping import TemporalMappingType
        from zigzag.parser.mapping_validator import MappingValidator
        from zigzag.parser.workload_factory import WorkloadFactory
        from zigzag.parser.workload_validator import WorkloadValidator
        from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
        from zigzag.stages.main import MainStage
        from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
        from zigzag.stages.mapping.temporal_mapping_generator_stage import (
            TemporalMappingGeneratorStage,
        )
        from zigzag.stages.results.reduce_stages import (
            MinimalEDPStage,
            MinimalEnergyStage,
            MinimalLatencyStage,
        )
        from zigzag.stages.workload_iterator import WorkloadStage

        reducer = {"latency": MinimalLatencyStage, "energy": MinimalEnergyStage,
                   "edp": MinimalEDPStage}[reduce]  # fmt: skip
        wv, mv = WorkloadValidator(wl), MappingValidator(mp)
        wdata, mdata = wv.normalized_data, mv.normalized_data
        if not (wv.validate() and mv.validate()):
            raise ConfigError("ZigZag rejected the workload or mapping.")
        workload = WorkloadFactory(wdata, mdata).create()
        stage = MainStage(
            [
                WorkloadStage,
                reducer,
                SpatialMappingGeneratorStage,
                reducer,
                TemporalMappingGeneratorStage,
                CostModelStage,
            ],
            accelerator=accelerator,
            workload=workload,
            loma_lpf_limit=6,
            loma_show_progress_bar=False,
            nb_mappings_generated=1,
            enable_mix_spatial_mapping_generation=False,
            access_same_data_considered_as_no_access=True,
            temporal_mapping_type=TemporalMappingType("uneven"),
        )
        return stage.run()[0][0]

    def evaluate_layer(
        self, layer: Layer, acc: Accelerator, mapping: LayerMapping | None = None
    ) -> ZigZagLayerResult:
        """ZigZag's latency (cycles, stalls and on/off-loading included) and energy (pJ).

        ZigZag evaluates the dataflow's two fixed loop orders (or, with ``search_mapping``,
        its own loop-order search) and, when ``mapping`` is given, the analytical model's own
        tiling; the main figures are the lowest-energy of these (ZigZag's allocator sometimes
        spills partial sums to DRAM on one order but not on another), the ``mapping_*``
        figures those of the model's tiling alone, ``mapping_exact`` whether ZigZag could
        take that tiling unchanged.

        Args:
            mapping: The analytical model's tiling of this layer
                (:meth:`AnalyticalModel.mappings`).
        """
        _refuse_bitfusion(acc)
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)  # ZigZag logs every stage at INFO/WARNING
        try:
            accelerator = self._accelerator(acc, layer)
            best = given = None
            exact = False
            orders: list = [None] if self.search_mapping else list(_TEMPORAL_ORDERS[acc.dataflow])
            runs = [(order, None) for order in orders]
            if mapping is not None:
                runs.insert(0, (None, mapping))  # the analytical model's own tiling
            for order, tiling in runs:
                wl, mp, ok = self._workload_and_mapping(acc, layer, order, tiling)
                cme = self._run(accelerator, wl, mp)
                if tiling is not None:
                    given, exact = cme, ok
                if best is None or cme.energy_total < best.energy_total:
                    best = cme
            assert best is not None
            nan = float("nan")
            return ZigZagLayerResult(
                name=layer.name,
                latency_cycles=float(best.latency_total2),
                ideal_cycles=float(best.ideal_temporal_cycle),
                energy_pj=float(best.energy_total),
                dram_energy_pj=float(sum(lv[-1] for lv in best.mem_energy_breakdown.values())),
                spatial_utilisation=float(best.mac_spatial_utilization),
                ok=True,
                mapping_latency_cycles=nan if given is None else float(given.latency_total2),
                mapping_ideal_cycles=nan if given is None else float(given.ideal_temporal_cycle),
                mapping_energy_pj=nan if given is None else float(given.energy_total),
                mapping_exact=exact,
                **({} if given is None else _latency_split(given)),
            )
        except Exception as exc:  # noqa: BLE001 - a reference-tool failure is data, not a crash
            log.debug("ZigZag failed on %s: %s", layer.name, exc)
            return ZigZagLayerResult(
                layer.name,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                False,
                f"{type(exc).__name__}: {exc}",
            )
        finally:
            logging.disable(previous)

    def search_layer(
        self,
        layer: Layer,
        acc: Accelerator,
        mapping: LayerMapping | None = None,
        metric: str = "edp",
    ) -> ZigZagSearchResult:
        """ZigZag's own mapping search on one layer (the independent reference for the
        analytical model's mapper), best by ``metric``; with ``mapping``, the analytical
        model's tiling priced by ZigZag beside it, when ZigZag can take it unchanged.

        Both figures come from ZigZag's cost model, so their ratio measures the mapper's
        choice alone, not the two models' differences.
        """
        if metric not in ("latency", "energy", "edp"):
            raise ConfigError(f"metric must be latency, energy or edp, got {metric!r}.")
        _refuse_bitfusion(acc)
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            accelerator = self._accelerator(acc, layer)
            wl, mp, _ = self._workload_and_mapping(acc, layer, None, None)
            found = self._run(accelerator, wl, mp, metric)
            ours: dict[str, Any] = {}
            priced = None if mapping is None else self._price(accelerator, acc, layer, mapping)
            if priced is not None:
                ours = {
                    "ours_latency_cycles": priced[0],
                    "ours_energy_pj": priced[1],
                    "ours_exact": True,
                }
            return ZigZagSearchResult(
                name=layer.name, metric=metric, ok=True,
                latency_cycles=float(found.latency_total2), energy_pj=float(found.energy_total),
                **ours,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a reference-tool failure is data
            log.debug("ZigZag search failed on %s: %s", layer.name, exc)
            return ZigZagSearchResult(
                layer.name, metric, False, error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            logging.disable(previous)

    def price_mapping(
        self, layer: Layer, acc: Accelerator, mapping: LayerMapping
    ) -> tuple[float, float] | None:
        """ZigZag's (latency cycles, energy pJ) for the analytical model's tiling of one
        layer, or None where ZigZag cannot take that tiling unchanged (or refuses the layer):
        the same pricing :meth:`search_layer` puts beside its search, for another mapper's
        tiling without searching again."""
        _refuse_bitfusion(acc)
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            return self._price(self._accelerator(acc, layer), acc, layer, mapping)
        except Exception as exc:  # noqa: BLE001 - a reference-tool failure is data
            log.debug("ZigZag pricing failed on %s: %s", layer.name, exc)
            return None
        finally:
            logging.disable(previous)

    def _price(
        self, accelerator: Any, acc: Accelerator, layer: Layer, mapping: LayerMapping
    ) -> tuple[float, float] | None:
        wl, mp, exact = self._workload_and_mapping(acc, layer, None, mapping)
        if not exact:
            return None
        cme = self._run(accelerator, wl, mp)
        return float(cme.latency_total2), float(cme.energy_total)

    def evaluate(
        self, workload: Workload, acc: Accelerator, mappings: list[LayerMapping] | None = None
    ) -> list[ZigZagLayerResult]:
        """Every layer; with ``mappings`` (one per layer), ZigZag evaluates those tilings."""
        maps: list = list(mappings) if mappings is not None else [None] * len(workload)
        return [
            self.evaluate_layer(ly, acc, mp) for ly, mp in zip(workload.layers, maps, strict=True)
        ]
