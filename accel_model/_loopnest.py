"""Loop-nest tiling analysis with a small mapper, vectorised over (layers, configurations).

A convolution is the loop nest B, G, K, C, OY, OX, FY, FX. The dataflow fixes the spatial
unrolling over the PE array. What is left is tiled over three levels: the register file of
each PE, the global buffer (GLB), DRAM. A *mapping* is an RF loop order and a GLB loop order
(innermost first); each level takes, in its order, whole loops while they fit and then the
largest balanced share of the first loop that does not, and what remains goes to the next
level. The RF is split between the operands in proportion to their bit-widths (one RF per
operand, as in Eyeriss); the GLB is shared.

Traffic across a boundary is the tile footprint (inputs with their sliding-window halo) times
the trip counts of the loops above it, except the run of loops directly above that the
operand does not depend on (it stays put). Partial sums that cross upward with a reduction
loop still above are written and read back. This is the analysis of Timeloop and ZigZag; the
mapper evaluates a few candidate orders per level and keeps, per layer, the mapping with the
least data-movement energy.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from coexplore.accel_model.tech import Tech

__all__ = [
    "DIMS",
    "RF_ORDERS",
    "GLB_ORDERS",
    "DRAM_ORDERS",
    "Mapping",
    "MappingSelection",
    "WORD_KEYS",
    "spatial_factors",
    "best_mapping",
    "layer_latency",
    "traffic",
]

DIMS = ("B", "G", "K", "C", "OY", "OX", "FY", "FX")
_REL = {
    "W": frozenset({"G", "K", "C", "FY", "FX"}),
    "I": frozenset({"B", "G", "C", "OY", "OX", "FY", "FX"}),
    "O": frozenset({"B", "G", "K", "OY", "OX"}),
}
_OPS = ("W", "I", "O")
_WINDOW = frozenset({"OY", "OX", "FY", "FX"})  # the dimensions of an input window's extent
# Spatial unrolling: loops on the rows (D1) and columns (D2), filled greedily in this order.
SPATIAL = {
    0: (("C", "FY", "FX"), ("K",)),
    1: (("OX", "OY", "B"), ("K",)),
    2: (("FY", "C"), ("OY", "K")),
}
# RF orders, innermost first: what stays in a PE.
RF_ORDERS = {
    0: (
        ("OX", "OY", "B", "FX", "FY", "C", "K", "G"),  # ws: weight stays, pixels stream
        ("FX", "FY", "C", "OX", "OY", "B", "K", "G"),
    ),  # ws: partial sums stay
    1: (
        ("FX", "FY", "C", "OX", "OY", "B", "K", "G"),  # os: the reduction runs in the PE
        ("FX", "FY", "C", "K", "OX", "OY", "B", "G"),
    ),
    2: (
        ("FX", "OX", "C", "K", "FY", "OY", "B", "G"),  # rs: 1-D convolution along a row
        ("FX", "C", "K", "OX", "FY", "OY", "B", "G"),
    ),
}
# GLB orders, innermost first: which operand the buffer keeps while the outer loops run.
GLB_ORDERS = (
    ("FX", "FY", "C", "OX", "OY", "B", "K", "G"),  # outputs finish in the GLB; K outermost
    ("OX", "OY", "B", "FX", "FY", "C", "K", "G"),  # inputs re-used across an output tile
    ("K", "FX", "FY", "C", "OX", "OY", "B", "G"),  # weights re-used across pixels
    ("FX", "FY", "C", "K", "OX", "OY", "B", "G"),
)
_N_PLAIN = len(GLB_ORDERS)
_N_RF = len(RF_ORDERS[0])


def _without(dim: str, order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(d for d in order if d != dim)


# With a batch, more candidates, tried only when a layer has one, so that costs at batch 1
# do not change (the first two kinds equal plain candidates there; a test holds this):
# - the batch loop innermost in the GLB, so a GLB tile holds several images and the weights
#   stay while they pass (batch reuse);
# - the batch loop kept out of the RF and the GLB and run outermost, so a batch never costs
#   more than its images one by one (it is the batch-1 tiling, repeated; a greedy fill that
#   takes the batch into a buffer because it fits can crowd out better tiles);
# - the batch, then a chunk of output channels, filled first into the GLB, with the input
#   channels streaming innermost above it: the images' inputs are fetched once per K chunk,
#   every weight once, and the partial sums of the chunk stay. A fill that takes C first
#   leaves room for a few output channels only, and the inputs come back once per few (on
#   Eyeriss' AlexNet conv3, 24 times rather than 8).
# Not yet tried, at any batch: K innermost above the GLB (an input tile stays while every
# weight chunk streams past). In a one-off check it cut Eyeriss AlexNet's DRAM traffic
# further, but at batch 1 it changed most costs and, chosen for energy, raised some
# latencies.
RF_ORDERS = {d: orders + tuple(_without("B", o) for o in orders) for d, orders in RF_ORDERS.items()}
_K_FIRST = ("B", "K") + _without("K", _without("B", GLB_ORDERS[0]))
GLB_ORDERS = (
    GLB_ORDERS
    + tuple(("B",) + _without("B", o) for o in GLB_ORDERS)
    + tuple(_without("B", o) for o in GLB_ORDERS)
)
# Loop orders above the GLB, innermost first: the GLB orders', with the batch outermost for
# those without it.
DRAM_ORDERS = GLB_ORDERS[: 2 * _N_PLAIN] + tuple(o + ("B",) for o in GLB_ORDERS[2 * _N_PLAIN :])
GLB_ORDERS += (_K_FIRST,)  # a fill order only: above it, the inputs' channels run innermost

# (RF order, GLB order, DRAM order) triples the mapper tries. The pair (1, 3) is left out:
# over the edge space it was chosen for under 2 % of layers, and each pair costs an eighth
# of the time.
_CANDIDATES = tuple(
    (r, g, g) for r, g in itertools.product(range(_N_RF), range(_N_PLAIN)) if (r, g) != (1, 3)
)
# at batch 1, each of these equals a plain candidate
_BATCH_REUSE = tuple((r, g + _N_PLAIN, g + _N_PLAIN) for r, g, _ in _CANDIDATES) + tuple(
    (r + _N_RF, g + 2 * _N_PLAIN, g + 2 * _N_PLAIN) for r, g, _ in _CANDIDATES
)
# the K-first GLB fill, with C innermost above it (DRAM order: the batch-first GLB order 0)
_K_CHUNK = tuple((r, 3 * _N_PLAIN, _N_PLAIN) for r in range(_N_RF))
_BATCH_CANDIDATES = _BATCH_REUSE + _K_CHUNK


@dataclasses.dataclass(frozen=True)
class Mapping:
    """The chosen mapping per (layer, configuration) and the data movement it causes.

    ``words`` holds bit-free counts, each (L, M) (see :data:`WORD_KEYS`); :func:`traffic`
    prices them at a layer's bit-widths. By default the tiling is chosen once per datapath,
    whatever the layer's bits, so every traffic term, and so energy and latency, grows with
    bits; bits-aware (``best_mapping(layer_bits=...)``), per layer width as well.
    """

    words: dict[str, np.ndarray]
    rf_order: np.ndarray  # index into RF_ORDERS[dataflow]
    glb_order: np.ndarray  # index into GLB_ORDERS
    dram_order: np.ndarray  # index into DRAM_ORDERS
    factors: dict[str, dict[str, np.ndarray]]  # "rf", "glb", "dram" -> dim -> temporal factor
    # what the mapper minimised for the chosen candidate, and its tie-break
    score: np.ndarray | None = None
    tie: np.ndarray | None = None


# Bit-free counts per operand X in W, I (and O where it moves): "glb_X" words between the
# GLB and the array; "dram_X" words between DRAM and the GLB; "fill_X" words written into
# the PEs' RFs; "xfers_X" GLB-port transfers of "xfer_words_X" words each; "onload_glb_X"
# the first array tile that must arrive before compute starts; "offload_glb" the last
# output tile that leaves after it; "pe_out_xfers" times each PE sends its output tile of
# "pe_out_words" words up (through the partial-sum RF's read port). Outputs split into
# final values ("dram_O_final", at activation width) and partial-sum spills ("glb_O",
# "dram_O_spill", at partial-sum width).
WORD_KEYS = (
    "glb_W", "glb_I", "glb_O", "dram_W", "dram_I", "dram_O_final", "dram_O_spill",
    "fill_W", "fill_I", "xfers_W", "xfers_I", "xfers_O", "xfer_words_W", "xfer_words_I",
    "xfer_words_O", "onload_glb_W", "onload_glb_I", "offload_glb", "pe_out_xfers",
    "pe_out_words",
)  # fmt: skip


def layer_latency(moved, compute, glb_bw, dram_bw, psum_port_bits):  # noqa: ANN001, ANN201
    """(GLB port bits, cycles) of a layer from the bits its tiling moves (:func:`traffic`).

    The GLB port moves whole port-width words: a transfer of b bits occupies ceil(b / width)
    port cycles and costs as many port-width accesses. Tiles are double-buffered, so the
    slowest of compute (plus the partial-sum port stall), the GLB port and DRAM sets the
    pace: each PE accumulates in its partial-sum RF, whose one read port (``psum_port_bits``
    wide, the datapath's accumulator) feeds the MAC every cycle, so sending a finished output
    tile up takes that port for ceil(bits / width) cycles (as ZigZag's port model). Only the
    first array tile is serial (DRAM -> GLB -> array) and likewise the last output tile.
    """
    port_bits = glb_port_bits(moved, glb_bw)
    latency = paced_latency(
        compute + psum_stall(moved, psum_port_bits), port_bits / glb_bw, moved["dram"], dram_bw,
        moved["onload_glb"] + moved["offload_glb"], 1.0 / glb_bw + 1.0 / dram_bw,
    )  # fmt: skip
    return port_bits, latency


# The terms of layer_latency and MappingSelection.measure, shared with the bits-aware chain's
# per-tiling-column pricing (_TilePricing), which evaluates some on a tiling x port-width grid:
# one formula, so the two paths agree to the last bit.


def glb_port_bits(moved, glb_bw):  # noqa: ANN001, ANN201
    """Bits the GLB port carries: each transfer rounded up to whole port-width words."""
    return sum(
        moved[f"glb_xfers_{op}"] * np.ceil(moved[f"glb_xfer_bits_{op}"] / glb_bw) * glb_bw
        for op in ("W", "I", "O")
    )


def psum_stall(moved, psum_port_bits):  # noqa: ANN001, ANN201
    """Cycles the partial-sum RF port spends sending finished output tiles up."""
    return moved["pe_out_xfers"] * np.ceil(moved["pe_out_bits"] / psum_port_bits - 1e-9)


def paced_latency(busy, port_cycles, dram_bits, dram_bw, loaded_bits, inv_bw):  # noqa: ANN001, ANN201
    """Double-buffered latency: the slowest of compute (``busy``, with the partial-sum stall),
    the GLB port and DRAM, plus the serial first load and last drain (``loaded_bits`` at
    ``inv_bw`` = 1 / GLB width + 1 / DRAM width cycles per bit)."""
    return np.maximum(busy, np.maximum(port_cycles, dram_bits / dram_bw)) + loaded_bits * inv_bw


def movement_energy(tech: Tech, moved, glb_sram_pj):  # noqa: ANN001, ANN201
    """The default mapper's score: data-movement energy of the GLB and DRAM bits."""
    return moved["glb"] * (glb_sram_pj + tech.noc_pj_per_bit) + moved["dram"] * tech.dram_pj_per_bit


def layer_energy(tech: Tech, macs, moved, port_bits, wb, ab, pb, rf_pj, glb_sram_pj):  # noqa: ANN001, ANN201, PLR0913
    """A candidate's energy: MACs, RF reads and fills, GLB port accesses, NoC and DRAM."""
    t = tech
    return (
        macs * (t.mult_pj_per_bit2 * wb * ab + t.add_pj_per_bit * pb)
        + (macs * (wb + ab + 2 * pb) + moved["rf_fill"]) * rf_pj
        + port_bits * glb_sram_pj
        + moved["glb"] * t.noc_pj_per_bit
        + moved["dram"] * (glb_sram_pj + t.dram_pj_per_bit)
    )


@dataclasses.dataclass(frozen=True)
class MappingSelection:
    """How a latency-aware mapper prices each candidate tiling, as the model does at the
    datapath width: latency = max(compute + partial-sum port stall, GLB port cycles, DRAM
    cycles) + loading and draining; energy = MACs and RF reads (the same for every tiling)
    + data movement (GLB port accesses, NoC, DRAM, RF fills). ``metric`` "latency" keeps
    the fastest (energy breaks ties), "edp" the least energy x latency, "capped" the least
    energy among candidates no slower than ``cap`` (latency breaks ties).
    Arrays: ``compute`` (L, M), ``macs`` (L, 1), ``cap`` (L, M), the rest (1, M)."""

    metric: str
    compute: np.ndarray
    macs: np.ndarray
    glb_bw: np.ndarray
    dram_bw: np.ndarray
    glb_sram_pj: np.ndarray
    rf_pj: np.ndarray
    tech: Tech
    cap: np.ndarray | None = None
    # Bits-aware: Bit Fusion designs (1, M) and their compute cycles per packing (MACs per
    # PE per cycle), so compute follows the widths a candidate is priced at.
    fused: np.ndarray | None = None
    packed: dict[float, np.ndarray] | None = None

    def compute_at(self, wb, ab):  # noqa: ANN001, ANN201
        """Compute cycles at the widths ``wb``/``ab`` (Bit Fusion designs pack narrower MACs);
        the same for every candidate tiling, so callers pricing many may reuse it."""
        if self.fused is None or self.packed is None:
            return self.compute
        pack = np.where(self.fused, bit_fusion_pack(wb, ab), 1.0)
        compute = np.zeros(pack.shape)
        for value, cycles in self.packed.items():
            compute = np.where(pack == value, cycles, compute)
        return compute

    def measure(self, moved: dict[str, np.ndarray], wb, ab, pb, port, compute=None):  # noqa: ANN001, ANN201
        """(latency, energy) of one candidate, each (L, M). ``wb``, ``ab``, ``pb``: the bits
        W, I and partial sums are priced at; ``port``: the datapath's accumulator width (the
        partial-sum RF port); ``compute``: :meth:`compute_at` of these widths, if known.
        Both grow with the bits (every term does)."""
        if compute is None:
            compute = self.compute_at(wb, ab)
        port_bits, latency = layer_latency(moved, compute, self.glb_bw, self.dram_bw, port)
        energy = layer_energy(self.tech, self.macs, moved, port_bits, wb, ab, pb, self.rf_pj,
                              self.glb_sram_pj)  # fmt: skip
        return latency, energy

    def score(self, moved: dict[str, np.ndarray], latency, energy):  # noqa: ANN001, ANN201
        """(score, tie-break) of one candidate; lower is better. "energy" is the default
        mapper's data-movement energy (GLB and DRAM bits), so its first choice is the same."""
        if self.metric == "latency":
            return latency, energy
        if self.metric == "capped":
            assert self.cap is not None
            return np.where(latency <= self.cap, energy, np.inf), latency
        if self.metric == "energy":
            cost = movement_energy(self.tech, moved, self.glb_sram_pj)
            return cost, cost
        return latency * energy, energy

    def price(self, moved: dict[str, np.ndarray], wb, ab, pb, port, compute=None):  # noqa: ANN001, ANN201
        """(score, tie-break) of one candidate (see :meth:`measure`, :meth:`score`)."""
        return self.score(moved, *self.measure(moved, wb, ab, pb, port, compute))


def traffic(words: dict[str, np.ndarray], wb, ab, pb) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Bits moved, from a mapping's word counts and the bits of W, I and partial sums.

    Keys: "glb" (GLB <-> array), "dram" (DRAM <-> GLB), "rf_fill" (writes into the PEs'
    RFs), "onload_glb" (the first W and I array tiles, before compute), "offload_glb" (the
    last output tile, after it), and per operand
    X "glb_xfers_X" port transfers of "glb_xfer_bits_X" bits each. Every term is linear in
    the bits with non-negative coefficients, so it never falls when bits rise.
    """
    w = words
    return {
        "glb": w["glb_W"] * wb + w["glb_I"] * ab + w["glb_O"] * pb,
        "dram": w["dram_W"] * wb + w["dram_I"] * ab + w["dram_O_final"] * ab
        + w["dram_O_spill"] * pb,
        "rf_fill": w["fill_W"] * wb + w["fill_I"] * ab,
        "onload_glb": w["onload_glb_W"] * wb + w["onload_glb_I"] * ab,
        "offload_glb": w["offload_glb"] * ab,
        "glb_xfers_W": w["xfers_W"],
        "glb_xfers_I": w["xfers_I"],
        "glb_xfers_O": w["xfers_O"],
        "glb_xfer_bits_W": w["xfer_words_W"] * wb,
        "glb_xfer_bits_I": w["xfer_words_I"] * ab,
        "glb_xfer_bits_O": w["xfer_words_O"] * pb,
        "pe_out_xfers": w["pe_out_xfers"],
        # final outputs leave at activation width; partial sums (when a reduction loop sits
        # above the RF, so outputs spill) at partial-sum width
        "pe_out_bits": w["pe_out_words"] * np.where(w["glb_O"] > w["dram_O_final"] + 0.5, pb, ab),
    }  # fmt: skip


def bit_fusion_pack(w_bits, a_bits):  # noqa: ANN001, ANN201
    """MACs per Bit Fusion PE per cycle: 2-bit bricks fused in powers of two, 8x8 per PE."""
    wq, aq = (2.0 ** np.ceil(np.log2(np.maximum(b, 2))) for b in (w_bits, a_bits))
    return np.floor(8 / wq) * np.floor(8 / aq)


def psum_bits(w_bits, a_bits, reduction, cap=32.0):  # noqa: ANN001, ANN201
    """Partial-sum width: the product's width plus the reduction's growth, at most ``cap``
    (32 bits, or an accelerator's narrower stored width: :func:`psum_cap`)."""
    return np.minimum(cap, w_bits + a_bits + np.ceil(np.log2(np.maximum(reduction, 1))))


def accumulator_bits(word_bits, reduction, cap=32.0):  # noqa: ANN001, ANN201
    """Partial-sum width of a datapath: two words' product plus the reduction's growth."""
    return psum_bits(word_bits, word_bits, reduction, cap)


def psum_cap(psum_bits_field):  # noqa: ANN001, ANN201
    """The widest partial sum an accelerator stores: its ``psum_bits``, 32 where that is 0."""
    field = np.asarray(psum_bits_field, dtype=np.float64)
    return np.where(field > 0, field, 32.0)


def rf_shares(w_bits, psum_bits, a_bits=None):  # noqa: ANN001, ANN201
    """Fractions of the RF for W, I and partial sums: in proportion to their stored widths
    (inputs at ``a_bits``, the weights' width when not given)."""
    a_bits = w_bits if a_bits is None else a_bits
    total = w_bits + a_bits + psum_bits
    return {"W": w_bits / total, "I": a_bits / total, "O": psum_bits / total}


# The widths a bits-aware mapper sizes tiles for, besides the layer's own and the datapath's:
# the search spaces' widths and the datapaths'. Candidate sets then nest along these widths
# (a tiling sized for wider words fits narrower ones), so a narrower layer never costs more.
BIT_LADDER = (2.0, 3.0, 4.0, 6.0, 8.0, 16.0)


def _sizings(word, layer_bits, reduction, rf_cap, cap):  # noqa: ANN001, ANN202
    """The widths the candidate tilings are sized for, each with its RF shares, and the
    widths they are priced at (W, I, partial sums).

    Without ``layer_bits``: the datapath's (one sizing; the tiling then belongs to the
    datapath). With them (bits-aware): the layer's own widths and every wider step of
    :data:`BIT_LADDER` up to the datapath's, so a tile that holds twice the 4-bit words
    is a candidate, and the datapath's tiling still is.
    """
    shape = word.shape

    def sizing(wb, ab):  # noqa: ANN001, ANN202
        pb = psum_bits(wb, ab, reduction, cap)
        caps = {op: np.floor(rf_cap * f) for op, f in rf_shares(wb, pb, ab).items()}
        return {"W": wb, "I": ab, "O": np.broadcast_to(pb, shape)}, caps

    if layer_bits is None:
        return [sizing(word, word)], (word, word, accumulator_bits(word, reduction, cap))
    wb, ab = (np.broadcast_to(b, shape).astype(np.float64) for b in layer_bits)
    lo, hi = float(min(wb.min(), ab.min())), float(word.max())
    steps = [lo] + [k for k in BIT_LADDER if lo < k < hi] + ([hi] if hi > lo else [])
    out = [sizing(np.minimum(np.maximum(wb, k), word), np.minimum(np.maximum(ab, k), word))
           for k in steps]  # fmt: skip
    return out, (wb, ab, np.broadcast_to(psum_bits(wb, ab, reduction, cap), shape))


def spatial_factors(sizes, rows, cols, dataflow: int):  # noqa: ANN001, ANN201
    """Greedy unrolling: each loop takes min(its size, what is left of the axis)."""
    shape = np.broadcast(sizes["K"], rows).shape
    out = {d: np.ones(shape) for d in DIMS}
    for axis, loops in zip((rows, cols), SPATIAL[dataflow], strict=True):
        left = np.broadcast_to(axis, shape).astype(np.float64)
        for d in loops:
            f = np.minimum(sizes[d], left)
            out[d] = np.broadcast_to(f, shape)
            left = np.floor(left / f)
    return out


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Per-layer stride and dilation, (L, 1) each: what an input window's extent needs."""

    stride: np.ndarray
    dil: np.ndarray

    def extent(self, o: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Input rows (or columns) read by ``o`` outputs and ``f`` kernel taps."""
        return self.stride * (o - 1) + self.dil * (f - 1) + 1

    def take(self, idx: np.ndarray) -> Geometry:
        return Geometry(self.stride[idx], self.dil[idx])

    def columns(self) -> list[np.ndarray]:
        return [self.stride, self.dil]


def _footprint(op: str, t: dict, geom: Geometry) -> np.ndarray:
    if op == "W":
        return t["G"] * t["K"] * t["C"] * t["FY"] * t["FX"]
    if op == "O":
        return t["B"] * t["G"] * t["K"] * t["OY"] * t["OX"]
    iy = geom.extent(t["OY"], t["FY"])
    ix = geom.extent(t["OX"], t["FX"])
    return t["B"] * t["G"] * t["C"] * iy * ix


def _growth(op: str, d: str, t: dict, geom: Geometry, size: np.ndarray):  # noqa: ANN201
    """S(2) - S(1): how much ``size`` (the operand's footprint in bits at the tile ``t``)
    grows when loop ``d``'s factor doubles. Footprints are linear in one factor, so this is
    also the growth per further multiple."""
    if d not in _REL[op]:
        return 0.0
    if op != "I" or d in ("B", "G", "C"):
        return size
    o, f = ("OY", "FY") if d in ("OY", "FY") else ("OX", "FX")
    extent = geom.extent(t[o], t[f])
    return size / extent * (geom.stride * t[o] if d == o else geom.dil * t[f])


def _array_inputs(pe: dict, su: dict, geom: Geometry) -> np.ndarray:
    """Distinct inputs the array reads from the GLB per array tile.

    Neighbouring PEs share a sliding-window halo only when both the output and the filter
    dimension of that axis are unrolled (diagonal reuse, as in row-stationary); otherwise
    each PE reads its own window (as im2col-fed arrays do).
    """
    out = pe["B"] * su["B"] * pe["G"] * su["G"] * pe["C"] * su["C"]
    for o, f in (("OY", "FY"), ("OX", "FX")):
        shared = geom.extent(pe[o] * su[o], pe[f] * su[f])
        per_pe = su[o] * su[f] * geom.extent(pe[o], pe[f])
        out = out * np.where((su[o] > 1) & (su[f] > 1), shared, per_pe)
    return out


def _fill(order, tile, left, caps, bits, geom):  # noqa: ANN001, ANN202
    """One level: in order, each loop takes the largest balanced share that still fits.

    The remainders of split loops stay above in the same order, so a split does not end the
    level: a later loop may still enter (e.g. a chunk of K next to a chunk of C, with the
    partial sums of that K chunk staying while the C remainder streams). A first pass gives
    each loop at most what fits in half the capacity, so no single loop takes the level; a
    second pass fills the rest. ``caps`` maps an operand (or "all" for a shared memory) to
    its capacity in bits. Footprints are linear in one loop's factor f, so the largest
    fitting f is floor((cap - S(1)) / (S(2) - S(1))) + 1.
    """
    tile, left = dict(tile), dict(left)
    level = {d: np.ones_like(tile["K"]) for d in DIMS}
    # Each operand's footprint in bits, kept up to date as loops enter: a product of whole
    # numbers, so updating it by the entering factor gives exactly the recomputed value.
    size = {op: _footprint(op, tile, geom) * bits[op] for op in _OPS}
    for share in (0.5, 1.0):
        for d in order:
            eligible = left[d] > 1
            if not eligible.any():
                continue
            grow = {op: _growth(op, d, tile, geom, size[op]) for op in _OPS}
            f_max = left[d]
            for key, cap in caps.items():
                ops = _OPS if key == "all" else (key,)
                s1 = sum(size[op] for op in ops)
                slope = sum(grow[op] for op in ops)
                room = np.where(
                    slope > 0, np.floor((cap * share - s1) / np.maximum(slope, 1e-9)) + 1, left[d]
                )
                f_max = np.minimum(f_max, room)
            f_max = np.maximum(f_max, 1.0)
            parts = np.ceil(left[d] / f_max)
            f = np.where(eligible, np.ceil(left[d] / parts), 1.0)  # balanced split
            # Loops of fewer than 4 trips (filter taps) are taken whole or not at all:
            # splitting them only pads.
            f = np.where((left[d] < 4) & (f < left[d]), 1.0, f)
            tile[d] = tile[d] * f
            level[d] = level[d] * f
            left[d] = np.where(eligible, np.ceil(left[d] / f), left[d])
            for op in _OPS:
                if op == "I" and d in _WINDOW:  # the sliding window is not a product
                    size[op] = _footprint(op, tile, geom) * bits[op]
                elif d in _REL[op]:
                    size[op] = size[op] * f
    return tile, left, level


def _extend(  # noqa: PLR0913
    op: str, above: list, tile: dict, bits: np.ndarray, room: np.ndarray, geom: Geometry,
    shape: tuple,
) -> tuple[list, dict]:  # fmt: skip
    """Grows ``op``'s tile through the loops ``above`` (innermost first) while its footprint
    (at ``bits`` per word) fits in ``room`` bits.

    Returns the loops left above the operand's own tile (absorbed ones with trips 1) and the
    grown tile. A loop the operand does not depend on is absorbed for free; growth stops at
    the first loop it depends on that does not fit. The footprint is updated by the entering
    trips (exact: products of whole numbers), recomputed only for the sliding window.
    """
    out = []
    still = np.ones(shape, dtype=bool)
    size = _footprint(op, tile, geom) * bits
    for d, n in above:
        if d not in _REL[op]:
            out.append((d, np.where(still, 1.0, n)))
            continue
        grown = tile[d] * n
        if op == "I" and d in _WINDOW:
            trial = _footprint(op, {**tile, d: grown}, geom) * bits
        else:
            trial = size * n
        ok = still & (trial <= room)
        tile = {**tile, d: np.where(ok, grown, tile[d])}
        size = np.where(ok, trial, size)
        still &= ok | (n <= 1)
        out.append((d, np.where(ok, 1.0, n)))
    return out, tile


def _average(full: dict, above: list) -> dict:
    """Average tile below the loops ``above``: each dimension's size over its trips above."""
    trips = {d: 1.0 for d in DIMS}
    for d, n in above:
        trips[d] = trips[d] * n
    return {d: full[d] / trips[d] for d in DIMS}


def _crossings(op: str, above: list[tuple[str, np.ndarray]], shape: tuple) -> np.ndarray:
    """How often a tile is (re)loaded, given the loops above it, innermost first."""
    trips = np.ones(shape)
    run = np.ones(trips.shape, dtype=bool)  # still in the run of irrelevant loops
    for d, n in above:
        active = n > 1
        if d in _REL[op]:
            run &= ~active
            trips = trips * n
        else:
            trips = trips * np.where(active & ~run, n, 1.0)
    return trips


class _RfLevels:
    """The RF level (:func:`_fill` from a unit tile) per RF order and sizing, filled once: the
    candidates of a mapper run share few RF orders (their GLB orders differ), and the fill
    depends on nothing else. Callers share one per set of ``temporal``/``geom`` arrays; the
    sizing is keyed by identity (and kept, so an identity is never reused)."""

    def __init__(self) -> None:
        self._done: dict[tuple, tuple] = {}

    def __call__(self, rf_order, shape, temporal, rf_caps, fill_bits, geom):  # noqa: ANN001, ANN204, PLR0913
        key = (rf_order, id(rf_caps), id(fill_bits))
        if key not in self._done:
            ones = {d: np.ones(shape) for d in DIMS}
            level = _fill(rf_order, ones, temporal, rf_caps, fill_bits, geom)
            self._done[key] = (rf_caps, fill_bits, level)
        return self._done[key][2]


def _evaluate(  # noqa: ANN202
    rf_order,
    glb_order,
    sizes,
    geom,
    su,
    temporal,
    rf_caps,
    glb_cap,
    fill_bits,
    dram_order,  # noqa: ANN001
    rf_levels: _RfLevels | None = None,
):
    shape = temporal["K"].shape
    if rf_levels is None:
        rf_levels = _RfLevels()
    rf_tile, rf_left, rf_f = rf_levels(rf_order, shape, temporal, rf_caps, fill_bits, geom)
    array_tile = {d: rf_tile[d] * su[d] for d in DIMS}
    glb_tile, glb_left, glb_f = _fill(
        glb_order, array_tile, rf_left, {"all": glb_cap}, fill_bits, geom
    )
    # Loops above each cut, innermost first; those with one trip everywhere are dropped.
    above_rf = [
        (d, n)
        for d, n in [(d, glb_f[d]) for d in glb_order] + [(d, glb_left[d]) for d in dram_order]
        if (n > 1).any()
    ]
    above_glb = [(d, glb_left[d]) for d in dram_order if (glb_left[d] > 1).any()]
    full = {d: np.broadcast_to(sizes[d], shape) for d in DIMS}
    # Each operand's tile then grows on its own through the loops above the common cut, as
    # far as its RF share, or its part of the shared GLB, allows (per-operand allocation, as
    # in ZigZag): a loop it does not depend on costs nothing, one it does must still fit.
    seq_rf, seq_glb = {}, {}
    for op in _OPS:
        seq_rf[op], _ = _extend(op, above_rf, rf_tile, fill_bits[op], rf_caps[op], geom, shape)
    glb_tiles = {op: glb_tile for op in _OPS}
    for op in ("O", "I", "W"):  # partial sums first: their spills cost twice
        room = glb_cap - sum(
            _footprint(o, glb_tiles[o], geom) * fill_bits[o] for o in _OPS if o != op
        )
        seq_glb[op], glb_tiles[op] = _extend(
            op, above_glb, glb_tile, fill_bits[op], room, geom, shape
        )
    # Fit is checked on the padded tiles; traffic uses the average tile (size / trips above),
    # so uneven splits and spatial padding move no phantom data.
    array_avg = {d: full[d] / (glb_f[d] * glb_left[d]) for d in DIMS}
    pe_avg = {d: array_avg[d] / su[d] for d in DIMS}
    n_pes = np.ones(shape)
    for d in DIMS:
        n_pes = n_pes * su[d]
    final_out = _footprint("O", full, geom)
    words: dict[str, np.ndarray] = {}
    for op in _OPS:
        n_rf = _crossings(op, seq_rf[op], shape)
        arr = _average(full, seq_rf[op])
        if op == "I":
            tile_words = _array_inputs({d: arr[d] / su[d] for d in DIMS}, su, geom)
        else:
            tile_words = _footprint(op, arr, geom)  # multicast: distinct words
        words_rf = tile_words * n_rf
        words_glb = _footprint(op, _average(full, seq_glb[op]), geom) * _crossings(
            op, seq_glb[op], shape
        )
        words[f"xfer_words_{op}"] = tile_words
        if op == "O":
            # Every crossing is a write; beyond the final outputs, each comes back as a read.
            spill = np.maximum(0, words_rf - final_out)
            words["xfers_O"] = n_rf + spill / np.maximum(tile_words, 1e-12)
            words["glb_O"] = words_rf + spill
            words["dram_O_final"] = np.broadcast_to(final_out, shape)
            words["dram_O_spill"] = 2 * np.maximum(0, words_glb - final_out)
            # PEs that hold distinct outputs: the spatial loops outputs depend on
            out_pes = np.ones(shape)
            for d in _REL["O"]:
                out_pes = out_pes * su[d]
            words["pe_out_xfers"] = n_rf
            words["pe_out_words"] = tile_words / out_pes
        else:
            words[f"xfers_{op}"] = n_rf
            words[f"glb_{op}"] = words_rf
            words[f"dram_{op}"] = words_glb
            words[f"fill_{op}"] = (
                _footprint(op, {d: arr[d] / su[d] for d in DIMS}, geom) * n_rf * n_pes
            )
    words.update(
        onload_glb_W=_footprint("W", array_avg, geom),
        onload_glb_I=_array_inputs(pe_avg, su, geom),
        offload_glb=_footprint("O", array_avg, geom),
    )
    words = {k: np.broadcast_to(v, shape) for k, v in words.items()}
    return words, {"rf": rf_f, "glb": glb_f, "dram": glb_left}


def best_mapping(
    sizes,
    geom,
    rows,
    cols,
    dataflow: int,
    rf_bits,
    glb_bits,  # noqa: ANN001
    glb_pj_per_bit,
    dram_pj_per_bit: float,
    word_bits,
    select: MappingSelection | None = None,
    pick: np.ndarray | None = None,
    lazy: bool = False,
    layer_bits: tuple[np.ndarray, np.ndarray] | None = None,
    psum_cap: np.ndarray | float = 32.0,
) -> Mapping | PricedCandidates:
    """The least data-movement-energy mapping among the candidates, per element.

    By default tiles are sized, and the candidate chosen, for operands stored at the
    datapath width (``word_bits`` for weights and inputs, the datapath's accumulator width
    for partial sums), whatever the layer's bit-widths: the mapping belongs to the datapath,
    and a layer's bits only price its word counts (:func:`traffic`). Had the choice followed
    only the layer's bits, a wider layer could get a tiling whose port-rounded traffic costs
    less, and energy could fall when bits rise.

    With ``layer_bits`` (the layer's W and A widths, (L, 1) each; bits-aware), tiles are
    also sized for the layer's own widths and every wider step of :data:`BIT_LADDER` up to
    the datapath's, and every candidate is priced at the layer's widths: a buffer that holds
    twice the 4-bit words is used, and since the candidates of a wider layer are among a
    narrower one's (widths on the ladder), a narrower layer never costs more.

    Args:
        sizes: Loop bounds per dimension, (L, 1). geom: stride and dilation, (L, 1) each.
        rows, cols, rf_bits, glb_bits, glb_pj_per_bit, word_bits: (1, M).
        psum_cap: the widest stored partial sum, (1, M) or a scalar (:func:`psum_cap`).
        select: Price candidates by latency or EDP instead of data-movement energy; its
            arrays are (1, P) with ``pick``.
        pick: (P,) column of the tiling inputs behind each priced column. The candidate
            tilings depend on neither bandwidth nor clock, so they are built once per (array,
            buffers, dataflow, datapath) and priced for every bandwidth pair that uses them
            (the result then has P columns). ``lazy`` (with ``pick``): return the
            :class:`PricedCandidates` instead, to gather only the columns needed.
    """
    shape = np.broadcast(sizes["K"], rows).shape
    su = spatial_factors(sizes, rows, cols, dataflow)
    temporal = {d: np.broadcast_to(np.ceil(sizes[d] / su[d]), shape) for d in DIMS}
    word = np.broadcast_to(word_bits, shape).astype(np.float64)
    reduction = sizes["C"] * sizes["FY"] * sizes["FX"]
    cap = np.broadcast_to(psum_cap, shape)
    port = np.broadcast_to(accumulator_bits(word, reduction, cap), shape)
    sizings, priced_at = _sizings(word, layer_bits, reduction, np.broadcast_to(rf_bits, shape),
                                  cap)  # fmt: skip
    glb_cap = np.broadcast_to(glb_bits, shape)

    cands = _CANDIDATES + (_BATCH_CANDIDATES if bool((np.asarray(sizes["B"]) > 1).any()) else ())
    if len(sizings) > 1:  # bits-aware, with narrower widths than the datapath's
        assert select is not None and pick is not None and not lazy
        return _bits_chain(sizings, cands, dataflow, sizes, geom, su, temporal, glb_cap, port,
                           select, pick)  # fmt: skip
    # every candidate loop order at every sizing, sizing outermost
    tries = [(fill, caps, c) for fill, caps in sizings for c in cands]
    if pick is not None:
        assert select is not None
        priced = _best_priced(tries, dataflow, sizes, geom, su, temporal, glb_cap, priced_at,
                              port, select, pick)  # fmt: skip
        return priced if lazy else priced.mapping()
    best: Mapping | None = None
    best_cost = None
    # every candidate is priced at the same widths: their compute cycles once
    compute = None if select is None else select.compute_at(priced_at[0], priced_at[1])
    rf_levels = _RfLevels()
    for fill_bits, rf_caps, (ri, gi, di) in tries:
        ro, go, do = RF_ORDERS[dataflow][ri], GLB_ORDERS[gi], DRAM_ORDERS[di]
        words, factors = _evaluate(
            ro, go, sizes, geom, su, temporal, rf_caps, glb_cap, fill_bits, do, rf_levels
        )
        moved = traffic(words, *priced_at)
        if select is None:
            cost = moved["glb"] * glb_pj_per_bit + moved["dram"] * dram_pj_per_bit
            tie = cost
        else:
            cost, tie = select.price(moved, *priced_at, port, compute)
        if best is None:
            best, best_cost, best_tie = (
                Mapping(words, np.full(shape, ri), np.full(shape, gi), np.full(shape, di), factors),
                cost,
                tie,
            )
            continue
        better = (cost < best_cost) | ((cost == best_cost) & (tie < best_tie))
        best_cost = np.where(better, cost, best_cost)
        best_tie = np.where(better, tie, best_tie)
        best = Mapping(
            words={k: np.where(better, v, best.words[k]) for k, v in words.items()},
            rf_order=np.where(better, ri, best.rf_order),
            glb_order=np.where(better, gi, best.glb_order),
            dram_order=np.where(better, di, best.dram_order),
            factors={
                lvl: {d: np.where(better, factors[lvl][d], best.factors[lvl][d]) for d in DIMS}
                for lvl in factors
            },
        )
    assert best is not None
    return dataclasses.replace(best, score=best_cost, tie=best_tie)


def _best_priced(tries, dataflow, sizes, geom, su, temporal, glb_cap, priced_at, port,  # noqa: ANN001, ANN202, PLR0913
                 select, pick):  # fmt: skip
    """:func:`best_mapping` with ``pick``: each candidate tiling is built once per tiling
    column and priced on every priced column; the winner's index is kept per element and
    its words and factors are gathered once at the end."""
    bits_p = [b[:, pick] for b in priced_at]
    port_p = port[:, pick]
    compute = select.compute_at(bits_p[0], bits_p[1])  # the same for every candidate
    all_words, all_factors = [], []
    best_idx = best_cost = best_tie = None
    rf_levels = _RfLevels()
    for c, (fill_bits, rf_caps, (ri, gi, di)) in enumerate(tries):
        ro, go, do = RF_ORDERS[dataflow][ri], GLB_ORDERS[gi], DRAM_ORDERS[di]
        words, factors = _evaluate(
            ro, go, sizes, geom, su, temporal, rf_caps, glb_cap, fill_bits, do, rf_levels
        )
        all_words.append(words)
        all_factors.append(factors)
        moved = {k: v[:, pick] for k, v in traffic(words, *priced_at).items()}
        cost, tie = select.price(moved, *bits_p, port_p, compute)
        if best_idx is None:
            best_idx, best_cost, best_tie = np.zeros(cost.shape, dtype=np.int64), cost, tie
            continue
        better = (cost < best_cost) | ((cost == best_cost) & (tie < best_tie))
        best_idx = np.where(better, c, best_idx)
        best_cost = np.where(better, cost, best_cost)
        best_tie = np.where(better, tie, best_tie)
    assert best_idx is not None
    cands = tuple(c for _, _, c in tries)
    return PricedCandidates(
        cands, port.shape, all_words, all_factors, pick, best_idx, best_cost, best_tie
    )


# Bytes the bits-aware chain's prices may take in one block of priced columns: every
# candidate's latency, energy and score (3 arrays) per width at or below its sizing, so a
# block holds this / (24 B x candidates x (1 + 2 + ... + widths)) (layer, column) elements
# (about 2^18 at three widths and the 7 plain candidates). Larger blocks mean fewer, larger
# array operations; the result does not depend on the block size (every step is per element).
_CHAIN_BYTES = 256 << 20


def _bits_chain(sizings, cands, dataflow, sizes, geom, su, temporal, glb_cap, port, select,  # noqa: ANN001, ANN202, PLR0913
                pick):  # fmt: skip
    """The bits-aware choice: down the width ladder, one step at a time.

    ``sizings`` are ordered by width, the datapath's last. At the widest step the best
    candidate by ``select``'s metric is taken (the datapath mapper's choice); at each narrower
    width the best among the candidates sized for that width or wider whose latency and energy
    at this width are no worse than the previous step's choice at this width (which stands
    unless beaten). Pricing grows with the bits, so a layer's latency and energy never rise as
    its widths fall along the ladder, whatever the metric.

    Each candidate tiling is built once per block of priced columns (all sizings of a loop
    order in one pass) and priced at every width at or below its sizing; the chain then runs
    on those prices, and the winners' tilings are gathered from the block's candidates (or,
    where keeping them all would take too much memory, rebuilt once at the end, only where
    they won)."""
    n, nc = len(sizings), len(cands)
    full = port.shape
    bits = [[np.broadcast_to(s[0][op], full) for op in _OPS] for s in sizings]
    choice = np.zeros((full[0], len(pick)), dtype=np.int64)  # sizing * nc + candidate
    score, tie = np.zeros(choice.shape), np.zeros(choice.shape)
    order = np.argsort(pick, kind="stable")  # a block's columns share tilings
    per = max(1, _CHAIN_BYTES // (24 * nc * n * (n + 1) // 2) // full[0])
    kept: Mapping | None = _empty_mapping(choice.shape)  # the winners' tilings, as chosen
    for start in range(0, len(pick), per):
        cols = order[start : start + per]
        tiles, first, local = np.unique(pick[cols], return_index=True, return_inverse=True)
        local = local.reshape(-1)
        n_tiles = len(tiles)
        sel = _select_columns(select, cols)
        priced = _TilePricing(sel, local, first, port[:, tiles])
        widths = [[b[:, tiles] for b in bw] for bw in bits]  # per tiling column

        # every sizing side by side (sizing-major columns): one tiling pass per loop order
        def block(x, tiles=tiles):  # noqa: ANN001, ANN202
            return np.tile(np.broadcast_to(x, full)[:, tiles], (1, n))

        def sized(key: int, tiles=tiles):  # noqa: ANN202
            return {op: np.hstack([np.broadcast_to(s[key][op], full)[:, tiles] for s in sizings])
                    for op in sizings[0][key]}  # fmt: skip

        su_b = {d: block(v) for d, v in su.items()}
        temporal_b = {d: block(v) for d, v in temporal.items()}
        glb_b, fill_b, caps_b = block(glb_cap), sized(0), sized(1)
        if kept is not None and n * nc * n_tiles * full[0] * 8 * _KEPT_ARRAYS > _KEEP_BYTES:
            kept = None  # too large to keep: rebuilt at the end instead
        # prices[k][(j - k) * nc + c]: latency, energy, score, tie (L, block) of candidate c
        # sized at width j >= k, priced at width k
        prices = [[None] * ((n - k) * nc) for k in range(n)]
        tilings = [None] * (n * nc)
        # per width, for every candidate: compute cycles (per priced column)
        compute = [sel.compute_at(w[0][:, local], w[1][:, local]) for w in widths]
        rf_levels = _RfLevels()
        for c, (ri, gi, di) in enumerate(cands):
            words_all, factors_all = _evaluate(
                RF_ORDERS[dataflow][ri], GLB_ORDERS[gi], sizes, geom, su_b, temporal_b,
                caps_b, glb_b, fill_b, DRAM_ORDERS[di], rf_levels,
            )  # fmt: skip
            for j in range(n):
                part = slice(j * n_tiles, (j + 1) * n_tiles)
                words = {key: v[:, part] for key, v in words_all.items()}
                if kept is not None:
                    tilings[j * nc + c] = (words, _part_factors(factors_all, part, full[0]))
                for k in range(j + 1):
                    prices[k][(j - k) * nc + c] = priced(traffic(words, *widths[k]), *widths[k],
                                                         compute[k])  # fmt: skip
        cur = None
        for k in range(n - 1, -1, -1):
            lat, en, sc, ti = (np.stack(p) for p in zip(*prices[k], strict=True))
            prices[k] = []  # free this width's prices
            ids = np.broadcast_to(k * nc + np.arange(len(sc))[:, None, None], sc.shape)
            if cur is not None:  # the previous choice, priced at this width, first
                pos = (cur - k * nc)[None]
                lim_lat, lim_en = np.take_along_axis(lat, pos, 0), np.take_along_axis(en, pos, 0)
                ok = (lat <= lim_lat) & (en <= lim_en)
                sc = np.concatenate([np.take_along_axis(sc, pos, 0), np.where(ok, sc, np.inf)])
                ti = np.concatenate([np.take_along_axis(ti, pos, 0), ti])
                ids = np.concatenate([cur[None], ids])
            # the first candidate with the least (score, tie-break), as a scan would keep
            least = sc.min(0)
            ti_least = np.where(sc == least, ti, np.inf)
            first = np.argmax((sc == least) & (ti_least == ti_least.min(0)), axis=0)[None]
            cur = np.take_along_axis(ids, first, 0)[0]
        choice[:, cols] = cur
        score[:, cols] = least
        tie[:, cols] = np.take_along_axis(ti, first, 0)[0]
        if kept is not None:
            _keep(kept, tilings, cur, cols, local)
    if kept is None:
        return _rebuild(choice, score, tie, sizings, cands, dataflow, sizes, geom, su,
                        temporal, glb_cap, pick)  # fmt: skip
    orders = np.array(cands)[choice % nc]
    return dataclasses.replace(kept, rf_order=orders[..., 0], glb_order=orders[..., 1],
                               dram_order=orders[..., 2], score=score, tie=tie)  # fmt: skip


# The bits-aware chain keeps every candidate's tiling of a block (word counts and factors,
# (L, tiling columns) each) to gather the winners from, while that takes at most this many
# bytes; beyond it, the winners are rebuilt at the end (same result, more time).
_KEEP_BYTES = 256 << 20
_KEPT_ARRAYS = len(WORD_KEYS) + 3 * len(DIMS)


def _empty_mapping(shape: tuple[int, int]) -> Mapping:
    zeros = np.zeros(shape, dtype=np.int64)
    factors = {lv: {d: np.ones(shape) for d in DIMS} for lv in ("rf", "glb", "dram")}
    return Mapping({key: np.zeros(shape) for key in WORD_KEYS}, zeros, zeros, zeros, factors)


def _part_factors(factors: dict, part: slice, n_layers: int) -> dict:  # noqa: ANN001
    return {lv: {d: np.broadcast_to(v, (n_layers, v.shape[1]))[:, part] for d, v in f.items()}
            for lv, f in factors.items()}  # fmt: skip


def _keep(
    kept: Mapping, tilings: list, cur: np.ndarray, cols: np.ndarray, local: np.ndarray
) -> None:
    """Writes the winners ``cur`` ((L, block) indices into ``tilings``) into ``kept``."""
    rows, at = np.arange(cur.shape[0])[:, None], local[None, :]

    def gather(arrays: list[np.ndarray]) -> np.ndarray:
        shape = (cur.shape[0], arrays[0].shape[1])
        return np.stack([np.broadcast_to(a, shape) for a in arrays])[cur, rows, at]

    for key, out in kept.words.items():
        out[:, cols] = gather([w[key] for w, _ in tilings])
    for lv, dims in kept.factors.items():
        for d, out in dims.items():
            out[:, cols] = gather([f[lv][d] for _, f in tilings])


# Above this many (tiling column, GLB port width) pairs per priced column, the chain prices
# each priced column directly (see _TilePricing).
_DIRECT_RATIO = 2.0


class _TilePricing:
    """:meth:`MappingSelection.measure` and ``score`` of a candidate for a block of priced
    columns, from its traffic per tiling column: every term that depends on the tiling alone
    (or on it and the GLB port width, of which a space has a few) is computed once per tiling
    column and gathered, so only compute, the bandwidths and the final sums run per priced
    column (or, with few priced columns per tiling column, the traffic is gathered and priced
    per column by ``measure`` itself). Both paths price with the same functions
    (:func:`glb_port_bits`, :func:`layer_energy`, :func:`paced_latency`, ...) on the same
    values, so their results are equal to the last bit."""

    def __init__(self, sel: MappingSelection, local: np.ndarray, first: np.ndarray, port) -> None:  # noqa: ANN001
        self.sel, self.local, self.port = sel, local, port
        glb_bw = sel.glb_bw[0]
        self.glb_values, g_idx = np.unique(glb_bw, return_inverse=True)
        self.by_port = local * len(self.glb_values) + g_idx.reshape(-1)
        self.dram_bw = sel.dram_bw
        self.inv_bw = 1.0 / sel.glb_bw + 1.0 / sel.dram_bw
        # per tiling column (each is one RF and GLB size)
        self.glb_sram_pj = sel.glb_sram_pj[:, first][..., None]
        self.rf_pj = sel.rf_pj[:, first]
        # Few priced columns per tiling column (a design pool, one design per tiling): the
        # per-port-width terms would cost more than pricing each column directly.
        self.direct = len(first) * len(self.glb_values) > _DIRECT_RATIO * len(local)

    def __call__(self, moved: dict[str, np.ndarray], wb, ab, pb, compute):  # noqa: ANN001, ANN204
        """(latency, energy, score, tie-break) per priced column; ``moved`` and the widths
        per tiling column, ``compute`` per priced column."""
        sel, t, local = self.sel, self.sel.tech, self.local
        n_layers = moved["glb"].shape[0]
        if self.direct:
            shape = moved["glb"].shape
            moved = {key: v[:, local] for key, v in moved.items()}
            wb, ab, pb = (np.broadcast_to(x, shape)[:, local] for x in (wb, ab, pb))
            lat, en = sel.measure(moved, wb, ab, pb, self.port[:, local], compute)
            return (lat, en, *sel.score(moved, lat, en))
        # on the (layer, tiling column, port width) grid, then gathered per priced column
        grid = {key: v[..., None] for key, v in moved.items()}
        g = self.glb_values[None, None, :]
        port_bits = glb_port_bits(grid, g)
        energy = layer_energy(t, sel.macs[..., None], grid, port_bits, wb[..., None],
                              ab[..., None], pb[..., None], self.rf_pj[..., None],
                              self.glb_sram_pj)  # fmt: skip

        def per_port(x):  # noqa: ANN001, ANN202
            return x.reshape(n_layers, -1)[:, self.by_port]

        latency = paced_latency(
            compute + psum_stall(moved, self.port)[:, local], per_port(port_bits / g),
            moved["dram"][:, local], self.dram_bw,
            (moved["onload_glb"] + moved["offload_glb"])[:, local], self.inv_bw,
        )  # fmt: skip
        energy = per_port(energy)
        if sel.metric == "energy":
            cost = movement_energy(t, moved, self.glb_sram_pj[..., 0])[:, local]
            return latency, energy, cost, cost
        return (latency, energy, *sel.score(moved, latency, energy))


def _select_columns(select: MappingSelection, cols: np.ndarray) -> MappingSelection:
    """``select`` at priced columns ``cols`` (its per-layer ``macs`` apply to all)."""

    def take(x):  # noqa: ANN001, ANN202
        return None if x is None else x[:, cols]

    return dataclasses.replace(
        select,
        compute=take(select.compute), glb_bw=take(select.glb_bw),
        dram_bw=take(select.dram_bw), glb_sram_pj=take(select.glb_sram_pj),
        rf_pj=take(select.rf_pj), cap=take(select.cap), fused=take(select.fused),
        packed=None if select.packed is None else {p: take(c) for p, c in select.packed.items()},
    )  # fmt: skip


def _rebuild(choice, score, tie, sizings, cands, dataflow, sizes, geom, su, temporal, glb_cap,  # noqa: ANN001, ANN202, PLR0913
             pick):  # fmt: skip
    """The chosen tilings: each winning candidate rebuilt on the (layer, tiling column)
    elements it won, as a row of elements (the tiling of an element depends on it alone)."""
    full = np.broadcast(glb_cap, su["K"]).shape
    shape = choice.shape
    words = {key: np.zeros(shape) for key in WORD_KEYS}
    factors = {lv: {d: np.ones(shape) for d in DIMS} for lv in ("rf", "glb", "dram")}
    orders = np.array(cands)[choice % len(cands)]
    for g in np.unique(choice):
        rows, cols = np.nonzero(choice == g)
        codes, inv = np.unique(rows * full[1] + pick[cols], return_inverse=True)
        lr, tc = np.divmod(codes, full[1])

        def at(x, lr=lr, tc=tc):  # noqa: ANN001, ANN202
            return np.broadcast_to(x, full)[lr, tc][None, :]

        fill_bits, rf_caps = sizings[g // len(cands)]
        ri, gi, di = cands[g % len(cands)]
        w, f = _evaluate(
            RF_ORDERS[dataflow][ri], GLB_ORDERS[gi],
            {d: v[lr, 0][None, :] for d, v in sizes.items()},
            Geometry(geom.stride[lr, 0][None, :], geom.dil[lr, 0][None, :]),
            {d: at(v) for d, v in su.items()}, {d: at(v) for d, v in temporal.items()},
            {op: at(v) for op, v in rf_caps.items()}, at(glb_cap),
            {op: at(v) for op, v in fill_bits.items()}, DRAM_ORDERS[di],
        )  # fmt: skip
        inv = inv.reshape(-1)
        for key in WORD_KEYS:
            words[key][rows, cols] = w[key][0, inv]
        for lv in factors:
            for d in DIMS:
                factors[lv][d][rows, cols] = np.broadcast_to(f[lv][d], w["glb_W"].shape)[0, inv]
    return Mapping(words, orders[..., 0], orders[..., 1], orders[..., 2], factors, score, tie)


@dataclasses.dataclass(frozen=True)
class PricedCandidates:
    """Every candidate's tiling per tiling column and, per priced column, the winner's index,
    score and tie-break (:func:`best_mapping` with ``pick``). :meth:`mapping` gathers the
    winners' words and factors only for the columns asked for."""

    cands: tuple
    shape: tuple[int, int]  # (L, tiling columns)
    words: list[dict[str, np.ndarray]]
    factors: list[dict[str, dict[str, np.ndarray]]]
    pick: np.ndarray
    best_idx: np.ndarray
    score: np.ndarray
    tie: np.ndarray

    def mapping(self, cols: np.ndarray | None = None) -> Mapping:
        """The winners at priced columns ``cols`` ((L, P), per layer; all when None)."""
        n_layers = self.best_idx.shape[0]
        rows = np.arange(n_layers)[:, None]
        if cols is None:
            cols = np.broadcast_to(np.arange(self.best_idx.shape[1])[None, :], self.best_idx.shape)
        idx, tiles = self.best_idx[rows, cols], self.pick[cols]

        def gather(arrays: list[np.ndarray]) -> np.ndarray:
            return np.stack([np.broadcast_to(a, self.shape) for a in arrays])[idx, rows, tiles]

        orders = np.array(self.cands)
        return Mapping(
            words={k: gather([w[k] for w in self.words]) for k in self.words[0]},
            rf_order=orders[idx, 0],
            glb_order=orders[idx, 1],
            dram_order=orders[idx, 2],
            factors={
                lvl: {d: gather([f[lvl][d] for f in self.factors]) for d in DIMS}
                for lvl in self.factors[0]
            },
            score=self.score[rows, cols],
            tie=self.tie[rows, cols],
        )
