"""The DANCE evaluator: the network (``model``), its training (``training``) and its
persistence (``persistence``). torch is imported here; import it lazily from the CLI."""

from coexplore.search.evaluator.model import FPS_BOUNDS, OBJECTIVES, Evaluator, log_objective
from coexplore.search.evaluator.persistence import FORMAT, load_evaluator, save_evaluator
from coexplore.search.evaluator.training import (
    EvaluatorConfig,
    evaluate_evaluator,
    focus_pool,
    train_evaluator,
)

__all__ = [
    "Evaluator",
    "EvaluatorConfig",
    "train_evaluator",
    "evaluate_evaluator",
    "focus_pool",
    "save_evaluator",
    "load_evaluator",
    "FORMAT",
    "FPS_BOUNDS",
    "OBJECTIVES",
    "log_objective",
]
