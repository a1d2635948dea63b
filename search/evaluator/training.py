"""Training the DANCE evaluator on cost-model labels, and measuring it on held-out designs.

The budget is in optimiser steps, so one seed gives the same network on any machine;
``max_seconds`` is only a safety cap (0 = none).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.accel_model import AnalyticalModel, CostModel
from coexplore.config import ConfigBase, check_range
from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.search._determinism import deterministic
from coexplore.search.evaluator.model import FPS_BOUNDS, Evaluator
from coexplore.search.objectives import log_objective
from coexplore.search.samples import (
    Samples,
    VariantCosts,
    gather,
    generate,
    generate_with_costs,
    price,
)
from coexplore.search.space import SKIP, JointSpace, get_space

__all__ = ["EvaluatorConfig", "train_evaluator", "evaluate_evaluator", "focus_pool"]

INFERENCE_REPEATS = 3


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig(ConfigBase):
    """Evaluator size and training budget.

    Args:
        width: Hardware-tower width.
        dim: Size of the hardware vector ``h`` each variant reads.
        terms: Exponential terms per variant (soft max of compute- and memory-like costs).
        samples: Labelled designs for training.
        pool: Distinct accelerators those designs are drawn from (more generalises better).
        test_samples: Held-out designs (another seed, hence other accelerators).
        train_steps: Optimiser steps (the budget: the same seed gives the same network on
            any machine).
        max_seconds: Optional wall-clock cap on training, a safety net (0 = none); a run
            cut by it says so in its metrics.
        batch: Designs per step.
        hw_batch: Accelerators per step whose every variant is a training label too.
        variant_weight: Weight of the per-variant loss beside the per-design one.
        focus: Share of the budget trained with a *focus pool* added: the accelerators the
            half-trained evaluator ranks best for each objective on ``focus_designs`` random
            designs, and their single-parameter neighbours, priced exactly (0 = off). Random
            labels rarely land near the optima, yet a search compares exactly those designs.
        focus_designs: Random designs whose predicted optima make the focus pool.
        lr: Peak learning rate (cosine decay over the budget).
        seed: Seed of data, initialisation and batches.
    """

    width: int = 64
    dim: int = 16
    terms: int = 2
    samples: int = 200_000
    pool: int = 65_536
    test_samples: int = 20_000
    train_steps: int = 9600
    max_seconds: float = 0.0
    batch: int = 1024
    hw_batch: int = 64
    variant_weight: float = 0.3
    focus: float = 0.3
    focus_designs: int = 16
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("width", self.width, 4, 4096)
        check_range("dim", self.dim, 1, 1024)
        check_range("terms", self.terms, 1, 16)
        check_range("samples", self.samples, 100, 10_000_000)
        check_range("pool", self.pool, 16, 1_000_000)
        check_range("test_samples", self.test_samples, 10, 10_000_000)
        check_range("train_steps", self.train_steps, 1, 100_000_000)
        check_range("max_seconds", self.max_seconds, 0.0, 7 * 86_400)
        check_range("batch", self.batch, 1, 1_000_000)
        check_range("hw_batch", self.hw_batch, 0, 100_000)
        check_range("variant_weight", self.variant_weight, 0.0, 1000.0)
        check_range("focus", self.focus, 0.0, 0.9)
        check_range("focus_designs", self.focus_designs, 1, 4096)
        check_range("lr", self.lr, 1e-6, 1.0)


# -- training ----------------------------------------------------------------------------
def _targets(samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    ok = samples.feasible
    y = np.stack(
        [
            np.log(samples.latency_cycles[ok]),
            np.log(samples.energy_pj[ok]),
            np.log(samples.area_mm2[ok]),
        ],
        axis=1,
    ).astype(np.float32)
    return ok, y


def train_evaluator(
    space: JointSpace | str,
    config: EvaluatorConfig | None = None,
    *,
    model: CostModel | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Evaluator, dict[str, Any]]:
    """Labels data with the cost model, trains an :class:`Evaluator`, measures it on held-out
    designs of another seed (other accelerators and architectures).

    Returns:
        (evaluator, metrics dict: data and training seconds, held-out MAPE, Spearman, fps
        bound agreement, inference rate).
    """
    with deterministic():
        return _train_evaluator(space, config, model=model, progress=progress)


def _train_evaluator(
    space: JointSpace | str,
    config: EvaluatorConfig | None,
    *,
    model: CostModel | None,
    progress: ProgressFn | None,
) -> tuple[Evaluator, dict[str, Any]]:
    sp = get_space(space) if isinstance(space, str) else space
    cfg = config or EvaluatorConfig()
    model = model or AnalyticalModel.for_search()

    def say(message: str) -> None:
        emit(progress, "evaluator", step, cfg.train_steps, message)

    step = 0
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    samples, costs = generate_with_costs(
        sp, cfg.samples, cfg.seed, pool_size=cfg.pool, model=model, progress=progress
    )
    data_s = time.perf_counter() - t0
    ok, y = _targets(samples)
    ev = Evaluator(sp, cfg.width, cfg.dim, cfg.terms, tuple(float(v) for v in y.mean(axis=0)))
    ops = torch.as_tensor(samples.ops[ok])
    bits = torch.as_tensor(samples.bits[ok])
    hw = torch.as_tensor(samples.hw[ok])
    yt = torch.as_tensor(y)
    var_y, var_ok, fix_y, pool = _variant_targets(sp, costs)
    opt = torch.optim.AdamW(ev.parameters(), lr=cfg.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    t1 = time.perf_counter()
    step, epoch, loss_v = 0, 0, float("nan")
    say(f"training on {len(yt):,} designs and {len(pool):,} accelerators x {ev.V} variants")
    if len(yt) < 2:
        raise ConfigError(
            f"only {len(yt)} of {cfg.samples} training designs are feasible; use more samples."
        )
    batch = min(cfg.batch, len(yt))
    focus: _Focus | None = None
    done = False
    while not done:
        perm = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(perm) - batch + 1, batch):
            frac = step / cfg.train_steps
            if frac >= 1.0 or (cfg.max_seconds and time.perf_counter() - t1 > cfg.max_seconds):
                done = True
                break
            if focus is None and cfg.focus and frac >= 1.0 - cfg.focus:
                focus = _Focus.build(ev, sp, cfg, model, say)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
            bi = perm[i : i + batch]
            loss = _design_loss(ev, ops[bi], bits[bi], hw[bi], yt[bi])
            if cfg.hw_batch and cfg.variant_weight > 0:
                hi = torch.randint(0, len(pool), (cfg.hw_batch,), generator=gen)
                loss = loss + cfg.variant_weight * _variant_loss(
                    ev, pool[hi], var_y[hi], var_ok[hi], fix_y[hi]
                )
            if focus is not None:
                loss = loss + focus.loss(ev, cfg, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_v = float(loss.detach())
            if step % 50 == 0 or step == cfg.train_steps:
                message = f"epoch {epoch + 1}"
                emit(progress, "evaluator", step, cfg.train_steps, message, loss=loss_v)
        epoch += 1
    train_s = time.perf_counter() - t1
    ev.eval()
    say("measuring on held-out designs")
    test = generate(sp, cfg.test_samples, cfg.seed + 1000, pool_size=4096, model=model)
    metrics = evaluate_evaluator(ev, test)
    metrics.update(
        {
            "data_seconds": data_s,
            "train_seconds": train_s,
            "capped_by_max_seconds": step < cfg.train_steps,
            "steps": step,
            "epochs": epoch,
            "train_designs": int(len(yt)),
            "train_accelerators": int(len(pool)),
            "focus": focus.summary() if focus is not None else None,
            "torch_threads": torch.get_num_threads(),
            "config": cfg.to_dict(),
        }
    )
    return ev, metrics


def _design_loss(
    ev: Evaluator, ops: torch.Tensor, bits: torch.Tensor, hw: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Loss on designs' exact log latency, energy and area."""
    return F.smooth_l1_loss(ev._hard(ops, bits, hw), y, beta=0.05)


