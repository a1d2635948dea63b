"""DANCE hardware generator: (architecture, bits) -> one accelerator, through the evaluator.

An MLP reads the architecture and bit-width one-hots and gives logits per accelerator
parameter; a straight-through Gumbel-softmax draws a hard configuration whose gradient flows
through the frozen evaluator into the logits. The loss is the chosen objective in log space
(EDP by default), plus a hinge per bound the user sets. After training the generator's
configuration for a design is the argmax per parameter.

``exhaustive_optimum`` prices every accelerator of the space with the analytical model (per
variant, in chunks) so each generated configuration can be compared with the true optimum.

torch is imported by this module; import it lazily from the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coexplore.accel_model import CostModel
from coexplore.config import ConfigBase, check_choice, check_range
from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import atomic_write
from coexplore.search._determinism import deterministic
from coexplore.search.constraints import Constraints
from coexplore.search.evaluator import Evaluator
from coexplore.search.objectives import OBJECTIVES
from coexplore.search.objectives import log_objective as _log_objective
from coexplore.search.samples import VariantCosts, price
from coexplore.search.space import JointSpace

__all__ = [
    "OBJECTIVES",
    "GeneratorConfig",
    "HardwareGenerator",
    "train_generator",
    "objective_of",
    "exhaustive_costs",
    "measure_generator",
    "generator_files",
    "save_generator",
    "load_generator",
]


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(ConfigBase):
    """Generator size, objective, bounds and training budget.

    Args:
        objective: One of :data:`OBJECTIVES` (EDP by default).
        constraints: Hard bounds, trained as log-space hinge penalties.
        width: Hidden width of the MLP.
        train_steps: Optimiser steps (the budget).
        max_seconds: Optional wall-clock cap, a safety net (0 = none).
        batch: (architecture, bits) pairs per step.
        tau: Gumbel-softmax temperature, annealed to ``tau / 10``.
        penalty_weight: Weight of the bounds' log-space hinge beside the log objective.
        lr: Learning rate.
        seed: Seed.
    """

    objective: str = "edp"
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    width: int = 256
    train_steps: int = 2200
    max_seconds: float = 0.0
    batch: int = 256
    tau: float = 1.0
    penalty_weight: float = 10.0
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("objective", self.objective, OBJECTIVES)
        check_range("width", self.width, 4, 8192)
        check_range("train_steps", self.train_steps, 1, 100_000_000)
        check_range("max_seconds", self.max_seconds, 0.0, 7 * 86_400)
        check_range("batch", self.batch, 1, 1_000_000)
        check_range("tau", self.tau, 1e-3, 100.0)
        check_range("penalty_weight", self.penalty_weight, 0.0, 1e6)
        check_range("lr", self.lr, 1e-6, 1.0)


class HardwareGenerator(nn.Module):
    """(architecture, bits) one-hots (n, S*(O+B)) -> logits per accelerator parameter."""

    def __init__(self, space: JointSpace, width: int = 256) -> None:
        super().__init__()
        self.space = space
        self.sizes = tuple(space.hardware.sizes)
        n_in = space.arch_dim
        self.net = nn.Sequential(
            nn.Linear(n_in, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, sum(self.sizes)),
        )

    def forward(self, arch: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(self.net(arch), self.sizes, dim=1))

    def sample(self, arch: torch.Tensor, tau: float) -> torch.Tensor:
        """Hard one-hot accelerators (straight-through Gumbel-softmax), (n, hw encoding)."""
        return torch.cat([F.gumbel_softmax(lg, tau=tau, hard=True) for lg in self(arch)], dim=1)

    def generate(self, ops: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Accelerator choice indices (n, params): the argmax per parameter."""
        arch = torch.as_tensor(
            self.space.encode(ops, bits, self._any_hw(len(ops)))[:, : self.space.arch_dim]
        ).to(next(self.parameters()).device)
        with torch.no_grad():
            return np.stack([lg.argmax(dim=1).cpu().numpy() for lg in self(arch)], axis=1)

    def _any_hw(self, n: int) -> np.ndarray:
        return np.zeros((n, len(self.sizes)), dtype=np.int64)


