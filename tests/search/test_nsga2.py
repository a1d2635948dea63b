"""The ``optuna-nsga2`` baseline: a real Optuna study in an RDB, bounds as constraints,
winners from the feasible front and verified like every strategy's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from coexplore.accel_model import AnalyticalModel
from coexplore.errors import ConfigError
from coexplore.search import Constraints, CoSearchSpec, run
from coexplore.search.constraints import cost_metrics
from coexplore.search.nsga2 import _feasible_front, objective_value
from coexplore.search.space import get_space

optuna = pytest.importorskip("optuna")

SMALL = dict(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2, batch_size=16,
             quantize=False)


@pytest.mark.usefixtures("small_cost_nets")
def test_nsga2_stores_its_study_and_returns_verified_feasible_winners(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies' / 'optuna.db'}"
    spec = CoSearchSpec(strategy="optuna-nsga2", constraints=Constraints(fps_min=100),
                        trials=10, study_storage=url, **SMALL)  # fmt: skip
    res = run(spec)
    r = res.result
    assert r.strategy == "optuna-nsga2" and r.winners and r.manipulated_steps == 0
    assert all(w.verified["fps"] >= 100 for w in r.winners)
    assert r.study["storage"] == url and r.study["dashboard"] == f"optuna-dashboard {url}"

    # the study opens from its storage as it is (what optuna-dashboard reads)
    study = optuna.load_study(study_name=r.study["name"], storage=url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(study.trials) == 10
    assert study.metric_names == ["val_accuracy_pct", "edp"]
    assert all(list(t.constraints) == ["fps_min"] for t in study.trials)
    feasible = [t for t in study.trials if all(c <= 0 for c in t.constraints.values())]
    assert len(feasible) == r.study["feasible_trials"]
    sp, model = get_space("tiny"), AnalyticalModel.for_search()
    for t in study.trials:
        # each trial's constraint and cost are the analytical model's, recomputed here
        ops, bits = np.array(t.user_attrs["ops"]), np.array(t.user_attrs["bits"])
        choices = sp.hardware.choices
        hw = np.array([[choices[p].index(t.params[p]) for p in choices]])
        costs = model.evaluate(sp.workload(ops, bits), sp.hardware.batch(hw))
        values = {k: float(v[0]) for k, v in cost_metrics(costs).items()}
        meets = bool(costs.feasible[0]) and values["fps"] >= 100
        assert (t in feasible) == meets
        if meets:
            assert t.user_attrs["accuracy"] == "measured" and 0 < t.values[0] <= 100
            assert t.values[1] == pytest.approx(objective_value("edp", values))
        else:
            assert t.user_attrs["accuracy"].startswith("not measured")
    # ... and in optuna-dashboard (its WSGI app over the same storage URL lists it)
    assert r.study["name"] in _dashboard_study_names(url)
    # the winners are designs of the feasible front
    front = {(tuple(t.user_attrs["ops"]), tuple(t.user_attrs["bits"]))
             for t in _feasible_front(study)}  # fmt: skip
    assert {(w.ops, w.bits) for w in r.winners} <= front
    assert res.metrics["optuna_study"] == r.study["name"]


def _dashboard_study_names(url: str) -> list[str]:
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    env: dict = {"PATH_INFO": "/api/studies", "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(env)
    status: list[str] = []
    body = b"".join(wsgi(url)(env, lambda st, headers, exc=None: status.append(st)))
    assert status[0].startswith("200"), status
    return [s["study_name"] for s in json.loads(body)["study_summaries"]]


def _trial(number: int, acc: float, cost: float, cons: list[float]) -> SimpleNamespace:
    return SimpleNamespace(number=number, values=[acc, cost],
                           constraints={f"b{i}": c for i, c in enumerate(cons)})  # fmt: skip


def test_the_feasible_front_keeps_only_undominated_feasible_trials() -> None:
    trials = [
        _trial(0, 90.0, 5.0, [-0.1]),  # front
        _trial(1, 80.0, 6.0, [-0.1]),  # dominated by 0
        _trial(2, 70.0, 1.0, [-0.5]),  # front: cheaper
        _trial(3, 99.0, 0.5, [0.2]),  # dominates all, but misses a bound
        _trial(4, 90.0, 5.0, [0.0]),  # equal to 0 and met (0 counts as met): front too
    ]
    front = _feasible_front(SimpleNamespace(trials=trials))
    assert [t.number for t in front] == [0, 4, 2]


@pytest.mark.usefixtures("small_cost_nets")
def test_a_storage_that_cannot_be_opened_is_a_config_error() -> None:
    spec = CoSearchSpec(strategy="optuna-nsga2", constraints=Constraints(fps_min=30),
                        trials=4, study_storage="nosuchdialect://x", **SMALL)  # fmt: skip
    with pytest.raises(ConfigError, match="cannot open the Optuna study storage"):
        run(spec)
