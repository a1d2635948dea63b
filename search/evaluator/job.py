"""The ``evaluator`` job: train the evaluator and the generator, measure them, return both
as run artefacts (``evaluator.pt/json``, ``generator.pt/json``)."""

from __future__ import annotations

from coexplore.progress import ProgressFn
from coexplore.runs import RunResult
from coexplore.search.evaluator.persistence import evaluator_files
from coexplore.search.evaluator.training import EvaluatorConfig, train_evaluator
from coexplore.search.specs import EvaluatorSpec, cost_model

__all__ = ["EvaluatorReport", "run_evaluator_training"]


class EvaluatorReport:
    """Held-out metrics of the evaluator and the generator's training record."""

    def __init__(self, evaluator: dict, generator: dict) -> None:
        self.evaluator, self.generator = evaluator, generator

    def to_dict(self) -> dict:
        return {"evaluator": self.evaluator, "generator": self.generator}


def run_evaluator_training(spec: EvaluatorSpec, progress: ProgressFn | None = None) -> RunResult:
    """Trains both networks for ``spec.space``; the run folder can be passed to
    :func:`~coexplore.search.evaluator.load_evaluator` and ``load_generator``."""
    from coexplore.search.generator import GeneratorConfig, generator_files, train_generator

    ecfg = EvaluatorConfig(
        samples=spec.samples,
        train_steps=spec.train_steps,
        max_seconds=spec.max_seconds,
        seed=spec.seed,
    )
    gcfg = GeneratorConfig(
        objective=spec.objective,
        constraints=spec.constraints,
        train_steps=spec.generator_steps,
        max_seconds=spec.max_seconds,
        seed=spec.seed,
    )
    model = cost_model(spec)
    ev, metrics = train_evaluator(spec.space, ecfg, model=model, progress=progress)
    gen, gmetrics = train_generator(ev, gcfg, progress=progress)
    m = metrics
    return RunResult(
        spec=spec,
        result=EvaluatorReport(metrics, gmetrics),
        metrics={
            "mape_latency": m["mape"]["latency"],
            "mape_energy": m["mape"]["energy"],
            "mape_area": m["mape"]["area"],
            "spearman_latency": m["spearman"]["latency"],
            "evaluator_steps": m["steps"],
            "generator_steps": gmetrics["steps"],
        },
        timings_s={
            "data": m["data_seconds"],
            "evaluator": m["train_seconds"],
            "generator": gmetrics["train_seconds"],
        },
        artefacts={
            **evaluator_files(ev, ecfg, metrics, model),
            **generator_files(gen, gcfg, gmetrics),
        },
    )