def objective_of(
    ev: Evaluator, x: torch.Tensor, cfg: GeneratorConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log objective, bound penalty) per row of relaxed encodings ``x``."""
    m = ev.metrics(x)
    log_obj = _log_objective(
        cfg.objective, m["latency_s"].log(), m["energy_uj"].log(), m["area_mm2"].log()
    )
    return log_obj, cfg.constraints.total_violation(m, log=True)


def train_generator(
    ev: Evaluator,
    config: GeneratorConfig | None = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[HardwareGenerator, dict[str, Any]]:
    """Trains a generator through the frozen evaluator on random (architecture, bits) pairs."""
    with deterministic():
        return _train_generator(ev, config or GeneratorConfig(), progress)


def _train_generator(
    ev: Evaluator, cfg: GeneratorConfig, progress: ProgressFn | None
) -> tuple[HardwareGenerator, dict[str, Any]]:
    sp = ev.space
    torch.manual_seed(cfg.seed)
    gen = HardwareGenerator(sp, cfg.width)
    for p in ev.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr)
    n_arch = sp.arch_dim
    t0 = time.perf_counter()
    step, seed, loss_v = 0, cfg.seed, float("nan")
    while (frac := step / cfg.train_steps) < 1.0:
        if cfg.max_seconds and time.perf_counter() - t0 > cfg.max_seconds:
            break
        ops, bits, _ = sp.sample(cfg.batch, seed=10_000 + seed)
        seed += 1
        arch = torch.as_tensor(sp.encode(ops, bits, gen._any_hw(cfg.batch))[:, :n_arch])
        tau = cfg.tau * 10 ** (-frac)
        x = torch.cat([arch, gen.sample(arch, tau)], dim=1)
        log_obj, pen = objective_of(ev, x, cfg)
        loss = (log_obj + cfg.penalty_weight * pen).mean()
        for group in opt.param_groups:
            group["lr"] = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        loss_v = float(loss.detach())
        if step % 50 == 0 or step == cfg.train_steps:
            emit(progress, "generator", step, cfg.train_steps, "training", loss=loss_v)
    for p in ev.parameters():
        p.requires_grad_(True)
    gen.eval()
    return gen, {
        "steps": step,
        "train_seconds": time.perf_counter() - t0,
        "capped_by_max_seconds": step < cfg.train_steps,
        "final_loss": loss_v,
    }


def exhaustive_costs(
    space: JointSpace,
    model: CostModel | None = None,
    chunk: int = 32_768,
    progress: ProgressFn | None = None,
) -> VariantCosts:
    """Every variant priced on every accelerator of the space (float32 to fit in memory)."""
    allhw = space.hardware.all_indices()
    parts: list[VariantCosts] = []
    for i in range(0, len(allhw), chunk):
        c = price(space, allhw[i : i + chunk], model)
        parts.append(
            dataclasses.replace(
                c,
                cycles=c.cycles.astype(np.float32),
                energy_pj=c.energy_pj.astype(np.float32),
            )
        )
        emit(progress, "exhaustive", min(i + chunk, len(allhw)), len(allhw), "pricing")
    return VariantCosts(
        pool=allhw,
        cycles=np.concatenate([p.cycles for p in parts], axis=-1),
        energy_pj=np.concatenate([p.energy_pj for p in parts], axis=-1),
        feasible=np.concatenate([p.feasible for p in parts], axis=-1),
        fixed_cycles=np.concatenate([p.fixed_cycles for p in parts]),
        fixed_energy_pj=np.concatenate([p.fixed_energy_pj for p in parts]),
        fixed_feasible=np.concatenate([p.fixed_feasible for p in parts]),
        area_mm2=np.concatenate([p.area_mm2 for p in parts]),
        clock_hz=np.concatenate([p.clock_hz for p in parts]),
    )


def _true_objective(
    costs: VariantCosts, ops: np.ndarray, bits: np.ndarray, objective: str
) -> np.ndarray:
    """Log objective of one design on every pool accelerator (inf where infeasible)."""
    cyc = costs.fixed_cycles.astype(np.float64).copy()
    e = costs.fixed_energy_pj.astype(np.float64).copy()
    ok = costs.fixed_feasible.copy()
    for s in range(len(ops)):
        cyc += costs.cycles[s, ops[s], bits[s]]
        e += costs.energy_pj[s, ops[s], bits[s]]
        ok &= costs.feasible[s, ops[s], bits[s]]
    val = _log_objective(objective, np.log(cyc / costs.clock_hz), np.log(e), np.log(costs.area_mm2))
    return np.where(ok, val, np.inf)


def measure_generator(
    gen: HardwareGenerator,
    costs: VariantCosts,
    n_pairs: int = 500,
    seed: int = 7,
    objective: str = "edp",
    ev: Evaluator | None = None,
) -> dict[str, Any]:
    """Gap between the true cost of each generated accelerator and the exhaustive optimum,
    on ``n_pairs`` random (architecture, bits) pairs. ``costs`` must cover the whole space.
    With ``ev``, also the gap of the evaluator's own exhaustive pick (what the generator can
    at best reach through that evaluator)."""
    sp = gen.space
    ops, bits, _ = sp.sample(n_pairs, seed=seed)
    chosen = gen.generate(ops, bits)
    sizes = np.array(sp.hardware.sizes)
    radix = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    row = chosen @ radix  # all_indices() is row-major over parameters
    gaps, ev_gaps = np.empty(n_pairs), []
    for i in range(n_pairs):
        val = _true_objective(costs, ops[i], bits[i], objective)
        best = val.min()
        gaps[i] = math.exp(val[row[i]] - best) - 1.0 if np.isfinite(val[row[i]]) else math.inf
        if ev is not None and i < 20:
            pred = _predicted_objective(ev, costs, ops[i], bits[i], objective)
            pick = int(np.argmin(np.where(np.isfinite(val), pred, np.inf)))
            ev_gaps.append(math.exp(val[pick] - best) - 1.0)
    finite = np.isfinite(gaps)
    out = {
        "pairs": n_pairs,
        "objective": objective,
        "within_5pct": float((gaps <= 0.05).mean()),
        "median_gap": float(np.median(gaps)),
        "worst_gap": float(gaps.max()) if finite.all() else math.inf,
        "infeasible": int((~finite).sum()),
    }
    if ev_gaps:
        out["evaluator_pick_within_5pct"] = float((np.array(ev_gaps) <= 0.05).mean())
        out["evaluator_pick_median_gap"] = float(np.median(ev_gaps))
    return out


def _predicted_objective(
    ev: Evaluator, costs: VariantCosts, ops: np.ndarray, bits: np.ndarray, objective: str
) -> np.ndarray:
    """The evaluator's log objective of one design on every accelerator of ``costs.pool``."""
    n = len(costs.pool)
    pred = ev.predict_indices(np.tile(ops, (n, 1)), np.tile(bits, (n, 1)), costs.pool)
    log_lat_s = pred[:, 0] - np.log(costs.clock_hz)
    return _log_objective(objective, log_lat_s, pred[:, 1], pred[:, 2])


