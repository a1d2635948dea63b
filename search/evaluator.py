"""DANCE evaluator: a network that imitates the analytical cost model, differentiably.

Why this structure and not a plain MLP on the encoding: the cost model is additive over
layers (latency and energy of a design are the stem and head plus one term per slot), area
depends on the accelerator alone, and a layer's cost is a product of factors (MACs, 1 /
utilised PEs, 1 / packing...) with a max between compute and memory. So the network is

* a hardware tower: the (relaxed) one-hot accelerator encoding through an embedding and a
  small MLP with a linear skip, giving a vector ``h``;
* per (slot, operator, bits) variant and per (dataflow, MAC mode) pair, ``terms`` vectors
  whose dot products with ``h`` are log costs; a variant's cost is the sum of their
  exponentials (a soft max of compute- and memory-like terms), weighted by the probability
  of the variant (product of operator and bits probabilities: the expected cost under the
  relaxed distribution, as in DANCE and FBNet);
* area as a sum of products of per-parameter factors (``sum_k exp(sum_p A_kp)``), the form of
  PEs x (MAC + RF) + buffer + fixed, so it is exact in form and generalises to unseen
  combinations.

Training uses the exact per-variant costs the labels are summed from (hundreds of labels per
accelerator) next to the per-design totals; this is what makes the network generalise to
accelerators it has not seen. A hard-choice fast path (index gathers, chunked) computes the
same function as the relaxed path for batched inference; a test holds them equal.

torch is imported by this module; import it lazily from the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from coexplore.accel_model import AnalyticalModel, CostModel
from coexplore.accel_model.design_space import PARAMETERS
from coexplore.search.samples import (
    Samples,
    VariantCosts,
    gather,
    generate,
    generate_with_costs,
    model_identity,
    price,
)
from coexplore.search.space import SKIP, JointSpace, get_space
from torch import nn

from coexplore.config import ConfigBase, check_range
from coexplore.errors import ConfigError

__all__ = [
    "Evaluator",
    "EvaluatorConfig",
    "train_evaluator",
    "evaluate_evaluator",
    "save_evaluator",
    "load_evaluator",
    "FPS_BOUNDS",
    "OBJECTIVES",
    "log_objective",
]

FORMAT = 1
FPS_BOUNDS = (10.0, 30.0, 60.0, 120.0)
INFERENCE_REPEATS = 3
_DF = PARAMETERS.index("dataflow")
_MM = PARAMETERS.index("mac_mode")
_CLOCK = PARAMETERS.index("clock_hz")
_MAX_LOG = 30.0  # clamp for exp() of relative log costs; far above any real design
OBJECTIVES = ("edp", "latency", "energy", "area", "edap")


def log_objective(name: str, log_lat_s: Any, log_energy: Any, log_area: Any) -> Any:
    """Log of the objective from log latency (s), log energy and log area (any units)."""
    if name == "edp":
        return log_lat_s + log_energy
    if name == "latency":
        return log_lat_s
    if name == "energy":
        return log_energy
    if name == "area":
        return log_area
    if name == "edap":
        return log_lat_s + log_energy + log_area
    raise ConfigError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}.")


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
        train_seconds: Wall-clock training budget.
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
    train_seconds: float = 270.0
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
        check_range("train_seconds", self.train_seconds, 0.1, 86_400)
        check_range("batch", self.batch, 1, 1_000_000)
        check_range("hw_batch", self.hw_batch, 0, 100_000)
        check_range("variant_weight", self.variant_weight, 0.0, 1000.0)
        check_range("focus", self.focus, 0.0, 0.9)
        check_range("focus_designs", self.focus_designs, 1, 4096)
        check_range("lr", self.lr, 1e-6, 1.0)


class Evaluator(nn.Module):
    """Encodings of a :class:`JointSpace` -> log latency (cycles), log energy (pJ), log area
    (mm2). See the module docstring for the structure and why.

    Args:
        space: The joint space.
        width, dim, terms: See :class:`EvaluatorConfig`.
        log_mean: Mean log latency, energy and area of the training data (centres outputs).
    """

    def __init__(
        self,
        space: JointSpace,
        width: int = 64,
        dim: int = 16,
        terms: int = 2,
        log_mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        super().__init__()
        self.space = space
        hw = space.hardware
        self.S, self.O, self.B = space.n_slots, space.n_ops, len(space.bits)
        self.V = self.S * self.O * self.B
        self.n_df, self.n_mm = hw.sizes[_DF], hw.sizes[_MM]
        self.G = self.n_df * self.n_mm
        self.K, self.D = terms, dim
        self.H = hw.encoding_dim
        self.emb = nn.Linear(self.H, width)
        # ReLU, not SiLU: SiLU took ~18 % of batched inference time (see results/evaluator.md).
        self.tower = nn.Sequential(
            nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, dim)
        )
        self.skip = nn.Linear(width, dim)
        self.var = nn.Parameter(torch.randn(self.V, self.G, 2, terms, dim) * 0.05)
        self.var_bias = nn.Parameter(torch.zeros(self.V, self.G, 2, terms))
        self.fixed = nn.Linear(dim, 2 * terms)
        self.area = nn.Parameter(torch.randn(self.H, 2 * 3) * 0.1)
        mask = torch.ones(self.S, self.O, self.B)
        mask[:, SKIP, :] = 0.0
        self.register_buffer("mask", mask.reshape(-1))
        offs = np.concatenate([[0], np.cumsum(hw.sizes)[:-1]])
        self.register_buffer("offsets", torch.tensor(offs, dtype=torch.long))
        self.register_buffer("log_mean", torch.tensor(log_mean, dtype=torch.float32))
        # Relative log offset per variant: about the mean cost of one of S + 1 parts.
        part = torch.tensor(log_mean[:2], dtype=torch.float32) - math.log(self.S + 1)
        self.register_buffer("part_offset", part)
        clock = np.asarray(hw.choices["clock_hz"], dtype=np.float64)
        self.register_buffer("clock_choices", torch.tensor(clock, dtype=torch.float32))
        self._hw_slices = [slice(int(o), int(o) + n) for o, n in zip(offs, hw.sizes, strict=True)]

    # -- shared pieces --------------------------------------------------------------------
    def _onehot(self, hw: torch.Tensor) -> torch.Tensor:
        """Accelerator choice indices (n, params) -> one-hot encodings (n, H)."""
        onehot = torch.zeros(hw.shape[0], self.H, device=hw.device)
        return onehot.scatter_(1, hw + self.offsets, 1.0)

    def _hw_vector(self, hw_onehot: torch.Tensor) -> torch.Tensor:
        e = self.emb(hw_onehot)
        return self.tower(e) + self.skip(e)

    def _area(self, hw_onehot: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(hw_onehot @ self.area, dim=1) + self.log_mean[2]

    def _fixed(self, h: torch.Tensor) -> torch.Tensor:
        """(n, 2) relative linear cost of stem and head."""
        z = self.fixed(h).view(-1, 2, self.K).clamp(max=_MAX_LOG)
        return z.exp().sum(-1)

    def _group_probs(self, hw_onehot: torch.Tensor) -> torch.Tensor:
        """(n, G) probability of each (dataflow, MAC mode) pair."""
        df = hw_onehot[:, self._hw_slices[_DF]]
        mm = hw_onehot[:, self._hw_slices[_MM]]
        return (df[:, :, None] * mm[:, None, :]).reshape(-1, self.G)

    def _total(self, rel: torch.Tensor, hw_onehot: torch.Tensor) -> torch.Tensor:
        logs = torch.log(rel) + self.part_offset
        return torch.cat([logs, self._area(hw_onehot)[:, None]], dim=1)

    # -- relaxed path ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Relaxed or hard encodings (n, encoding_dim) -> (n, 3) log latency cycles, log
        energy pJ, log area mm2; differentiable with respect to ``x``."""
        n = x.shape[0]
        a, b = self.S * self.O, self.S * self.B
        ops = x[:, :a].reshape(n, self.S, self.O)
        bits = x[:, a : a + b].reshape(n, self.S, self.B)
        hw = x[:, a + b :]
        h = self._hw_vector(hw)
        w = (ops[:, :, :, None] * bits[:, :, None, :]).reshape(n, self.V) * self.mask
        z = torch.einsum("vgckd,nd->nvgck", self.var, h) + self.var_bias
        c = z.clamp(max=_MAX_LOG).exp().sum(-1)  # (n, V, G, 2)
        c = torch.einsum("nvgc,ng,nv->nc", c, self._group_probs(hw), w)
        return self._total(c + self._fixed(h), hw)

    # -- hard fast path -------------------------------------------------------------------
    def variant_index(self, ops: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        return torch.arange(self.S, device=ops.device) * (self.O * self.B) + ops * self.B + bits

    def _hard(self, ops: torch.Tensor, bits: torch.Tensor, hw: torch.Tensor) -> torch.Tensor:
        n = ops.shape[0]
        onehot = self._onehot(hw)
        h = self._hw_vector(onehot)
        v = self.variant_index(ops, bits)
        g = hw[:, _DF] * self.n_mm + hw[:, _MM]
        flat = v * self.G + g[:, None]
        table = self.var.reshape(self.V * self.G, 2 * self.K, self.D)
        vecs = table[flat]  # (n, S, 2K, D)
        z = (vecs * h[:, None, None, :]).sum(-1) + self.var_bias.reshape(-1, 2 * self.K)[flat]
        c = z.view(n, self.S, 2, self.K).clamp(max=_MAX_LOG).exp().sum(-1)
        c = (c * self.mask[v][:, :, None]).sum(1)
        return self._total(c + self._fixed(h), onehot)

    def _inference_tables(self) -> dict[str, torch.Tensor]:
        """Tables for hard-choice inference. ``var``: rows ((variant, group), d) of width 2K,
        so that an embedding bag weighted by ``h`` gives each slot's dot products in one fused
        pass; the bias is a last component (d = D, weight 1) and skip rows give exp(-80) ~ 0
        (what the mask does in the training path). ``emb``: the first tower layer as rows."""
        table = torch.cat([self.var, self.var_bias[..., None]], dim=-1)
        table = table * self.mask[:, None, None, None, None]
        table[..., -1] -= 80.0 * (1.0 - self.mask)[:, None, None, None]
        table = table.reshape(self.V * self.G, 2 * self.K, self.D + 1).transpose(1, 2)
        return {
            "var": table.contiguous().view(-1, 2 * self.K),
            "emb": self.emb.weight.t().contiguous(),
            "d": torch.arange(self.D + 1),
        }

    def _fast(
        self,
        tables: dict[str, torch.Tensor],
        ops: torch.Tensor,
        bits: torch.Tensor,
        hw: torch.Tensor,
        buf: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Hard-choice inference: index gathers instead of one-hot products (same function).
        The per-slot dot products are one weighted embedding bag, so no (n, S, 2K, D) tensor
        is ever written. ``buf`` holds one worker's scratch tensors: fresh multi-MB tensors
        per chunk cost page faults that stop two threads from scaling."""
        n, d1 = ops.shape[0], self.D + 1
        if buf.get("n") != n:
            buf.clear()
            buf.update(
                n=n,
                h=torch.ones(n, d1),
                bags=torch.empty(n * self.S, d1, dtype=torch.long),
                weights=torch.empty(n * self.S, d1),
            )
        idx = hw + self.offsets
        e = F.embedding_bag(idx, tables["emb"], mode="sum").add_(self.emb.bias)
        first, last = self.tower[1], self.tower[3]
        a = F.relu(first(F.relu(e)), inplace=True)
        h = buf["h"]
        torch.addmm(self.skip.bias + last.bias, a, last.weight.t(), out=h[:, :-1])
        h[:, :-1].addmm_(e, self.skip.weight.t())
        g = hw[:, _DF] * self.n_mm + hw[:, _MM]
        rows = (self.variant_index(ops, bits) * self.G + g[:, None]) * d1
        bags = torch.add(rows[:, :, None], tables["d"], out=buf["bags"].view(n, self.S, d1))
        weights = buf["weights"].view(n, self.S, d1).copy_(h[:, None, :].expand(n, self.S, d1))
        z = F.embedding_bag(
            bags.view(-1, d1), tables["var"], per_sample_weights=weights.view(-1, d1), mode="sum"
        )
        # slots first, then terms: two contiguous reductions beat one over dims (1, 3)
        c = z.view(n, self.S, 2 * self.K).clamp_(max=_MAX_LOG).exp_().sum(1)
        c = c.view(n, 2, self.K).sum(-1) + self._fixed(h[:, :-1])
        area = torch.logsumexp(F.embedding_bag(idx, self.area, mode="sum"), dim=1)
        logs = torch.log(c) + self.part_offset
        return torch.cat([logs, (area + self.log_mean[2])[:, None]], dim=1)

    def predict_indices(
        self, ops: np.ndarray, bits: np.ndarray, hw: np.ndarray, chunk: int = 2048
    ) -> np.ndarray:
        """Batched inference on hard choices (index arrays as in :class:`JointSpace`):
        (n, 3) log latency cycles, log energy pJ, log area mm2. Chunks that stay in cache,
        shared out to one single-threaded worker per torch thread (small ops scale badly
        over torch's intra-op threads; whole chunks per worker scale)."""
        self.space.validate(ops, bits)
        o = torch.as_tensor(np.asarray(ops), dtype=torch.long)
        b = torch.as_tensor(np.asarray(bits), dtype=torch.long)
        w = torch.as_tensor(np.asarray(hw), dtype=torch.long)
        out = torch.empty(len(o), 3)
        with torch.inference_mode():
            tables = self._inference_tables()
        starts = range(0, len(o), chunk)
        workers = max(1, min(torch.get_num_threads(), len(starts)))

        @torch.inference_mode()  # thread-local: each worker enters it itself
        def run(worker: int) -> None:
            if workers > 1:
                torch.set_num_threads(1)  # OpenMP's thread count is per thread as well
            buf: dict[str, torch.Tensor] = {}
            for i in starts[worker::workers]:
                j = slice(i, i + chunk)
                out[j] = self._fast(tables, o[j], b[j], w[j], buf)

        if workers == 1:
            run(0)
            return out.numpy()
        threads = torch.get_num_threads()
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, range(workers)))
        finally:
            torch.set_num_threads(threads)
        return out.numpy()

    def variant_costs(self, hw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-variant log costs (n, V, 2) of hard accelerators ``hw`` and the
        stem+head's (n, 2), both in absolute log units (training on exact part costs)."""
        onehot = self._onehot(hw)
        h = self._hw_vector(onehot)
        g = hw[:, _DF] * self.n_mm + hw[:, _MM]
        vecs = self.var[:, g]  # (V, n, 2, K, D)
        z = torch.einsum("vnckd,nd->nvck", vecs, h) + self.var_bias[:, g].permute(1, 0, 2, 3)
        parts = torch.logsumexp(z.clamp(max=_MAX_LOG), -1) + self.part_offset
        fixed = torch.log(self._fixed(h)) + self.part_offset
        return parts, fixed

    def metrics(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Differentiable predictions in user units: latency (cycles, s), fps, energy (uJ),
        area (mm2), power (mW). The clock is read from the (relaxed) encoding."""
        out = self.forward(x)
        a, b = self.S * self.O, self.S * self.B
        hw = x[:, a + b :]
        clock = hw[:, self._hw_slices[_CLOCK]] @ self.clock_choices
        cycles = out[:, 0].exp()
        latency_s = cycles / clock
        energy_uj = out[:, 1].exp() * 1e-6
        return {
            "latency_cycles": cycles,
            "latency_s": latency_s,
            "fps": 1.0 / latency_s,
            "energy_uj": energy_uj,
            "area_mm2": out[:, 2].exp(),
            "power_mw": energy_uj * 1e-3 / latency_s,
        }


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
    progress: Callable[[str], None] | None = None,
) -> tuple[Evaluator, dict[str, Any]]:
    """Labels data with the cost model, trains an :class:`Evaluator`, measures it on held-out
    designs of another seed (other accelerators and architectures).

    Returns:
        (evaluator, metrics dict: data and training seconds, held-out MAPE, Spearman, fps
        bound agreement, inference rate).
    """
    sp = get_space(space) if isinstance(space, str) else space
    cfg = config or EvaluatorConfig()
    model = model or AnalyticalModel()
    say = progress or (lambda _msg: None)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    samples, costs = generate_with_costs(
        sp, cfg.samples, cfg.seed, pool_size=cfg.pool, model=model, progress=say
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
            frac = (time.perf_counter() - t1) / cfg.train_seconds
            if frac >= 1.0:
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
        epoch += 1
        say(f"epoch {epoch}: {step} steps, {time.perf_counter() - t1:.0f} s, loss {loss_v:.4f}")
    train_s = time.perf_counter() - t1
    ev.eval()
    say("measuring on held-out designs")
    test = generate(sp, cfg.test_samples, cfg.seed + 1000, pool_size=4096, model=model)
    metrics = evaluate_evaluator(ev, test)
    metrics.update(
        {
            "data_seconds": data_s,
            "train_seconds": train_s,
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


# -- persistence -------------------------------------------------------------------------
def save_evaluator(
    ev: Evaluator,
    folder: Path,
    config: EvaluatorConfig,
    metrics: dict,
    model: CostModel | None = None,
) -> Path:
    """Writes ``evaluator.pt`` (weights) and ``evaluator.json`` (space, cost model, config,
    metrics) into ``folder``, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "space": ev.space.name,
        **model_identity(model or AnalyticalModel()),
        "config": config.to_dict(),
        "log_mean": [float(v) for v in ev.log_mean],
        "metrics": metrics,
    }
    _atomic(folder / "evaluator.pt", lambda f: torch.save(ev.state_dict(), f))
    _atomic(folder / "evaluator.json", lambda f: f.write(json.dumps(meta, indent=2).encode()))
    return folder


def load_evaluator(
    folder: Path, space: str | None = None, model: CostModel | None = None
) -> tuple[Evaluator, dict]:
    """Loads a saved evaluator; refuses one made for another space or cost-model version.

    Raises:
        ConfigError: missing files, or a space / cost-model mismatch (with the fix).
    """
    folder = Path(folder)
    meta_path, weights = folder / "evaluator.json", folder / "evaluator.pt"
    if not meta_path.is_file() or not weights.is_file():
        raise ConfigError(
            f"{folder} holds no saved evaluator (evaluator.json and evaluator.pt); "
            "train one with `search evaluator train`."
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{meta_path}: format {meta.get('format')} is not {FORMAT}; retrain.")
    if space is not None and meta["space"] != space:
        raise ConfigError(
            f"the evaluator in {folder} was trained for space {meta['space']!r}, not {space!r}; "
            f"train one with `search evaluator train --space {space}`."
        )
    now = model_identity(model or AnalyticalModel())
    then = {k: meta.get(k) for k in now}
    if then != now:
        raise ConfigError(
            f"the evaluator in {folder} imitates cost model {then}, but the current one is "
            f"{now}; its predictions would be stale. Retrain with `search evaluator train "
            f"--space {meta['space']}`."
        )
    cfg = EvaluatorConfig.from_dict(meta["config"])
    ev = Evaluator(get_space(meta["space"]), cfg.width, cfg.dim, cfg.terms, tuple(meta["log_mean"]))
    ev.load_state_dict(torch.load(weights, weights_only=True))
    ev.eval()
    return ev, meta


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
