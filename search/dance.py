"""DANCE's differentiable hardware cost: (architecture, bits) probabilities -> generator ->
accelerator -> evaluator -> predicted metrics, with gradients back to the logits.

The evaluator and generator are trained on first use for a joint space and cached by
(space, cost-model version), so the second run of a space reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from coexplore.accel_model import AnalyticalModel
from coexplore.progress import ProgressFn, emit
from coexplore.quant.synthetic import default_cache_dir
from coexplore.search.constraints import Constraints
from coexplore.search.evaluator import (
    Evaluator,
    EvaluatorConfig,
    load_evaluator,
    save_evaluator,
    train_evaluator,
)
from coexplore.search.generator import (
    GeneratorConfig,
    HardwareGenerator,
    load_generator,
    save_generator,
    train_generator,
)
from coexplore.search.objectives import log_objective
from coexplore.search.samples import model_identity
from coexplore.search.space import SKIP, JointSpace

__all__ = ["CostNets", "cost_nets", "relaxed_metrics", "ONDEMAND_EVALUATOR", "ONDEMAND_GENERATOR"]

#: Budgets of an evaluator trained on demand by a co-search (about 1.5 min on 2 cores for
#: the micro space: held-out MAPE ~2 % latency, ~1 % energy).
ONDEMAND_EVALUATOR = EvaluatorConfig(samples=60_000, pool=16_384, test_samples=5_000,
                                     train_steps=2_500)  # fmt: skip
ONDEMAND_GENERATOR = GeneratorConfig(train_steps=600, penalty_weight=100.0)
#: The generator is trained on bounds moved inwards by this much, so that its proposals land
#: inside the bounds rather than on them (its hinge penalty is zero at the bound).
GEN_MARGIN = 0.03


class CostNets:
    """A frozen evaluator and generator for one space, and where they came from."""

    def __init__(self, ev: Evaluator, gen: HardwareGenerator, folder: Path, cached: bool):
        self.evaluator, self.generator, self.folder, self.cached = ev, gen, folder, cached
        for p in list(ev.parameters()) + list(gen.parameters()):
            p.requires_grad_(False)
        ev.eval()
        gen.eval()

    def to(self, device: torch.device) -> CostNets:
        self.evaluator.to(device)
        self.generator.to(device)
        return self


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _publish(folder: Path, write: Any) -> None:
    """Writes a cache folder under a temporary name, then renames it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(tmp)
        if not folder.exists():  # another run may have cached it meanwhile
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cost_nets(
    space: JointSpace,
    constraints: Constraints | None = None,
    objective: str = "edp",
    progress: ProgressFn | None = None,
    cache_dir: str | Path | None = None,
    model: AnalyticalModel | None = None,
) -> CostNets:
    """The evaluator and generator of ``space``: loaded from the cache, or trained and cached.

    The evaluator's cache key is the space (its name and a hash of its definition) and the
    cost model's identity (name, version -- which names a non-default mapper -- technology),
    so a changed space or cost model retrains instead of reusing stale predictions. The
    generator is trained for the run's objective and bounds (hinge penalties, as DANCE's
    generator takes them): a generator trained for EDP alone proposes the largest, fastest
    accelerators, whatever an area or power bound says. It is cached beside the evaluator,
    per (objective, bounds).
    """
    constraints = constraints or Constraints()
    model = model or AnalyticalModel.for_search()
    ident = model_identity(model)
    root = Path(cache_dir or default_cache_dir()) / "evaluators"
    ev_key = _key(space.name, space.fingerprint(), ident, ONDEMAND_EVALUATOR.to_dict())
    folder = root / f"{space.name}-{ev_key}"
    if (folder / "evaluator.json").is_file():
        ev, _ = load_evaluator(folder, space=space.name, model=model)
        ev_cached = True
        emit(progress, "evaluator", 1, 1, f"cached evaluator for {space.name}")
    else:
        ev, metrics = train_evaluator(space, ONDEMAND_EVALUATOR, model=model, progress=progress)
        _publish(folder, lambda tmp: save_evaluator(ev, tmp, ONDEMAND_EVALUATOR, metrics, model))
        ev_cached = False
    gcfg = dataclasses.replace(
        ONDEMAND_GENERATOR, objective=objective, constraints=constraints.tightened(GEN_MARGIN)
    )
    gen_folder = folder / f"generator-{_key(gcfg.to_dict())}"
    if (gen_folder / "generator.json").is_file():
        gen, _ = load_generator(gen_folder, ev)
        emit(progress, "generator", 1, 1, f"cached generator for {constraints.describe()}")
        return CostNets(ev, gen, gen_folder, cached=ev_cached)
    gen, gmetrics = train_generator(ev, gcfg, progress=progress)
    _publish(gen_folder, lambda tmp: save_generator(gen, tmp, gcfg, gmetrics))
    return CostNets(ev, gen, gen_folder, cached=False)


def arch_probs(
    space: JointSpace, alpha: torch.Tensor, beta: torch.Tensor, tau: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Operator (S, O) and bit (S, B) probabilities; ``skip`` gets none where not allowed."""
    mask = skip_mask(space, alpha.device)
    p_ops = F.softmax(alpha / tau + mask, dim=1)
    p_bits = F.softmax(beta / tau, dim=1)
    return p_ops, p_bits


def skip_mask(space: JointSpace, device: torch.device | str = "cpu") -> torch.Tensor:
    """(S, O) additive mask: a very negative logit for ``skip`` where a slot changes shape."""
    mask = torch.zeros(space.n_slots, space.n_ops, device=device)
    for s, allowed in enumerate(space.skip_allowed):
        if not allowed:
            mask[s, SKIP] = -1e4
    return mask


def relaxed_metrics(
    nets: CostNets, p_ops: torch.Tensor, p_bits: torch.Tensor, objective: str
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Predicted metrics (scalars) of the expected design under the relaxed distribution.

    The generator reads the (architecture, bits) probabilities and proposes an accelerator
    (straight-through argmax per parameter: a hard choice forward, its softmax's gradient
    backward); the evaluator prices the expected cost of that accelerator.

    Returns:
        (metrics, log objective, hardware one-hot encoding).
    """
    arch = torch.cat([p_ops.reshape(1, -1), p_bits.reshape(1, -1)], dim=1)  # (1, arch_dim)
    hw_parts = []
    for lg in nets.generator(arch):  # (1, choices) per parameter
        soft = F.softmax(lg, dim=1)
        hard = F.one_hot(lg.argmax(dim=1), lg.shape[1]).to(soft.dtype)
        hw_parts.append(hard - soft.detach() + soft)
    hw = torch.cat(hw_parts, dim=1)
    m = nets.evaluator.metrics(torch.cat([arch, hw], dim=1))
    metrics = {k: v[0] for k, v in m.items()}
    metrics["latency_ms"] = metrics["latency_s"] * 1e3
    log_obj = log_objective(
        objective, metrics["latency_s"].log(), metrics["energy_uj"].log(),
        metrics["area_mm2"].log(),
    )  # fmt: skip
    return metrics, log_obj, hw.detach()
