"""The one place that imports NNI (Microsoft's Neural Network Intelligence, 3.0).

NNI is no longer maintained and pins old versions of common packages (``filelock<3.12``,
``typeguard<4.1.3``), so it is an optional extra (``pip install 'coexplore[nni]'``) and every
use goes through this module: :func:`search_choices` runs one of NNI's multi-trial NAS
strategies over a dictionary of categorical choices, in this process (NNI's
``SequentialExecutionEngine``: no NNI manager, no web UI, no ports), and returns every
sample it tried with its score. What a sample means (a network's operators, a set of
bit-widths) and how it is scored is the caller's business.

How a sample reaches the caller: NNI builds the "model" of a frozen sample by re-creating
a traced placeholder under ``model_context(sample)``; the placeholder reads the sample back
with ``current_model()``, the evaluator function scores it and reports the score as NNI's
final metric. A score of ``None`` (a design the caller refuses, e.g. one that no
accelerator makes feasible) is reported as ``-inf``, so the strategy learns to avoid it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from coexplore.errors import ConfigError

__all__ = ["NNI_STRATEGIES", "nni_available", "require_nni", "search_choices"]

# NNI's multi-trial strategies this adapter offers, by our name.
NNI_STRATEGIES = ("evolution", "random", "tpe")


def nni_available() -> bool:
    """Whether NNI 3.x and its NAS modules import here."""
    try:
        import nni  # noqa: F401
        from nni.nas.execution import SequentialExecutionEngine  # noqa: F401
    except Exception:  # noqa: BLE001 - NNI fails on import in many ways when its pins break
        return False
    return True


def require_nni(what: str = "this strategy") -> None:
    """Raises a ConfigError that says how to install the extra when NNI is missing."""
    if not nni_available():
        raise ConfigError(
            f"{what} searches architectures with NNI's NAS strategies, and NNI 3.0 is not "
            "installed (or does not import). Install the optional extra: `pip install -e "
            "'.[nni]'` (NNI pins filelock<3.12 and typeguard<4.1.3, so use a separate "
            "virtual environment if those matter to you), or pick another strategy "
            "(e.g. --strategy random or optuna-nsga2)."
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in ("nni", "nni.nas", "nni.runtime")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # "... is found to be not a nn.Module": by design here
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def _placeholder() -> Any:
    import nni
    from nni.nas.space import current_model

    @nni.trace
    class Sample:
        """What NNI re-creates for a frozen sample: the sample itself."""

        def __init__(self) -> None:
            got = current_model()
            self.sample = {k: v for k, v in (got or {}).items() if k != "__arch__"}

    return Sample


def _strategy(name: str, budget: int, seed: int) -> Any:
    from nni.nas import strategy

    if name == "evolution":
        # Regularized (aging) evolution, Real et al. 2019; population a quarter of the budget
        population = max(2, min(64, budget // 4))
        return strategy.RegularizedEvolution(
            population_size=population, sample_size=max(1, population // 4),
            mutation_prob=0.2, dedup=True, seed=seed,
        )  # fmt: skip
    if name == "random":
        return strategy.Random(dedup=True, seed=seed)
    if name == "tpe":
        return strategy.TPE()
    raise ConfigError(f"NNI strategy must be one of {', '.join(NNI_STRATEGIES)}, got {name!r}.")


def search_choices(
    choices: dict[str, list[Any]],
    evaluate: Callable[[dict[str, Any]], float | None],
    budget: int,
    seed: int = 0,
    strategy: str = "evolution",
) -> list[tuple[dict[str, Any], float]]:
    """Runs an NNI multi-trial strategy over ``choices`` for ``budget`` samples.

    Args:
        choices: Label -> its candidate values (each a categorical choice).
        evaluate: Scores one sample (higher is better); ``None`` refuses it.
        budget: Samples evaluated (NNI's ``max_model_count``); fewer when the space is
            smaller and the strategy deduplicates.
        seed: The strategy's seed (evolution and random are reproducible with it).
        strategy: One of :data:`NNI_STRATEGIES`.

    Returns:
        (sample, score) for every sample scored, best first; refused samples are left out.
    """
    require_nni()
    if budget < 1:
        raise ConfigError(f"the NNI search budget must be at least 1, got {budget}.")
    import nni
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import SimplifiedModelSpace

    scored: list[tuple[dict[str, Any], float]] = []

    def run_one(model: Any) -> None:
        sample = dict(model.sample)
        value = evaluate(sample)
        if value is None or not math.isfinite(value):
            nni.report_final_result(-math.inf)
            return
        scored.append((sample, float(value)))
        nni.report_final_result(float(value))

    mutables = {label: nni.choice(label, list(values)) for label, values in choices.items()}
    space = SimplifiedModelSpace(_placeholder()(), mutables, FunctionalEvaluator(run_one))
    engine = SequentialExecutionEngine(max_model_count=budget, continue_on_failure=False)
    with _quiet():
        _strategy(strategy, budget, seed)(space, engine)
    scored.sort(key=lambda t: -t[1])
    return scored
