"""Training samples for the DANCE evaluator, labelled by the analytical cost model.

The cost of an architecture is a sum over its layers (latency and energy, leakage included),
area depends on the accelerator only, and a design is feasible when every layer is. So each
(slot, operator, bits) variant is priced once over a pool of accelerators, and any sample's
labels are gathered and summed from those: exact, and fast enough for hundreds of thousands
of samples. The pool is seeded and stratified so every dataflow and MAC mode is well
represented and the extreme corners of the space are in it.

Coverage beyond uniform sampling: a share of extreme architectures (all largest, all
smallest, all skip where allowed), of uniform bit-widths (all slots at one width), and of
designs near the frame-rate bounds users set (10-120 fps), oversampled from candidates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from coexplore.accel_model import AnalyticalModel, CostModel, Workload
from coexplore.accel_model.design_space import PARAMETERS
from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import atomic_write
from coexplore.search.space import OPERATORS, SKIP, JointSpace

__all__ = [
    "Samples",
    "VariantCosts",
    "price",
    "gather",
    "label",
    "accelerator_pool",
    "generate_with_costs",
    "generate",
    "load_or_generate",
    "FPS_BAND",
]

log = logging.getLogger(__name__)
FPS_BAND = (10.0, 120.0)
_FIELDS = (
    "ops",
    "bits",
    "hw",
    "latency_cycles",
    "latency_s",
    "fps",
    "energy_pj",
    "area_mm2",
    "power_mw",
    "feasible",
)


@dataclasses.dataclass(frozen=True)
class Samples:
    """Labelled samples, one entry per row. Index arrays follow :class:`JointSpace`."""

    ops: np.ndarray  # (n, slots)
    bits: np.ndarray  # (n, slots), indices into space.bits
    hw: np.ndarray  # (n, params), indices into the hardware space
    latency_cycles: np.ndarray
    latency_s: np.ndarray
    fps: np.ndarray
    energy_pj: np.ndarray
    area_mm2: np.ndarray
    power_mw: np.ndarray
    feasible: np.ndarray

    def __len__(self) -> int:
        return int(self.ops.shape[0])

    def take(self, idx: np.ndarray) -> Samples:
        return Samples(**{f: getattr(self, f)[idx] for f in _FIELDS})

    def save(self, path: Path, key: dict) -> None:
        """Writes atomically (temporary file, then rename): a crash leaves no half file."""

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(
                    f,
                    key=np.array(json.dumps(key, sort_keys=True)),
                    **{f: getattr(self, f) for f in _FIELDS},
                )

        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path, key: dict) -> Samples | None:
        """The samples at ``path`` if they were made with exactly ``key``, else None."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != json.dumps(key, sort_keys=True):
                    return None
                return cls(**{f: data[f] for f in _FIELDS})
        except (OSError, KeyError, ValueError):
            return None


def _variant_workload(space: JointSpace) -> tuple[Workload, dict]:
    """All distinct layers of all variants as one workload, and where each variant's lie."""
    layers, where = [], {}
    seen: dict[tuple, int] = {}
    for s, slot in enumerate(space.slots):
        for b, bits in enumerate(space.bits):
            for op in range(len(OPERATORS)):
                idx = []
                for ly in slot.layers(op, bits):
                    key = (s, b, ly.kind, ly.in_channels, ly.out_channels, ly.kernel_h)
                    if key not in seen:
                        seen[key] = len(layers)
                        layers.append(dataclasses.replace(ly, name=f"{ly.name}#{len(layers)}"))
                    idx.append(seen[key])
                where[(s, op, b)] = idx
    return Workload(f"{space.name}-variants", tuple(layers)), where


