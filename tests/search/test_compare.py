"""``compare``: strategies side by side on one problem; the hypervolume of feasible fronts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coexplore.api.cli import app
from coexplore.errors import ConfigError
from coexplore.runs import save_run
from coexplore.search import CompareSpec, Constraints, CoSearchSpec, run
from coexplore.search.compare import hypervolume_2d

SMALL = dict(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2, batch_size=16,
             trials=6, constraints=Constraints(fps_min=100))  # fmt: skip


def test_hypervolume_of_an_accuracy_energy_front() -> None:
    ref = (0.0, 10.0)
    assert hypervolume_2d([], ref) == 0.0
    assert hypervolume_2d([(50.0, 5.0)], ref) == pytest.approx(250.0)
    # two steps: (80 % at 6 uJ) and (50 % at 2 uJ): 50 * (6 - 2) + 80 * (10 - 6)
    assert hypervolume_2d([(80.0, 6.0), (50.0, 2.0)], ref) == pytest.approx(520.0)
    # a dominated point and points outside the box change nothing
    assert hypervolume_2d([(80.0, 6.0), (50.0, 2.0), (40.0, 7.0), (99.0, 11.0)], ref) == (
        pytest.approx(520.0)
    )


def test_strategies_that_are_not_co_searches_are_refused_before_any_run() -> None:
    for bad in ("hardware-sweep", "nosuch"):
        spec = CompareSpec(problem=CoSearchSpec(**SMALL), strategies=("dance-hdx", bad))
        with pytest.raises(ConfigError, match=f"{bad!r} is not a co-search strategy"):
            run(spec)


@pytest.mark.usefixtures("small_cost_nets")
def test_compare_runs_every_strategy_and_seed_on_the_same_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coexplore.search.cosearch import RandomSearch

    monkeypatch.setattr(RandomSearch, "RANDOM_CANDIDATES", 4)
    spec = CompareSpec(problem=CoSearchSpec(**SMALL), strategies=("dance-hdx", "random"),
                       seeds=2)  # fmt: skip
    res = run(spec)
    r = res.result
    assert [(x["strategy"], x["seed"]) for x in r.runs] == [
        (s, seed) for seed in (0, 1) for s in spec.strategies
    ]
    for x in r.runs:  # fps >= 100 on the analytical model for every feasible winner
        if x["final_feasible"]:
            assert x["fps"] >= 100 and x["front"]
            assert x["hypervolume"] == pytest.approx(hypervolume_2d(x["front"], r.reference))
        else:
            assert x["hypervolume"] == 0.0
    for s in r.summary:
        runs = [x for x in r.runs if x["strategy"] == s["strategy"]]
        assert s["final_feasible"] == sum(x["final_feasible"] for x in runs) / 2
    folder = save_run(res, tmp_path / "runs")
    assert "plotly" in (folder / "compare.html").read_text()[:200_000].lower()
    assert (folder / "summary.csv").read_text().count("\n") == 3


@pytest.mark.usefixtures("small_cost_nets")
def test_the_compare_command_prints_one_row_per_strategy(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["compare", "--fps", "100", "--space", "tiny", "--steps", "12",
                                 "--strategies", "dance-hdx,dance-soft", "--seeds", "1",
                                 "--out", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "dance-hdx" in r.output and "dance-soft" in r.output and "compare.html" in r.output
    bad = CliRunner().invoke(app, ["compare", "--strategies", "hardware-sweep",
                                   "--out", str(tmp_path)])  # fmt: skip
    assert bad.exit_code == 2 and "not a co-search strategy" in bad.output


@pytest.mark.usefixtures("small_cost_nets")
def test_bench_compare_writes_its_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from coexplore.search import bench_compare
    from coexplore.search.cosearch import RandomSearch

    monkeypatch.setattr(RandomSearch, "RANDOM_CANDIDATES", 3)
    from coexplore.search import nni_adapter

    monkeypatch.setattr(bench_compare, "STRATEGIES", ("dance-hdx", "optuna-nsga2", "sequential"))
    monkeypatch.setattr(nni_adapter, "nni_available", lambda: False)  # reported, not run
    monkeypatch.setattr(bench_compare, "NSGA_TIME_FACTOR", 2)
    out = tmp_path / "compare.md"
    r = CliRunner().invoke(app, ["bench", "compare", "--seeds", "1", "--steps", "12",
                                 "--trials", "4", "--space", "tiny", "--out", str(out),
                                 "--study-storage", f"sqlite:///{tmp_path / 'o.db'}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(out.with_suffix(".json").read_text())
    assert [row["label"] for row in res["rows"]] == ["dance-hdx", "optuna-nsga2",
                                                     "optuna-nsga2 x2 trials"]  # fmt: skip
    assert [row["trials"] for row in res["rows"]] == [4, 4, 8]
    text = out.read_text()
    assert "search bench compare --seeds 1 --steps 12 --trials 4 --space tiny" in text
    assert "Target: HDX's mean feasible hypervolume" in text
    assert "nni extra" in res["skipped"]["sequential"]
    assert "| sequential | not run: the nni extra is not installed" in text
