"""The ``optuna-nsga2`` baseline: Optuna's NSGA-II over the discrete joint space.

Same task, space, bounds and weight budget as the DANCE strategies: the supernet's weights
are trained for ``spec.steps`` with uniformly sampled paths (no architecture logits), then
an NSGA-II study evaluates ``spec.trials`` designs. A trial picks every slot's operator and
bit-width and every accelerator parameter; its objectives are the validation accuracy on the
inherited weights (fake-quantized at its bits, BN statistics re-estimated for it; maximised)
and the spec's hardware objective on the analytical model (minimised); each bound is an
Optuna constraint named after it (``Trial.set_constraint``; ``log(value / limit)`` signed so
that ``<= 0`` is met), so NSGA-II's
constrained domination ranks feasible trials first.

A trial whose design misses a bound is not scored for accuracy (constrained domination
ranks infeasible trials by violation alone, so the value cannot change the search; the
trial's ``accuracy`` attribute says "not measured"). A sub-network's accuracy is measured
once and reused for every accelerator it is tried on.

The study is stored in an RDB (``spec.study_storage``: any SQLAlchemy URL; SQLite
``results/optuna.db`` by default) and opens in ``optuna-dashboard`` as it is. The winners are
the feasible Pareto trials, most accurate first, verified and refined like every other
strategy's (the exhaustive accelerator sweep under the same bounds).
"""

from __future__ import annotations

import math
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.accel_model.design_space import PARAMETERS
from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.search.constraints import cost_metrics
from coexplore.search.cosearch import _Dance
from coexplore.search.space import SKIP, operator_name
from coexplore.search.strategy import register_strategy
from coexplore.search.winners import Candidate

__all__ = ["OptunaNSGA2", "DEFAULT_STUDY_STORAGE", "objective_value"]

DEFAULT_STUDY_STORAGE = "sqlite:///results/optuna.db"
INFEASIBLE_GAP = 1e6  # the constraint value of a design that cannot run the workload at all


def objective_value(name: str, values: dict[str, float]) -> float:
    """The hardware objective in natural units: EDP (uJ*s), latency (ms), energy (uJ),
    area (mm^2) or EDAP (uJ*s*mm^2)."""
    edp = values["energy_uj"] * values["latency_ms"] * 1e-3
    table = {"edp": edp, "latency": values["latency_ms"], "energy": values["energy_uj"],
             "area": values["area_mm2"], "edap": edp * values["area_mm2"]}  # fmt: skip
    return float(table[name])


def study_storage(url: str | None) -> str:
    """The storage URL; a SQLite file's folder is created."""
    url = url or DEFAULT_STUDY_STORAGE
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return url