def accelerator_pool(space: JointSpace, size: int, seed: int) -> np.ndarray:
    """Accelerator pool: stratified over dataflow x MAC mode, plus each stratum's corners."""
    hw = space.hardware
    df_j, mm_j = PARAMETERS.index("dataflow"), PARAMETERS.index("mac_mode")
    strata = [(d, m) for d in range(hw.sizes[df_j]) for m in range(hw.sizes[mm_j])]
    per = max(1, size // len(strata))
    parts = []
    for i, (d, m) in enumerate(strata):
        idx = hw.sample_indices(per, seed + 101 * i)
        idx[:, df_j], idx[:, mm_j] = d, m
        lo = np.zeros((1, len(PARAMETERS)), dtype=idx.dtype)
        hi = np.array([hw.sizes], dtype=idx.dtype) - 1
        for corner in (lo, hi):
            corner[:, df_j], corner[:, mm_j] = d, m
        parts += [idx, lo, hi]
    return np.unique(np.concatenate(parts), axis=0)


@dataclasses.dataclass(frozen=True)
class VariantCosts:
    """Per-variant costs over an accelerator pool: the exact parts every label is summed from.

    ``cycles``/``energy_pj``/``feasible`` have shape (slots, operators, bits, pool); ``skip``
    costs nothing and is always feasible. ``fixed_*`` hold the stem and head, ``area_mm2``
    and ``clock_hz`` the accelerators, all of shape (pool,).
    """

    pool: np.ndarray  # (m, params) accelerator choice indices
    cycles: np.ndarray
    energy_pj: np.ndarray
    feasible: np.ndarray
    fixed_cycles: np.ndarray
    fixed_energy_pj: np.ndarray
    fixed_feasible: np.ndarray
    area_mm2: np.ndarray
    clock_hz: np.ndarray


def price(space: JointSpace, pool: np.ndarray, model: CostModel | None = None) -> VariantCosts:
    """Prices every (slot, operator, bits) variant and the fixed layers on every pool row."""
    model = model or AnalyticalModel.for_search()
    accs = space.hardware.batch(pool)
    fixed = Workload(f"{space.name}-fixed", space.stem + space.head)
    fixed_cost = model.evaluate(fixed, accs, per_layer=True)
    variants, where = _variant_workload(space)
    var_cost = model.evaluate(variants, accs, per_layer=True)
    assert fixed_cost.layers is not None and var_cost.layers is not None
    n_s, n_o, n_b, m = space.n_slots, space.n_ops, len(space.bits), len(pool)
    lat = np.zeros((n_s, n_o, n_b, m))
    energy = np.zeros((n_s, n_o, n_b, m))
    feas = np.ones((n_s, n_o, n_b, m), dtype=bool)
    for (s, op, b), idx in where.items():
        lat[s, op, b] = var_cost.layers["cycles"][idx].sum(axis=0)
        energy[s, op, b] = var_cost.layers["energy_pj"][idx].sum(axis=0)
        feas[s, op, b] = var_cost.layers["feasible"][idx].min(axis=0) > 0
    return VariantCosts(
        pool=pool,
        cycles=lat,
        energy_pj=energy,
        feasible=feas,
        fixed_cycles=fixed_cost.layers["cycles"].sum(axis=0),
        fixed_energy_pj=fixed_cost.layers["energy_pj"].sum(axis=0),
        fixed_feasible=fixed_cost.layers["feasible"].min(axis=0) > 0,
        area_mm2=fixed_cost.area_mm2,
        clock_hz=accs.clock_hz,
    )


def gather(costs: VariantCosts, ops: np.ndarray, bits: np.ndarray, pool_idx: np.ndarray) -> Samples:
    """Labels of samples whose accelerators are rows ``pool_idx`` of ``costs.pool`` (exact)."""
    slots = np.arange(ops.shape[1])[None, :]
    at = (slots, ops, bits, pool_idx[:, None])
    cyc = costs.fixed_cycles[pool_idx] + costs.cycles[at].sum(axis=1)
    e = costs.fixed_energy_pj[pool_idx] + costs.energy_pj[at].sum(axis=1)
    ok = costs.fixed_feasible[pool_idx] & costs.feasible[at].all(axis=1)
    latency_s = np.where(ok, cyc / costs.clock_hz[pool_idx], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        fps = np.where(ok, 1.0 / latency_s, 0.0)
        power = np.where(ok, e * 1e-12 / latency_s * 1e3, np.inf)
    return Samples(
        ops=ops,
        bits=bits,
        hw=costs.pool[pool_idx],
        latency_cycles=np.where(ok, cyc, np.inf),
        latency_s=latency_s,
        fps=fps,
        energy_pj=np.where(ok, e, np.inf),
        area_mm2=costs.area_mm2[pool_idx],
        power_mw=power,
        feasible=ok,
    )


def label(
    space: JointSpace,
    ops: np.ndarray,
    bits: np.ndarray,
    pool: np.ndarray,
    pool_idx: np.ndarray,
    model: CostModel | None = None,
) -> Samples:
    """Labels samples whose accelerators are rows ``pool_idx`` of ``pool`` (exact).

    Args:
        space: The joint space.
        ops, bits: (n, slots) operator and bit-width indices.
        pool: (m, params) accelerator choice indices.
        pool_idx: (n,) row of ``pool`` of each sample.
        model: Cost model (the analytical model by default).
    """
    space.validate(ops, bits)
    return gather(price(space, pool, model), ops, bits, pool_idx)


def _architectures(
    space: JointSpace, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n_choices = np.where(space.skip_allowed, space.n_ops, len(OPERATORS))
    ops = (rng.random((n, space.n_slots)) * n_choices).astype(np.int64)
    bits = rng.integers(0, len(space.bits), size=(n, space.n_slots))
    # 10 %: extreme architectures (largest, smallest, all skip where allowed).
    k = n // 10
    kind = rng.integers(0, 3, size=k)
    extreme = np.where(kind[:, None] == 0, len(OPERATORS) - 1, 0)
    extreme = np.where((kind[:, None] == 2) & space.skip_allowed[None, :], SKIP, extreme)
    ops[:k] = extreme
    # 10 %: every slot at one bit-width.
    bits[k : 2 * k] = rng.integers(0, len(space.bits), size=(k, 1))
    return ops, bits


def generate(
    space: JointSpace,
    n: int,
    seed: int,
    *,
    pool_size: int = 8192,
    model: CostModel | None = None,
    progress: ProgressFn | None = None,
) -> Samples:
    """``n`` labelled samples: 70 % as drawn, 30 % near the 10-120 fps band.

    Raises:
        ConfigError: for ``n`` < 1.
    """
    return generate_with_costs(space, n, seed, pool_size=pool_size, model=model, progress=progress)[
        0
    ]


def generate_with_costs(
    space: JointSpace,
    n: int,
    seed: int,
    *,
    pool_size: int = 8192,
    model: CostModel | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Samples, VariantCosts]:
    """As :func:`generate`, also returning the per-variant costs the labels were summed from
    (the evaluator trains on both)."""
    if n < 1:
        raise ConfigError(f"the number of samples must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pool = accelerator_pool(space, pool_size, seed)
    n_cand = int(n * 1.6) + 10
    ops, bits = _architectures(space, n_cand, rng)
    pool_idx = rng.integers(0, len(pool), size=n_cand)
    emit(progress, "labelling", 0, 1, f"pricing {len(pool):,} accelerators x all variants")
    space.validate(ops, bits)
    costs = price(space, pool, model)
    cand = gather(costs, ops, bits, pool_idx)
    band = np.flatnonzero((cand.fps >= FPS_BAND[0] * 0.8) & (cand.fps <= FPS_BAND[1] * 1.25))
    n_band = min(len(band), int(0.3 * n))
    chosen_band = rng.choice(band, size=n_band, replace=False) if n_band else band[:0]
    rest = np.setdiff1d(np.arange(n_cand), chosen_band)
    chosen = np.concatenate([chosen_band, rng.choice(rest, size=n - n_band, replace=False)])
    out = cand.take(rng.permutation(chosen))
    log.info(
        "labelled %d samples of %s in %.1f s (%d near the fps band)",
        n,
        space.name,
        time.perf_counter() - t0,
        n_band,
    )
    return out, costs


def cache_key(space: JointSpace, n: int, seed: int, pool_size: int, model: CostModel) -> dict:
    """Everything that changes the samples; a cache made with another key is never reused."""
    ident = model_identity(model)
    return {
        "space": space.name,
        "n": n,
        "seed": seed,
        "pool": pool_size,
        "model": ident["cost_model"],
        "model_version": ident["cost_model_version"],
        "tech": ident["tech"],
        "format": 1,
    }


def model_identity(model: CostModel) -> dict[str, str]:
    """Name, version and technology hash of a cost model: what labels made with it depend on."""
    tech = getattr(model, "tech", None)
    return {
        "cost_model": model.name,
        "cost_model_version": model.version,
        "tech": hashlib.sha256(repr(tech).encode()).hexdigest()[:16],
    }


def load_or_generate(
    space: JointSpace,
    n: int,
    seed: int,
    cache_dir: Path,
    *,
    pool_size: int = 8192,
    model: CostModel | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Samples, bool]:
    """Cached samples when the key matches exactly, else fresh ones (then cached).

    Returns:
        (samples, whether they came from the cache).
    """
    model = model or AnalyticalModel.for_search()
    key = cache_key(space, n, seed, pool_size, model)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"samples-{space.name}-{digest}.npz"
    cached = Samples.load(path, key)
    if cached is not None:
        return cached, True
    samples = generate(space, n, seed, pool_size=pool_size, model=model, progress=progress)
    samples.save(path, key)
    return samples, False
