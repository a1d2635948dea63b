"""Saving and loading a trained evaluator; a stale one (other space, other cost model) is
refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from coexplore.accel_model import AnalyticalModel, CostModel
from coexplore.errors import ConfigError
from coexplore.runs import atomic_write
from coexplore.search.evaluator.model import Evaluator
from coexplore.search.evaluator.training import EvaluatorConfig
from coexplore.search.samples import (
    model_identity,
)
from coexplore.search.space import get_space

__all__ = ["FORMAT", "evaluator_files", "save_evaluator", "load_evaluator"]

FORMAT = 1


# -- persistence -------------------------------------------------------------------------
def evaluator_files(
    ev: Evaluator, config: EvaluatorConfig, metrics: dict, model: CostModel | None = None
) -> dict[str, Any]:
    """``evaluator.pt`` (a writer of the weights) and ``evaluator.json`` (space, cost model,
    config, metrics), as run artefacts."""
    meta = {
        "format": FORMAT,
        "space": ev.space.name,
        **model_identity(model or AnalyticalModel.for_search()),
        "config": config.to_dict(),
        "log_mean": [float(v) for v in ev.log_mean],
        "metrics": metrics,
    }
    return {
        "evaluator.pt": lambda path: torch.save(ev.state_dict(), path),
        "evaluator.json": json.dumps(meta, indent=2, default=float),
    }


def save_evaluator(
    ev: Evaluator,
    folder: Path,
    config: EvaluatorConfig,
    metrics: dict,
    model: CostModel | None = None,
) -> Path:
    """Writes ``evaluator.pt`` and ``evaluator.json`` into ``folder``, each atomically."""
    folder = Path(folder)
    for name, data in evaluator_files(ev, config, metrics, model).items():
        atomic_write(folder / name, data)
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
    now = model_identity(model or AnalyticalModel.for_search())
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
