"""The analytical cost model: workload x many accelerator configurations -> costs, vectorised.

Per layer and configuration (all arrays of shape (layers, configs)):

1. Spatial mapping by dataflow. ``ws``/``os`` view a convolution as a GEMM (im2col) with
   spatial rows ``Sr``, spatial columns ``Sc`` and temporal length ``T`` (Sr=C*R*S, Sc=K,
   T=N*P*Q for ``ws``; Sr=N*P*Q, Sc=K, T=C*R*S for ``os``; per group). A layer runs in
   F = G*ceil(Sr/R)*ceil(Sc/C) folds; SCALE-Sim's closed forms (RESEARCH.md s.2) pay the
   array's fill and drain on every fold. Here the folds are pipelined, as in a systolic
   array with shadow weight registers (ws) or shadow accumulators (os): the next fold's
   weights load, or the last fold's outputs drain, while the current fold computes, so the
   skew is paid once per layer and a fold shorter than the R-cycle load/drain waits for it:
   ``F*T + (F-1)*max(0, R-T) + R + C - 2`` (+ R for the first ws weight load). With one
   fold this is SCALE-Sim's closed form exactly (:mod:`.systolic`; unit-tested); with many
   short folds (depthwise layers: G folds of T = 9 taps) the closed form would charge
   R + C - 2 skew cycles on each.
   ``rs`` (Eyeriss) unrolls filter rows x input channels on the rows and output rows x output
   channels on the columns; each PE runs an S-tap 1-D convolution along Q outputs.
   Bit Fusion packs (8/w)*(8/a) MACs per PE per cycle, shortening the temporal loop.
2. Temporal tiling by a small vectorised mapper (:mod:`._loopnest`): the RF (split between
   W, I and partial sums in proportion to their stored widths) and then the GLB take loops
   in one of a few candidate orders, whole or as a balanced share; then each operand's tile
   grows on its own through the loops above while it still fits (per-operand allocation).
   Per layer the mapping with the least data-movement energy is kept. Tiles are sized, and
   the mapping chosen, for datapath-width operands; a layer's bits then only price the
   mapping's word counts, so energy and latency never fall when bit-widths rise. The RF
   must hold at least one tile (else infeasible). The mapper runs once per distinct (array,
   RF, GLB, dataflow, datapath width) combination, not per design or bit-width.
   :meth:`AnalyticalModel.mappings` exports the chosen tiling.
3. Accesses per level follow from the tiling: each tile crosses a boundary once per trip of
   the loops above it that it depends on (stationarity), partial sums are written and read
   back while a reduction loop is above, the GLB reads each distinct word once per trip and
   multicasts it in port-wide accesses (a transfer of b bits costs ceil(b / width) port
   cycles and accesses; inputs' sliding-window halo is shared between PEs only where both the
   output and the filter dimension are unrolled), and volumes use the average tile, so
   uneven splits move no padding. RF: every MAC reads w, a and reads+writes a partial sum,
   plus fills.
4. Latency: max(compute + partial-sum port stall, GLB traffic / GLB bandwidth, DRAM traffic
   / DRAM bandwidth): tiles are double-buffered, so the slowest of the three sets the pace.
   The partial-sum RF has one read port that feeds the MAC every cycle, so each time a PE
   sends its output tile up, the MAC waits ceil(bits / accumulator width) cycles (ZigZag's
   port model charges the same). Plus loading the first
   weight and input tiles before compute starts and draining the last output tile after it
   (as ZigZag's on/off-loading). All above compute is reported as stall.
5. Energy: MACs (grow with w_bits*a_bits) + each memory level (grow with bits moved and with
   memory size) + leakage (area x time). Area: PEs (MAC grows with datapath width^2, RF) +
   GLB + fixed.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import itertools
from collections.abc import Sequence

import numpy as np

from coexplore.accel_model._loopnest import (
    DIMS,
    DRAM_ORDERS,
    GLB_ORDERS,
    RF_ORDERS,
    WORD_KEYS,
    Geometry,
    MappingSelection,
    accumulator_bits,
    best_mapping,
    bit_fusion_pack,
    layer_latency,
    psum_bits,
    psum_cap,
    spatial_factors,
    traffic,
)
from coexplore.accel_model.accelerator import DATAFLOWS, Accelerator, AcceleratorBatch
from coexplore.accel_model.report import CostBatch, CostReport, LayerCost, reason_text
from coexplore.accel_model.systolic import fold_pipeline
from coexplore.accel_model.tech import DEFAULT_TECH, Tech
from coexplore.accel_model.workload import BIT_RANGE, LayerArrays, Workload
from coexplore.defaults import SEARCH_BITS_AWARE, SEARCH_MAPPER
from coexplore.errors import ConfigError

__all__ = ["CostModel", "AnalyticalModel", "LayerMapping", "LEVELS", "MAPPER_METRICS"]

# What the mapper minimises per layer: data-movement energy (this class's default, the
# fastest), or the layer's latency or energy-delay product as the model prices them (every
# search prices with "edp" and bits_aware unless told otherwise: coexplore.defaults).
MAPPER_METRICS = ("energy", "latency", "edp", "balanced")
# "balanced": the least energy among the candidates at most this much slower than the fastest
BALANCED_SLACK = 0.02

LEVELS = ("mac", "rf", "glb", "dram", "leakage")
_PER_LAYER_KEYS = (
    "cycles",
    "compute_cycles",
    "fill_cycles",
    "energy_pj",
    "energy_mac_pj",
    "energy_rf_pj",
    "energy_glb_pj",
    "energy_dram_pj",
    "rf_bits",
    "glb_bits",
    "dram_bits",
    "utilisation",
    "macs_per_pe_cycle",
)


@dataclasses.dataclass(frozen=True)
class LayerMapping:
    """One layer's tiling: spatial factors, then (loop, factor) per level, innermost first."""

    layer: str
    spatial: dict[str, int]
    rf: tuple[tuple[str, int], ...]
    glb: tuple[tuple[str, int], ...]
    dram: tuple[tuple[str, int], ...]


