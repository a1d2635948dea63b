"""The library entry point of every job: ``run(spec, progress) -> RunResult``."""

from __future__ import annotations

from coexplore.progress import ProgressFn
from coexplore.quant.spec import QuantSpec
from coexplore.runs import RunResult, RunSpec
from coexplore.search.specs import EvaluatorSpec
from coexplore.search.strategy import STRATEGIES

__all__ = ["run", "strategy_for", "runnable"]


def strategy_for(spec: RunSpec) -> str:
    """The registered strategy that runs ``spec`` (its ``strategy`` field, else its kind)."""
    return str(getattr(spec, "strategy", spec.kind))


def run(spec: RunSpec, progress: ProgressFn | None = None) -> RunResult:
    """Runs one job of any kind and returns its result (not yet saved: see
    :func:`coexplore.runs.save_run`).

    Args:
        spec: A hardware sweep, co-search, data-free co-search, compare, evaluator or
            quantize spec.
        progress: Receives :class:`~coexplore.progress.ProgressEvent`s in order.

    Raises:
        ConfigError: bad input; UnknownComponentError: a strategy that is not registered;
        InfeasibleDesignError: nothing meets the constraints.

    Example:
        >>> from coexplore.search import HardwareSweepSpec, Constraints, run
        >>> res = run(HardwareSweepSpec(accel_space="tiny", constraints=Constraints(fps_min=30)))
        >>> res.result.pareto[0].fps >= 30
        True
    """
    if isinstance(spec, QuantSpec):
        from coexplore.quant.job import run_quantize

        return run_quantize(spec, progress)
    if isinstance(spec, EvaluatorSpec):
        from coexplore.search.evaluator.job import run_evaluator_training

        return run_evaluator_training(spec, progress)
    _load_strategies()
    return STRATEGIES.get(strategy_for(spec))(spec).run(progress)


def runnable(spec: RunSpec) -> bool:
    """Whether :func:`run` can run ``spec`` (its kind has a runner in this version)."""
    if isinstance(spec, QuantSpec | EvaluatorSpec):
        return True
    _load_strategies()
    return strategy_for(spec) in STRATEGIES.names()


def _load_strategies() -> None:
    """Strategies register when their module is imported."""
    import coexplore.search.compare  # noqa: F401
    import coexplore.search.cosearch  # noqa: F401
    import coexplore.search.datafree  # noqa: F401
    import coexplore.search.hardware  # noqa: F401
    import coexplore.search.nsga2  # noqa: F401
    import coexplore.search.sequential  # noqa: F401