@register_strategy
class OptunaNSGA2(_Dance):
    """NSGA-II (Optuna) over operators, bits and accelerator parameters; see the module."""

    name = "optuna-nsga2"
    use_hdx = False
    updates_architecture = False

    def prepare(self, progress: ProgressFn | None) -> None:
        # the storage is opened first, so that a bad URL fails before the weight training
        import optuna
        import sqlalchemy.exc

        url = study_storage(self.spec.study_storage)
        try:
            self._storage = optuna.storages.RDBStorage(url)
        except (ImportError, ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
            raise ConfigError(
                f"cannot open the Optuna study storage {url!r}: {exc}. Give an SQLAlchemy "
                f"URL, e.g. {DEFAULT_STUDY_STORAGE}."
            ) from None
        self._storage_url = url
        super().prepare(progress)

    def _candidates(self, lp_ops: np.ndarray, lp_bits: np.ndarray) -> list[Candidate]:
        study = self._run_study(self._progress)
        front = _feasible_front(study)
        cands: list[Candidate] = []
        seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        for t in front:
            key = (tuple(t.user_attrs["ops"]), tuple(t.user_attrs["bits"]))
            if key not in seen:
                seen.add(key)
                cands.append(Candidate(*key, 0.0))
        if not cands:  # nothing feasible: the least violating trial, so the run ends with its miss
            best = min(study.trials, key=lambda t: sum(max(0.0, c) for c in _constraints(t)))
            cands = [Candidate(tuple(best.user_attrs["ops"]), tuple(best.user_attrs["bits"]), 0.0)]
        return cands[: self.spec.top_k]

    def finalize(self) -> Any:
        out = super().finalize()
        out.result.study = dict(self._study_info)
        out.metrics["optuna_study"] = self._study_info["name"]
        return out

    # -- the study ---------------------------------------------------------------------------
    def _run_study(self, progress: ProgressFn | None) -> Any:
        import optuna

        spec, sp = self.spec, self.space
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        url = self._storage_url
        name = f"{self.name}-{spec.task}-{sp.name}-seed{spec.seed}-{uuid.uuid4().hex[:8]}"
        population = max(2, min(16, spec.trials // 4))
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=spec.seed)
        study = optuna.create_study(
            study_name=name, storage=self._storage, sampler=sampler,
            directions=["maximize", "minimize"],
        )  # fmt: skip
        with warnings.catch_warnings():  # experimental in Optuna; only labels the dashboard
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["val_accuracy_pct", spec.objective])
        study.set_user_attr("task", spec.task)
        study.set_user_attr("space", sp.name)
        study.set_user_attr("constraints", spec.constraints.describe())
        self._study_info = {
            "storage": url, "name": name, "trials": spec.trials, "population": population,
            "dashboard": f"optuna-dashboard {url}",
        }  # fmt: skip
        model = self.model
        hw_choices = sp.hardware.choices
        acc_cache: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}
        allowed = [
            [operator_name(o) for o in range(sp.n_ops) if o != SKIP or s.allows_skip]
            for s in sp.slots
        ]  # fmt: skip
        op_index = {operator_name(o): o for o in range(sp.n_ops)}
        feasible = 0
        for i in range(spec.trials):
            trial = study.ask()
            ops = tuple(op_index[trial.suggest_categorical(f"op{s}", allowed[s])]
                        for s in range(sp.n_slots))  # fmt: skip
            widths = [b for b, ok in zip(sp.bits, self.bits_allowed, strict=True) if ok]
            bits = tuple(sp.bits.index(trial.suggest_categorical(f"bits{s}", widths))
                         for s in range(sp.n_slots))  # fmt: skip
            bits = tuple(0 if o == SKIP else b for o, b in zip(ops, bits, strict=True))
            hw = np.array([[hw_choices[p].index(trial.suggest_categorical(p, list(hw_choices[p])))
                            for p in PARAMETERS]])  # fmt: skip
            wl = sp.workload(np.array(ops), np.array(bits))
            costs = model.evaluate(wl, sp.hardware.batch(hw))
            values = {k: float(v[0]) for k, v in cost_metrics(costs).items()}
            runs = bool(costs.feasible[0])
            gaps = spec.constraints.signed_log_gaps(values) if runs else {}
            cons = [
                float(g) if runs and math.isfinite(g) else INFEASIBLE_GAP
                for g in (gaps.get(b.field, math.inf) for b in spec.constraints.bounds)
            ]
            ok = runs and all(c <= 0 for c in cons)
            trial.set_user_attr("ops", list(ops))
            trial.set_user_attr("bits", list(bits))
            for b, c in zip(spec.constraints.bounds, cons, strict=True):
                trial.set_constraint(b.field, c)  # NSGA-II's constrained domination reads these
            trial.set_user_attr("architecture", sp.describe(np.array(ops), np.array(bits)))
            if runs:
                for k, v in values.items():
                    trial.set_user_attr(k, v)
            if ok:
                if (ops, bits) not in acc_cache:
                    acc_cache[(ops, bits)] = self._accuracy(self.val, ops, bits, True)
                acc = acc_cache[(ops, bits)]
                trial.set_user_attr("accuracy", "measured")
                feasible += 1
            else:
                acc = 0.0
                trial.set_user_attr("accuracy", "not measured (misses a bound)")
            cost = objective_value(spec.objective, values) if runs else INFEASIBLE_GAP
            study.tell(trial, [acc, cost])
            emit(progress, "nsga2", i + 1, spec.trials, f"{feasible} feasible",
                 feasible=float(feasible), evaluated=float(len(acc_cache)))  # fmt: skip
        self._study_info["feasible_trials"] = feasible
        self._study_info["accuracy_evaluations"] = len(acc_cache)
        return study


def _constraints(trial: Any) -> list[float]:
    """The trial's constraint values (``<= 0`` met), one per bound."""
    return list(trial.constraints.values())


def _feasible_front(study: Any) -> list[Any]:
    """The feasible trials not dominated by another feasible trial, most accurate first."""
    done = [t for t in study.trials if t.values is not None
            and all(c <= 0 for c in _constraints(t))]  # fmt: skip
    front = [t for t in done if not any(
        o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
        for o in done
    )]  # fmt: skip
    return sorted(front, key=lambda t: (-t.values[0], t.values[1], t.number))
