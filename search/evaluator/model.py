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

This module holds the network; ``training`` fits it to cost-model labels and
``persistence`` saves and loads it. torch is imported here; import it lazily from the CLI.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coexplore.accel_model.design_space import PARAMETERS
from coexplore.search.objectives import OBJECTIVES, log_objective
from coexplore.search.space import SKIP, JointSpace

__all__ = ["Evaluator", "FPS_BOUNDS", "OBJECTIVES", "log_objective"]

FPS_BOUNDS = (10.0, 30.0, 60.0, 120.0)
_DF = PARAMETERS.index("dataflow")
_MM = PARAMETERS.index("mac_mode")
_CLOCK = PARAMETERS.index("clock_hz")
_MAX_LOG = 30.0  # clamp for exp() of relative log costs; far above any real design


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
        sp = self.space
        ops = x[:, sp.ops_slice].reshape(n, self.S, self.O)
        bits = x[:, sp.bits_slice].reshape(n, self.S, self.B)
        hw = x[:, sp.hw_slice]
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
        hw = x[:, self.space.hw_slice]
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