def generator_files(
    gen: HardwareGenerator, config: GeneratorConfig, metrics: dict
) -> dict[str, Any]:
    """``generator.pt`` (a writer of the weights) and ``generator.json``, as run artefacts."""
    meta = {"space": gen.space.name, "config": config.to_dict(), "metrics": metrics}
    return {
        "generator.pt": lambda path: torch.save(gen.state_dict(), path),
        "generator.json": json.dumps(meta, indent=2, default=float),
    }


def save_generator(
    gen: HardwareGenerator, folder: Any, config: GeneratorConfig, metrics: dict
) -> None:
    """Writes ``generator.pt`` and ``generator.json`` beside a saved evaluator."""
    for name, data in generator_files(gen, config, metrics).items():
        atomic_write(Path(folder) / name, data)


def load_generator(folder: Any, ev: Evaluator) -> tuple[HardwareGenerator, dict]:
    """Loads the generator saved beside evaluator ``ev`` (same space, checked)."""
    folder = Path(folder)
    if not (folder / "generator.json").is_file():
        raise ConfigError(
            f"{folder} holds no saved generator; train one with `search evaluator train`."
        )
    meta = json.loads((folder / "generator.json").read_text())
    if meta["space"] != ev.space.name:
        raise ConfigError(
            f"the generator in {folder} is for space {meta['space']!r}, the evaluator for "
            f"{ev.space.name!r}; train them together with `search evaluator train`."
        )
    cfg = GeneratorConfig.from_dict(_migrate_config(meta["config"]))
    gen = HardwareGenerator(ev.space, cfg.width)
    gen.load_state_dict(torch.load(folder / "generator.pt", weights_only=True))
    gen.eval()
    return gen, meta


def _migrate_config(data: dict[str, Any]) -> dict[str, Any]:
    """Reads configs saved before the bounds became :class:`Constraints` and budgets steps."""
    data = dict(data)
    old = {"min_fps": "fps_min", "max_area_mm2": "area_mm2_max", "max_power_mw": "power_mw_max"}
    if any(k in data for k in old):
        data["constraints"] = {new: (data.pop(k, 0.0) or None) for k, new in old.items()}
    data.pop("train_seconds", None)
    return data