class CostModel(abc.ABC):
    """Interface of a cost model: workload x accelerators -> :class:`CostBatch`.

    Subclasses set ``name`` and ``version`` (the version goes into cache keys of anything
    trained on the model's labels) and implement :meth:`evaluate`.
    """

    name = "abstract"
    version = "0"

    @abc.abstractmethod
    def evaluate(
        self,
        workload: Workload,
        accs: AcceleratorBatch | Sequence[Accelerator],
        *,
        w_bits: np.ndarray | None = None,
        a_bits: np.ndarray | None = None,
        per_layer: bool = False,
    ) -> CostBatch:
        """Costs of ``workload`` on every configuration in ``accs`` (see subclasses)."""

    def report(self, workload: Workload, acc: Accelerator) -> CostReport:
        """The cost of one design, with per-layer and per-level breakdowns."""
        batch = self.evaluate(workload, [acc], per_layer=True)
        return _to_report(workload, acc, batch)


class AnalyticalModel(CostModel):
    """The default, vectorised analytical model (see the module docstring).

    Args:
        tech: Technology constants (:mod:`coexplore.accel_model.tech`).
        chunk: Configurations evaluated per block; bounds memory at ~layers*chunk*8 B per array.
        mapper_metric: What the mapper minimises per layer (:data:`MAPPER_METRICS`): data-
            movement energy (the default), latency, EDP, or ``balanced``.
        nested_buffers: Also the tilings of every halving of the RF and GLB (latency-aware
            mappers only).
        bits_aware: Also size tiles at each layer's own widths (and every wider ladder
            width up to the datapath's), each priced at the layer's widths.

    Example:
        >>> from coexplore.accel_model import AnalyticalModel, get_network, get_design_space
        >>> costs = AnalyticalModel().evaluate(get_network("resnet20"),
        ...                                    get_design_space("edge").sample(1000, seed=0))
        >>> costs.fps.shape
        (1000,)
    """

    name = "analytical"
    version = "analytical-5"  # bump whenever labels change: trained evaluators key on it

    def __init__(
        self,
        tech: Tech = DEFAULT_TECH,
        chunk: int = 8192,
        mapper_metric: str = "energy",
        nested_buffers: bool = False,
        bits_aware: bool = False,
    ) -> None:
        if mapper_metric not in MAPPER_METRICS:
            raise ConfigError(
                f"mapper_metric must be one of {', '.join(MAPPER_METRICS)}, got {mapper_metric!r}."
            )
        self.tech = tech
        self.chunk = int(chunk)
        self.mapper_metric = mapper_metric
        if mapper_metric != "energy":  # other labels: trained evaluators must not mix them
            self.version = f"{type(self).version}-mapper-{mapper_metric}"
        if nested_buffers and mapper_metric == "energy":
            raise ConfigError(
                "nested_buffers needs a latency-aware mapper ('latency', 'edp' or 'balanced'), "
                "got mapper 'energy': the data-movement-energy choice does not look at latency."
            )
        self.nested_buffers = bool(nested_buffers)
        if nested_buffers:
            self.version += "-nested"
        # tiles sized at each layer's own bit-widths too (see _loopnest.best_mapping)
        self.bits_aware = bool(bits_aware)
        if bits_aware and (nested_buffers or mapper_metric == "balanced"):
            raise ConfigError(
                "bits_aware (on by default in searches) works with mapper 'energy', 'latency' "
                "or 'edp', without nested_buffers (its width chain is not combined with those "
                "yet): set bits_aware=False (--no-bits-aware)."
            )
        if bits_aware:
            self.version += "-bits"

    @classmethod
    def for_search(cls) -> AnalyticalModel:
        """The model every search prices with unless given another one: the mapper and
        bits-awareness of :mod:`coexplore.defaults`."""
        return cls(mapper_metric=SEARCH_MAPPER, bits_aware=SEARCH_BITS_AWARE)

    def evaluate(
        self,
        workload: Workload,
        accs: AcceleratorBatch | Sequence[Accelerator],
        *,
        w_bits: np.ndarray | None = None,
        a_bits: np.ndarray | None = None,
        per_layer: bool = False,
    ) -> CostBatch:
        """Costs of ``workload`` on every configuration in ``accs``.

        Args:
            workload: Layers with their bit-widths.
            accs: Configurations (an :class:`AcceleratorBatch` or a list of accelerators).
            w_bits, a_bits: Optional per-layer bit-widths overriding the workload's, shape
                (layers,) or (layers, configs) to price a different bit-width per configuration.
            per_layer: Keep (layers, configs) arrays of the breakdown in ``CostBatch.layers``.

        Returns:
            A :class:`CostBatch` with one entry per configuration.
        """
        batch = (
            accs
            if isinstance(accs, AcceleratorBatch)
            else AcceleratorBatch.from_accelerators(list(accs))
        )
        la = workload.arrays()
        n_layers, m = len(workload), len(batch)
        wb = _bits(la.w_bits if w_bits is None else w_bits, n_layers, m, "w_bits")
        ab = _bits(la.a_bits if a_bits is None else a_bits, n_layers, m, "a_bits")
        # The mapper runs once per distinct tiling-relevant combination of the whole batch;
        # the per-design part then runs in blocks.
        words, inverse = self._words(la, batch, wb, ab)
        crs = (la.c * la.r * la.s).astype(np.float64)[:, None]
        cap = psum_cap(batch.psum_bits)[None, :]
        uniform = wb.shape[1] == 1 and ab.shape[1] == 1
        if uniform:  # one bit-width per layer: price each distinct tiling once
            cap_u = np.zeros((1, next(iter(words.values())).shape[1]))
            cap_u[0, inverse] = cap[0]  # the stored width is one of the tiling's columns
            moved_u = traffic(words, wb, ab, psum_bits(wb, ab, crs, cap_u))
        parts = []
        for start in range(0, m, self.chunk):
            sl = slice(start, min(m, start + self.chunk))
            wb_b = wb if wb.shape[1] == 1 else wb[:, sl]
            ab_b = ab if ab.shape[1] == 1 else ab[:, sl]
            inv = inverse[sl]
            if uniform:
                moved = {k: v[:, inv] for k, v in moved_u.items()}
            else:
                w_b = {k: w[:, inv] for k, w in words.items()}
                moved = traffic(w_b, wb_b, ab_b, psum_bits(wb_b, ab_b, crs, cap[:, sl]))
            parts.append(self._evaluate_block(la, batch.take(sl), wb_b, ab_b, per_layer, moved))
        return CostBatch.concatenate(parts, workload.layer_names)

    def _words(
        self, la: LayerArrays, batch: AcceleratorBatch, wb: np.ndarray, ab: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The mapper's word counts per distinct combination and the index from designs to
        them. Bits-aware, the tiling depends on the layers' widths too: designs priced at
        different per-layer widths (``wb``/``ab`` of shape (L, M)) are mapped per group."""
        run = functools.partial(_words, tech=self.tech, metric=self.mapper_metric,
                                nested=self.nested_buffers)  # fmt: skip
        if not self.bits_aware:
            return run(la, batch)
        if wb.shape[1] == 1 and ab.shape[1] == 1:
            return run(la, batch, layer_bits=(wb[:, 0], ab[:, 0]))
        m = len(batch)
        both = np.vstack([np.broadcast_to(wb, (len(wb), m)), np.broadcast_to(ab, (len(ab), m))])
        _, group = np.unique(both.T, axis=0, return_inverse=True)
        group = group.reshape(-1)
        parts, inverse, offset = [], np.zeros(m, dtype=np.int64), 0
        for g in range(int(group.max()) + 1):
            idx = np.flatnonzero(group == g)
            col = both[:, idx[0]]
            words, inv = run(la, batch.take(idx), layer_bits=(col[: len(wb)], col[len(wb) :]))
            parts.append(words)
            inverse[idx] = inv + offset
            offset += next(iter(words.values())).shape[1]
        return {k: np.hstack([p[k] for p in parts]) for k in parts[0]}, inverse

    def mappings(self, workload: Workload, acc: Accelerator) -> list[LayerMapping]:
        """The tiling the model assumes for each layer of ``workload`` on ``acc``.

        Per layer: the spatial factors, then the temporal (loop, factor) pairs held in the RF,
        in the GLB and left in DRAM, innermost first, in the mapper's chosen orders.
        """
        la = workload.arrays()
        batch = AcceleratorBatch.from_accelerators([acc])
        bits = (la.w_bits.astype(np.float64)[:, None], la.a_bits.astype(np.float64)[:, None])
        runs, _, _ = _mapper_runs(
            _sizes(la), _geometry(la), batch, self.tech, self.mapper_metric, self.nested_buffers,
            bits if self.bits_aware else None,
        )
        ((_, mp),) = runs
        d = DATAFLOWS.index(acc.dataflow)
        one = np.ones((1, 1))
        su = spatial_factors(_sizes(la), one * acc.pe_rows, one * acc.pe_cols, d)
        out = []
        for i, ly in enumerate(workload.layers):

            def level(name: str, order: tuple[str, ...], i: int = i) -> tuple:
                return tuple(
                    (dim, int(mp.factors[name][dim][i, 0]))
                    for dim in order
                    if mp.factors[name][dim][i, 0] > 1
                )

            glb_order = GLB_ORDERS[int(mp.glb_order[i, 0])]
            dram_order = DRAM_ORDERS[int(mp.dram_order[i, 0])]
            out.append(
                LayerMapping(
                    layer=ly.name,
                    spatial={dim: int(su[dim][i, 0]) for dim in DIMS if su[dim][i, 0] > 1},
                    rf=level("rf", RF_ORDERS[d][int(mp.rf_order[i, 0])]),
                    glb=level("glb", glb_order),
                    dram=level("dram", dram_order),
                )
            )
        return out

    def _evaluate_block(
        self,
        la: LayerArrays,
        acc: AcceleratorBatch,
        wb: np.ndarray,
        ab: np.ndarray,
        per_layer: bool,
        moved: dict[str, np.ndarray],
    ) -> CostBatch:
        t = self.tech

        def col(x: np.ndarray) -> np.ndarray:
            return x.astype(np.float64)[:, None]  # (L, 1)

        def row(x: np.ndarray) -> np.ndarray:
            return x.astype(np.float64)[None, :]  # (1, M)

        n, g, k, c = col(la.batch), col(la.groups), col(la.k), col(la.c)
        p, q, r, s = col(la.p), col(la.q), col(la.r), col(la.s)
        iw = col(la.in_w)
        rows, cols = row(acc.pe_rows), row(acc.pe_cols)
        base = row(acc.mac_bits)
        df = acc.dataflow[None, :]
        is_rs = df == 2
        bitfusion = acc.mac_mode[None, :] == 1

        crs, npq = c * r * s, n * p * q
        macs = g * k * crs * npq  # (L, 1)

        # Precision: Bit Fusion bricks are 2 bits wide and fuse in powers of two.
        wq = 2.0 ** np.ceil(np.log2(np.maximum(wb, 2)))
        aq = 2.0 ** np.ceil(np.log2(np.maximum(ab, 2)))
        pack = np.where(bitfusion, bit_fusion_pack(wb, ab), 1.0)  # MACs/PE/cycle
        pcap = psum_cap(row(acc.psum_bits))
        pb = psum_bits(wb, ab, crs, pcap)
        bits_ok = (wb <= base) & (ab <= base)

        compute, fill = compute_cycles(n, g, k, c, p, q, r, s, rows, cols, df, pack)

        # RF: one tile must fit. How the RF and the GLB are then tiled, and so what crosses
        # each boundary, comes from the loop-nest mapper (see _loopnest).
        rf_bits_cap = row(acc.rf_bytes) * 8
        need = np.where(is_rs, s * (pack * wb + ab) + pb, pack * (wb + ab) + pb)
        rf_ok = rf_bits_cap >= need
        cap = row(acc.glb_kib) * 8192.0
        glb_bits, dram_bits, rf_fill = moved["glb"], moved["dram"], moved["rf_fill"]
        glb_bw = row(acc.glb_bits_per_cycle)
        glb_ok = crs * wb + c * r * iw * ab <= cap  # one filter + the input rows it needs
        # Latency (see _loopnest.layer_latency): double-buffered tiles, the slowest resource
        # sets the pace, plus loading the first tiles and draining the last. The partial-sum
        # port is the datapath's, so its stall never falls as bits rise.
        dram_bw = 8.0 * row(acc.dram_bytes_per_cycle)
        glb_port_bits, cycles = layer_latency(
            moved, compute, glb_bw, dram_bw, accumulator_bits(base, crs, pcap)
        )

        # Energy (pJ).
        e_mult = np.where(
            bitfusion,
            t.mult_pj_per_bit2 * wq * aq * t.bitfusion_energy_overhead,
            t.mult_pj_per_bit2 * wb * ab,
        )
        e_mac = macs * (e_mult + t.add_pj_per_bit * pb)
        rf_bits = macs * (wb + ab + 2 * pb) + rf_fill
        e_rf = rf_bits * t.rf_pj_per_bit(row(acc.rf_bytes))
        glb_pj_bit = t.rf_pj_per_bit(row(acc.glb_kib) * 1024.0)
        # SRAM accesses are port-wide; the NoC carries only the bits that move.
        e_glb = glb_port_bits * glb_pj_bit + glb_bits * t.noc_pj_per_bit + dram_bits * glb_pj_bit
        e_dram = dram_bits * t.dram_pj_per_bit

        # Area (mm^2) per configuration.
        mac_area = np.where(
            acc.mac_mode == 1,
            t.mac_mm2_8x8 * t.bitfusion_area_overhead,
            t.mac_mm2_8x8 * (acc.mac_bits / 8.0) ** 2,
        )
        pe_area = mac_area + acc.rf_bytes * 8 * t.rf_mm2_per_bit + t.pe_overhead_mm2
        area = acc.pe_rows * acc.pe_cols * pe_area + acc.glb_kib * t.sram_mm2_per_kib + t.fixed_mm2

        clock = acc.clock_hz
        leak_pj_per_cycle = t.leak_mw_per_mm2 * 1e-3 * area / clock * 1e12  # (M,)
        e_leak = cycles * leak_pj_per_cycle[None, :]

        # Feasibility: first failing rule, first failing layer.
        ok_layers = bits_ok & rf_ok & glb_ok  # (L, M)
        code = np.where(~bits_ok, 1, np.where(~rf_ok, 2, np.where(~glb_ok, 3, 0)))
        feasible = ok_layers.all(axis=0)
        bad_layer = np.argmax(~ok_layers, axis=0)
        reason = np.where(feasible, 0, code[bad_layer, np.arange(code.shape[1])])

        pes = acc.pe_rows * acc.pe_cols
        cyc_total = cycles.sum(axis=0)
        energy_layers = e_mac + e_rf + e_glb + e_dram + e_leak
        tot = {
            "latency_cycles": cyc_total,
            "compute_cycles": compute.sum(axis=0),
            "energy_mac_pj": e_mac.sum(axis=0),
            "energy_rf_pj": e_rf.sum(axis=0),
            "energy_glb_pj": e_glb.sum(axis=0),
            "energy_dram_pj": e_dram.sum(axis=0),
            "energy_leak_pj": e_leak.sum(axis=0),
            "rf_bits": rf_bits.sum(axis=0),
            "glb_bits": glb_bits.sum(axis=0),
            "dram_bits": dram_bits.sum(axis=0),
            "utilisation": np.broadcast_to(macs / pack, cycles.shape).sum(axis=0)
            / (cyc_total * pes),
        }
        energy = energy_layers.sum(axis=0)
        layers = None
        if per_layer:
            bc = np.broadcast_to
            layers = {
                "cycles": cycles,
                "compute_cycles": bc(compute, cycles.shape),
                "fill_cycles": bc(fill, cycles.shape),
                "energy_pj": energy_layers,
                "energy_mac_pj": bc(e_mac, cycles.shape),
                "energy_rf_pj": e_rf,
                "energy_glb_pj": e_glb,
                "energy_dram_pj": e_dram,
                "rf_bits": bc(rf_bits, cycles.shape),
                "glb_bits": glb_bits,
                "dram_bits": bc(dram_bits, cycles.shape),
                "utilisation": macs / (pack * cycles * pes[None, :]),
                "macs_per_pe_cycle": bc(pack, cycles.shape),
                "feasible": ok_layers.astype(np.float64),  # 1.0 where the layer can run
            }
            layers = {key: np.array(v, dtype=np.float64) for key, v in layers.items()}
        return CostBatch.from_totals(
            tot,
            energy=energy,
            area_mm2=area,
            clock_hz=clock,
            feasible=feasible,
            reason_code=reason.astype(np.int8),
            reason_layer=bad_layer.astype(np.int32),
            layers=layers,
            batch=int(la.batch[0]),
        )


def compute_cycles(n, g, k, c, p, q, r, s, rows, cols, df, pack):  # noqa: ANN001, ANN201
    """Compute cycles of each layer and the pipeline fill and drain inside them.

    Layer sizes are (L, 1), ``rows``/``cols``/``df`` (dataflow index) (1, M), ``pack`` MACs
    per PE per cycle, broadcastable. Systolic ``ws``/``os`` (GEMM view) with folds
    pipelined (see ``systolic.pipelined_cycles``); ``rs`` as Eyeriss's row-stationary.
    """
    is_ws, is_rs = df == 0, df == 2
    crs, npq = c * r * s, n * p * q
    sr = np.where(is_ws, crs, npq)
    t_len = np.where(is_ws, npq, crs)
    folds = g * np.ceil(sr / rows) * np.ceil(k / cols)
    t_fold = np.ceil(t_len / pack)
    sys_ideal = folds * t_fold
    sys_cycles = fold_pipeline(folds, t_fold, rows, cols, np.where(is_ws, rows, 0.0))
    ru = np.minimum(r, rows)
    r_folds = np.ceil(r / ru)
    cr = np.clip(np.floor(rows / ru), 1, c)
    pc = np.minimum(p, cols)
    kr = np.clip(np.floor(cols / pc), 1, k)
    c_folds, p_folds, k_folds = np.ceil(c / cr), np.ceil(p / pc), np.ceil(k / kr)
    rs_cycles = g * n * r_folds * c_folds * p_folds * k_folds * np.ceil(s * q / pack) + rows + cols
    compute = np.where(is_rs, rs_cycles, sys_cycles)
    fill = np.where(is_rs, rows + cols, sys_cycles - sys_ideal)
    return compute, fill


def _sizes(la: LayerArrays) -> dict[str, np.ndarray]:
    def col(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64)[:, None]

    return {
        "B": col(la.batch),
        "G": col(la.groups),
        "K": col(la.k),
        "C": col(la.c),
        "OY": col(la.p),
        "OX": col(la.q),
        "FY": col(la.r),
        "FX": col(la.s),
    }


def _geometry(la: LayerArrays) -> Geometry:
    return Geometry(la.stride.astype(np.float64)[:, None], la.dilation.astype(np.float64)[:, None])


def _mapper_runs(  # noqa: ANN202
    sizes: dict[str, np.ndarray],
    geom: Geometry,
    acc: AcceleratorBatch,
    tech: Tech,
    metric: str = "energy",
    nested: bool = False,
    layer_bits: tuple[np.ndarray, np.ndarray] | None = None,
    chain: bool | None = None,
):
    """Runs the mapper once per distinct (array, RF, GLB, dataflow, datapath) combination.

    The tiling depends on neither bandwidths, clock, MAC mode nor (unless ``layer_bits``
    are given: bits-aware) the layers' bit-widths, so a grid of 450k designs needs only a
    few thousand mapper runs. Returns (column indices into the distinct set, Mapping) per
    dataflow, the inverse index from designs to distinct combinations, and their number.
    """
    tiling_cols = [acc.pe_rows, acc.pe_cols, acc.rf_bytes, acc.glb_kib, acc.dataflow, acc.mac_bits,
                   acc.psum_bits]  # fmt: skip
    key_cols = list(tiling_cols)
    # Latency-aware choices depend on the bandwidths too; so does the bits-aware chain (it
    # holds latency along the widths, when some layer is narrower than some datapath), which
    # also depends on Bit Fusion's packing.
    if chain is None:
        chain = layer_bits is not None and _narrowest(layer_bits) < acc.mac_bits.max()
    priced = metric != "energy" or chain
    if priced:
        key_cols += [acc.glb_bits_per_cycle, acc.dram_bytes_per_cycle]
        if layer_bits is not None:
            key_cols.append(acc.mac_mode)
    _, first, inverse = np.unique(_codes(key_cols), return_index=True, return_inverse=True)
    sub = acc.take(first)
    # The candidate tilings depend only on the tiling columns: build them once per distinct
    # combination and price them for each bandwidth pair that uses it.
    tiling_code = _codes([np.asarray(c)[first] for c in tiling_cols])
    # "balanced" first finds each layer's fastest candidate, then the cheapest near it
    first_pass = "latency" if metric == "balanced" else metric
    runs = []
    for d in np.unique(sub.dataflow):
        sel = np.flatnonzero(sub.dataflow == d)
        if nested:
            mp = _nested_mapping(sizes, geom, sub, sel, int(d), tech, first_pass)
            if metric == "balanced":
                cap = mp.score * (1 + BALANCED_SLACK)
                mp = _nested_mapping(sizes, geom, sub, sel, int(d), tech, "capped", cap)
            runs.append((sel, mp))
            continue
        tiles, pick = sel, None
        if priced:
            _, rep, pick = np.unique(tiling_code[sel], return_index=True, return_inverse=True)
            tiles, pick = sel[rep], pick.reshape(-1)

        def row(x: np.ndarray, cols: np.ndarray = tiles) -> np.ndarray:
            return x[cols].astype(np.float64)[None, :]

        glb_pj = tech.rf_pj_per_bit(row(sub.glb_kib) * 1024.0) + tech.noc_pj_per_bit
        select = None
        if priced:
            select = _selection(sizes, sub, sel, int(d), tech, first_pass,
                                per_width=layer_bits is not None)  # fmt: skip
        args = (
            sizes,
            geom,
            row(sub.pe_rows),
            row(sub.pe_cols),
            int(d),
            row(sub.rf_bytes) * 8,
            row(sub.glb_kib) * 8192.0,
            glb_pj,
            tech.dram_pj_per_bit,
            row(sub.mac_bits),
        )
        pcap = psum_cap(row(sub.psum_bits))
        mp = best_mapping(*args, select, pick, layer_bits=layer_bits, psum_cap=pcap)
        if metric == "balanced":
            assert select is not None and mp.score is not None
            capped = dataclasses.replace(
                select, metric="capped", cap=mp.score * (1 + BALANCED_SLACK)
            )
            # (bits-aware is refused with balanced)
            mp = best_mapping(*args, capped, pick, psum_cap=pcap)
        runs.append((sel, mp))
    return runs, inverse.reshape(-1), len(first)


# The smallest buffers a nested mapper halves down to (the smallest of every design space).
RF_FLOOR_BYTES, GLB_FLOOR_KIB = 16.0, 4.0


def _halvings(capacity: np.ndarray, floor: float) -> int:
    """How many times the largest ``capacity`` halves while it stays >= ``floor``, plus one."""
    return int(np.floor(np.log2(np.maximum(capacity.max(), floor) / floor) + 1e-9)) + 1


def _nested_mapping(  # noqa: ANN202
    sizes: dict[str, np.ndarray],
    geom: Geometry,
    sub: AcceleratorBatch,
    sel: np.ndarray,
    d: int,
    tech: Tech,
    metric: str,
    cap: np.ndarray | None = None,
):
    """The best mapping of each design ``sel`` among the candidate tilings of its own buffers
    and of every halving of them (RF down to 16 B, GLB down to 4 KiB), all priced on the design
    itself: a tiling that fits half a buffer runs in the whole one. Candidate sets nest, so
    with buffers that double (every space's), one step up in a buffer never makes the chosen
    candidate score worse; with ``metric`` "latency" the layer never gets slower."""
    top = sub.take(sel)
    n_rf, n_glb = _halvings(top.rf_bytes, RF_FLOOR_BYTES), _halvings(top.glb_kib, GLB_FLOOR_KIB)
    members, e_pair, e_rf, e_glb = [], [], [], []
    count = 0
    for i, j in itertools.product(range(n_rf), range(n_glb)):
        rf, glb = top.rf_bytes / 2.0**i, top.glb_kib / 2.0**j
        ok = (rf >= RF_FLOOR_BYTES) | (i == 0)
        ok &= (glb >= GLB_FLOOR_KIB) | (j == 0)
        idx = np.flatnonzero(ok)
        slot = np.full(len(sel), -1)
        slot[idx] = count + np.arange(len(idx))
        count += len(idx)
        members.append(slot)
        e_pair.append(idx)
        e_rf.append(rf[idx])
        e_glb.append(glb[idx])
    pair, rf, glb = np.concatenate(e_pair), np.concatenate(e_rf), np.concatenate(e_glb)
    code = _codes([top.pe_rows[pair], top.pe_cols[pair], rf, glb, top.mac_bits[pair],
                   top.psum_bits[pair]])  # fmt: skip
    _, rep, pick = np.unique(code, return_index=True, return_inverse=True)

    def row(x: np.ndarray) -> np.ndarray:
        return x[rep].astype(np.float64)[None, :]

    tile_pairs = pair[rep]
    mp = best_mapping(
        sizes,
        geom,
        top.pe_rows[tile_pairs].astype(np.float64)[None, :],
        top.pe_cols[tile_pairs].astype(np.float64)[None, :],
        d,
        row(rf) * 8,
        row(glb) * 8192.0,
        tech.rf_pj_per_bit(row(glb) * 1024.0) + tech.noc_pj_per_bit,  # unused: select prices
        tech.dram_pj_per_bit,
        top.mac_bits[tile_pairs].astype(np.float64)[None, :],
        _selection(sizes, sub, sel[pair], d, tech, metric, None if cap is None else cap[:, pair]),
        pick.reshape(-1),
        lazy=True,
        psum_cap=psum_cap(top.psum_bits[tile_pairs][None, :]),
    )
    own = members[0]  # the design's own buffers: always a member
    best_col = np.broadcast_to(own, mp.score[:, own].shape)
    best_s, best_t = mp.score[:, own], mp.tie[:, own]
    for slot in members[1:]:
        col = np.where(slot >= 0, slot, own)
        s, t = mp.score[:, col], mp.tie[:, col]
        better = (s < best_s) | ((s == best_s) & (t < best_t))
        best_col = np.where(better, col, best_col)
        best_s, best_t = np.where(better, s, best_s), np.where(better, t, best_t)
    return mp.mapping(best_col)


def _codes(columns: list[np.ndarray]) -> np.ndarray:
    """One int64 code per design, equal exactly where every column is: mixed radix over each
    column's distinct values (a 1-D unique is much faster than a row-wise one)."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for col_ in columns:
        values, idx = np.unique(np.asarray(col_), return_inverse=True)
        # Re-compress after each column so the code never overflows.
        _, code = np.unique(code * len(values) + idx.reshape(-1), return_inverse=True)
        code = code.reshape(-1).astype(np.int64)
    return code


def _selection(  # noqa: ANN202
    sizes: dict[str, np.ndarray],
    sub: AcceleratorBatch,
    sel: np.ndarray,
    d: int,
    tech: Tech,
    metric: str,
    cap: np.ndarray | None = None,
    per_width: bool = False,
):
    """What a latency-aware mapper needs to price a candidate tiling as the model will:
    the layers' compute cycles on each array (datapath-width operands, so one MAC per PE
    per cycle; bits-aware, at the layers' widths, so Bit Fusion packs), the bandwidths, and
    the per-bit energies (see :class:`MappingSelection`)."""

    def row(x: np.ndarray) -> np.ndarray:
        return x[sel].astype(np.float64)[None, :]

    z = sizes
    rows, cols = row(sub.pe_rows), row(sub.pe_cols)

    def cycles(pack: float) -> np.ndarray:
        return compute_cycles(z["B"], z["G"], z["K"], z["C"], z["OY"], z["OX"], z["FY"], z["FX"],
                              rows, cols, np.full_like(rows, d), pack)[0]  # fmt: skip

    compute = cycles(1.0)
    fused = packed = None
    if per_width:  # bits-aware: compute at the widths each candidate is priced at
        fused = row(sub.mac_mode) == 1
        packed = {1.0: compute, **{p: cycles(p) for p in (2.0, 4.0, 8.0, 16.0)}}
    return MappingSelection(
        metric=metric,
        compute=compute,
        macs=z["B"] * z["G"] * z["K"] * z["C"] * z["OY"] * z["OX"] * z["FY"] * z["FX"],
        glb_bw=row(sub.glb_bits_per_cycle),
        dram_bw=8.0 * row(sub.dram_bytes_per_cycle),
        glb_sram_pj=tech.rf_pj_per_bit(row(sub.glb_kib) * 1024.0),
        rf_pj=tech.rf_pj_per_bit(row(sub.rf_bytes)),
        tech=tech,
        cap=cap,
        fused=fused,
        packed=packed,
    )


def _words(
    la: LayerArrays,
    acc: AcceleratorBatch,
    tech: Tech,
    metric: str = "energy",
    nested: bool = False,
    layer_bits: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The mapper's word counts (``_loopnest.WORD_KEYS``) per distinct combination, (L, U)
    each, and the index from designs to combinations. ``layer_bits``: (W, A) widths per
    layer, (L,) each, for a bits-aware mapper."""
    # Networks repeat layer shapes (ResNet-20 has 7 distinct ones in 20 layers): map each
    # distinct shape once and copy the result to its layers.
    sizes, geom = _sizes(la), _geometry(la)
    columns = [sizes[d] for d in DIMS] + geom.columns()
    if layer_bits is not None:
        columns += [np.asarray(b, dtype=np.float64).reshape(-1, 1) for b in layer_bits]
    shape_key = np.hstack(columns)
    _, first_layer, layer_of = np.unique(shape_key, axis=0, return_index=True, return_inverse=True)
    layer_of = layer_of.reshape(-1)
    if layer_bits is None:
        groups, chain = [first_layer], None
    else:
        # Bits-aware: the width ladder starts at the narrowest width of the layers mapped
        # together, and a layer's own steps below its width repeat its own sizing, so layers
        # are mapped in groups of equal narrowest width (same result, fewer candidates).
        bits = shape_key[:, -2:]
        low = bits[first_layer].min(axis=1)
        groups = [first_layer[low == v] for v in np.unique(low)]
        if len(acc) < _GROUP_MIN_DESIGNS:  # a few designs: one call costs less
            groups = [first_layer]
        # one chain decision for all groups, so that they share the pricing columns
        chain = _narrowest((bits[first_layer, 0], bits[first_layer, 1])) < acc.mac_bits.max()
    # Rows by layer; only the distinct layers' rows are written, then copied to their repeats.
    out: dict[str, np.ndarray] = {}
    inverse = np.zeros(0, dtype=np.int64)
    for layers in groups:
        runs, inverse, n_unique = _mapper_runs(
            {d: v[layers] for d, v in sizes.items()},
            geom.take(layers),
            acc,
            tech,
            metric,
            nested,
            None if layer_bits is None else (bits[layers, :1], bits[layers, 1:]),
            chain,
        )
        if not out:
            out = {key: np.zeros((len(shape_key), n_unique)) for key in WORD_KEYS}
        for sel, mp in runs:
            for key, arr in out.items():
                arr[np.ix_(layers, sel)] = mp.words[key]
    return {key: arr[first_layer[layer_of]] for key, arr in out.items()}, inverse


# Below this many designs, bits-aware layers are mapped in one call rather than per group:
# each call has a fixed cost, which a handful of designs does not repay (grouping saved
# 15-33 % at 5,000 designs and cost about 3x at one design, in one-off timings).
_GROUP_MIN_DESIGNS = 256


def _narrowest(layer_bits: tuple[np.ndarray, np.ndarray]) -> float:
    return float(min(np.min(b) for b in layer_bits))


def _bits(value: np.ndarray, n_layers: int, m: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != n_layers or arr.shape[1] not in (1, m):
        raise ConfigError(
            f"`{name}` must have shape ({n_layers},) or ({n_layers}, {m}), got {arr.shape}."
        )
    low, high = BIT_RANGE
    if np.any(arr < low) or np.any(arr > high):
        raise ConfigError(f"`{name}` must lie in [{low}, {high}], got values {np.unique(arr)}.")
    return arr


def _to_report(workload: Workload, acc: Accelerator, batch: CostBatch) -> CostReport:
    assert batch.layers is not None
    layers = []
    for i, ly in enumerate(workload.layers):
        get = {key: float(batch.layers[key][i, 0]) for key in _PER_LAYER_KEYS}
        layers.append(
            LayerCost(
                name=ly.name,
                kind=ly.kind,
                macs=ly.macs,
                w_bits=ly.w_bits,
                a_bits=ly.a_bits,
                latency_cycles=get["cycles"],
                compute_cycles=get["compute_cycles"],
                fill_cycles=get["fill_cycles"],
                stall_cycles=get["cycles"] - get["compute_cycles"]
                if get["cycles"] > get["compute_cycles"]
                else 0.0,
                utilisation=get["utilisation"],
                macs_per_pe_cycle=get["macs_per_pe_cycle"],
                energy_pj=get["energy_pj"],
                energy_mac_pj=get["energy_mac_pj"],
                energy_rf_pj=get["energy_rf_pj"],
                energy_glb_pj=get["energy_glb_pj"],
                energy_dram_pj=get["energy_dram_pj"],
                rf_bits=get["rf_bits"],
                glb_bits=get["glb_bits"],
                dram_bits=get["dram_bits"],
            )
        )
    reason = reason_text(int(batch.reason_code[0]), workload, int(batch.reason_layer[0]), acc)
    return CostReport(
        workload=workload.name,
        accelerator=acc,
        batch=workload.batch,
        macs=workload.total_macs,
        feasible=bool(batch.feasible[0]),
        infeasible_reason=reason,
        latency_cycles=float(batch.latency_cycles[0]),
        latency_s=float(batch.latency_s[0]),
        fps=float(batch.fps[0]),
        energy_pj=float(batch.energy_pj[0]),
        area_mm2=float(batch.area_mm2[0]),
        power_mw=float(batch.power_mw[0]),
        edp_pj_s=float(batch.edp_pj_s[0]),
        utilisation=float(batch.utilisation[0]),
        energy_by_level_pj={
            "mac": float(batch.energy_mac_pj[0]),
            "rf": float(batch.energy_rf_pj[0]),
            "glb": float(batch.energy_glb_pj[0]),
            "dram": float(batch.energy_dram_pj[0]),
            "leakage": float(batch.energy_leak_pj[0]),
        },
        accesses_by_level_bits={
            "rf": float(batch.rf_bits[0]),
            "glb": float(batch.glb_bits[0]),
            "dram": float(batch.dram_bits[0]),
        },
        layers=tuple(layers),
    )