def _variant_loss(
    ev: Evaluator, hw: torch.Tensor, y: torch.Tensor, ok: torch.Tensor, fixed_y: torch.Tensor
) -> torch.Tensor:
    """Loss on exact per-variant and stem+head log costs of accelerators ``hw``."""
    parts, fixed = ev.variant_costs(hw)
    return F.smooth_l1_loss(parts[ok], y[ok], beta=0.05) + F.smooth_l1_loss(
        fixed, fixed_y, beta=0.05
    )


@dataclasses.dataclass
class _Focus:
    """Exact labels on the accelerators a search will compare: the evaluator's predicted
    optima and their neighbours (see ``EvaluatorConfig.focus``)."""

    ops: torch.Tensor
    bits: torch.Tensor
    hw: torch.Tensor
    y: torch.Tensor
    pool: torch.Tensor
    var_y: torch.Tensor
    var_ok: torch.Tensor
    fix_y: torch.Tensor
    seconds: float

    @classmethod
    def build(
        cls,
        ev: Evaluator,
        sp: JointSpace,
        cfg: EvaluatorConfig,
        model: CostModel,
        say: Callable[[str], None],
    ) -> _Focus:
        t0 = time.perf_counter()
        ev.eval()
        pool = focus_pool(ev, cfg.focus_designs, seed=cfg.seed + 7_000)
        ev.train()
        costs = price(sp, pool, model)
        rng = np.random.default_rng(cfg.seed + 7_001)
        n = 32 * len(pool)
        ops, bits, _ = sp.sample(n, seed=cfg.seed + 7_002)
        samples = gather(costs, ops, bits, rng.integers(0, len(pool), size=n))
        ok, y = _targets(samples)
        var_y, var_ok, fix_y, pool_t = _variant_targets(sp, costs)
        out = cls(
            ops=torch.as_tensor(samples.ops[ok]),
            bits=torch.as_tensor(samples.bits[ok]),
            hw=torch.as_tensor(samples.hw[ok]),
            y=torch.as_tensor(y),
            pool=pool_t,
            var_y=var_y,
            var_ok=var_ok,
            fix_y=fix_y,
            seconds=time.perf_counter() - t0,
        )
        say(
            f"focus pool: {len(pool):,} accelerators near the predicted optima of "
            f"{cfg.focus_designs} designs, priced in {out.seconds:.1f} s"
        )
        return out

    def loss(self, ev: Evaluator, cfg: EvaluatorConfig, gen: torch.Generator) -> torch.Tensor:
        """The same two losses on a batch of focus designs and focus accelerators."""
        bi = torch.randint(0, len(self.y), (max(1, cfg.batch // 4),), generator=gen)
        loss = _design_loss(ev, self.ops[bi], self.bits[bi], self.hw[bi], self.y[bi])
        if cfg.hw_batch and cfg.variant_weight > 0:
            hi = torch.randint(0, len(self.pool), (max(1, cfg.hw_batch // 2),), generator=gen)
            loss = loss + cfg.variant_weight * _variant_loss(
                ev, self.pool[hi], self.var_y[hi], self.var_ok[hi], self.fix_y[hi]
            )
        return loss

    def summary(self) -> dict[str, Any]:
        return {
            "accelerators": int(len(self.pool)),
            "designs": int(len(self.y)),
            "seconds": self.seconds,
        }


FOCUS_TOP = 32  # predicted-best accelerators kept per design and objective
FOCUS_CENTRES = 4  # of those, how many bring their single-parameter neighbours
FOCUS_SCAN = 1 << 19  # accelerators scanned per design (the whole space when smaller)


def focus_pool(ev: Evaluator, n_designs: int, seed: int) -> np.ndarray:
    """Accelerator choice indices near the optima the evaluator predicts for ``n_designs``
    random designs: per design and objective (not area: it is exact in form) the
    :data:`FOCUS_TOP` best of the space (or of :data:`FOCUS_SCAN` random accelerators) and
    every single-parameter neighbour of the :data:`FOCUS_CENTRES` best."""
    hws = ev.space.hardware
    scan = hws.all_indices() if hws.size <= FOCUS_SCAN else hws.sample_indices(FOCUS_SCAN, seed)
    log_clock = np.log(hws.batch(scan).clock_hz)
    ops, bits, _ = ev.space.sample(n_designs, seed=seed)
    picks, centres = [], []
    k = min(FOCUS_TOP, len(scan))
    for i in range(n_designs):
        n = len(scan)
        pred = ev.predict_indices(np.tile(ops[i], (n, 1)), np.tile(bits[i], (n, 1)), scan)
        for name in ("edp", "latency", "energy", "edap"):
            val = log_objective(name, pred[:, 0] - log_clock, pred[:, 1], pred[:, 2])
            top = np.argpartition(val, k - 1)[:k]
            top = top[np.argsort(val[top])]
            picks.append(scan[top])
            centres.append(scan[top[:FOCUS_CENTRES]])
    centre = np.unique(np.concatenate(centres), axis=0)
    for j, size in enumerate(hws.sizes):
        moved = np.repeat(centre, size, axis=0)
        moved[:, j] = np.tile(np.arange(size), len(centre))
        picks.append(moved)
    return np.unique(np.concatenate(picks).astype(scan.dtype), axis=0)


def _variant_targets(
    space: JointSpace, costs: VariantCosts
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-variant log targets (m, V, 2), their validity (m, V), stem+head (m, 2), pool (m, P)."""
    m = len(costs.pool)
    with np.errstate(divide="ignore"):
        lc = np.log(costs.cycles.reshape(-1, m)).T
        le = np.log(costs.energy_pj.reshape(-1, m)).T
    valid = costs.feasible.reshape(-1, m).T & np.isfinite(lc) & np.isfinite(le)
    valid &= (
        np.tile(np.arange(space.n_ops) != SKIP, (space.n_slots, 1))
        .repeat(len(space.bits), axis=1)
        .reshape(-1)[None, :]
    )
    y = np.stack([np.where(valid, lc, 0.0), np.where(valid, le, 0.0)], axis=-1)
    fixed = np.stack([np.log(costs.fixed_cycles), np.log(costs.fixed_energy_pj)], axis=1)
    fixed = np.where(np.isfinite(fixed), fixed, 0.0)
    return (
        torch.as_tensor(y, dtype=torch.float32),
        torch.as_tensor(valid),
        torch.as_tensor(fixed, dtype=torch.float32),
        torch.as_tensor(costs.pool, dtype=torch.long),
    )


def evaluate_evaluator(ev: Evaluator, test: Samples) -> dict[str, Any]:
    """Held-out accuracy of ``ev`` on feasible designs of ``test``, and inference rate."""
    from scipy import stats

    ok, y = _targets(test)
    pred = ev.predict_indices(test.ops[ok], test.bits[ok], test.hw[ok])
    ape = np.abs(np.exp(pred - y) - 1.0)
    names = ("latency", "energy", "area")
    clock = ev.space.hardware.batch(test.hw[ok]).clock_hz
    fps_true, fps_pred = clock / np.exp(y[:, 0]), clock / np.exp(pred[:, 0])
    n_rep = max(1, 65_536 // len(y))
    ops, bits, hw = (np.tile(a[ok], (n_rep, 1)) for a in (test.ops, test.bits, test.hw))
    ev.predict_indices(ops[:8192], bits[:8192], hw[:8192])  # warm-up
    seconds = []
    for _ in range(INFERENCE_REPEATS):  # best of a few: one timing on a shared machine is noisy
        t = time.perf_counter()
        ev.predict_indices(ops, bits, hw)
        seconds.append(time.perf_counter() - t)
    rate = len(ops) / min(seconds)
    return {
        "test_designs": int(ok.sum()),
        "mape": {k: float(ape[:, j].mean()) for j, k in enumerate(names)},
        "ape_p90": {k: float(np.percentile(ape[:, j], 90)) for j, k in enumerate(names)},
        "spearman": {
            k: float(stats.spearmanr(pred[:, j], y[:, j]).statistic) for j, k in enumerate(names)
        },
        "fps_bound_agreement": {
            str(int(b)): float(((fps_true >= b) == (fps_pred >= b)).mean()) for b in FPS_BOUNDS
        },
        "predictions_per_s": rate,
        "inference_repeats": INFERENCE_REPEATS,
    }
