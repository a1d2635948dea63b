"""``search bench search`` on a tiny budget: every setting and strategy runs, and the
table reports what the runs measured (not what a target wants)."""

from __future__ import annotations

import pytest

from coexplore.search.bench_search import (
    UNCONSTRAINED,
    _one,
    render_search_markdown,
    run_search_bench,
)
from coexplore.search.constraints import Constraints
from coexplore.search.space import get_space
from coexplore.search.specs import CoSearchSpec

pytestmark = pytest.mark.usefixtures("small_cost_nets")


@pytest.mark.slow  # 16 real runs (minutes); the pieces are tested below, one real run included
def test_bench_runs_every_setting_and_reports_measured_figures() -> None:
    res = run_search_bench(seeds=1, steps=9, space="tiny", time_default=False)
    settings = [r["setting"] for r in res["rows"]]
    assert settings[0] == UNCONSTRAINED
    assert all(len(r["runs"]) == 1 for r in res["rows"])
    for setting in dict.fromkeys(settings[1:]):
        rows = [r for r in res["rows"] if r["setting"] == setting]
        soft = [r for r in rows if r["strategy"] == "dance-soft"]
        assert [r["lambda"] for r in soft] == [0.01, 0.1, 1.0]
        # HDX at its default weight, and at the best all-feasible soft lambda's when one is
        feasible = [r for r in soft if r["runs"][0]["final_feasible"]]
        hdx = [r["lambda"] for r in rows if r["strategy"] == "dance-hdx"]
        if feasible:
            best = max(feasible, key=lambda r: r["runs"][0]["val_accuracy"])["lambda"]
            assert hdx == [0.02, best]
        else:
            assert hdx == [0.02]
    text = render_search_markdown(res, "search bench search --seeds 1")
    unc = [x for x in res["rows"][0]["runs"] if x["final_feasible"]]
    # the unconstrained winners' fastest fps are what the table's sentence counts
    below = sum(x["fastest_fps"] < 30 for x in unc)
    assert f"{below} of {len(unc)} winners miss 30 fps" in text
    for setting in settings[1:]:
        assert f"| {setting} | dance-hdx |" in text
    assert "## HDX against the best feasible soft penalty" in text
    assert "No CIFAR-10 run" in text and "not timed" in text


def test_one_bench_run_reports_a_verified_feasible_winner() -> None:
    """One real co-search run as the bench runs it: winner 1 meets the bound on its
    refined accelerator, the fastest accelerator is at least as fast, and the prediction
    and the generator's accelerator are reported beside the verified figures."""
    spec = CoSearchSpec(space="tiny", steps=9, warmup_steps=3, finetune_steps=0, quantize=False,
                        constraints=Constraints(fps_min=30))  # fmt: skip
    one = _one(spec)
    assert one["final_feasible"] and one["fps"] >= 30 and one["energy_uj"] > 0
    assert len(one["architecture"].split()) == get_space("tiny").n_slots
    assert one["fastest_fps"] >= one["fps"]
    assert one["predicted_fps"] > 0 and one["generator_fps"] > 0
    assert 0 <= one["val_accuracy"] <= 100 and one["arch_steps"] == 6


def test_bench_resumes_from_its_journal_after_a_crash(tmp_path, monkeypatch) -> None:
    """A killed bench loses only the run in flight: the finished ones come back from the
    journal with --resume, and only the missing ones run again."""
    import coexplore.search.bench_search as bs

    calls: list[int] = []
    crash = [True]

    def fake_one(spec):
        calls.append(spec.seed)
        if crash[0] and len(calls) == 3:
            raise RuntimeError("crash")  # the crash, in the third run
        return {"final_feasible": True, "raw_feasible": True, "seed": spec.seed}

    monkeypatch.setattr(bs, "_one", fake_one)
    monkeypatch.setattr(bs, "tight_bounds", lambda space: {
        "fps_90th_percentile": 100.0, "area_20th_percentile": 0.1,
        "share_meeting_30fps": 0.5, "pairs": 1})  # fmt: skip
    journal = tmp_path / "search.partial.jsonl"
    with pytest.raises(RuntimeError, match="crash"):
        bs.run_search_bench(seeds=2, steps=9, space="tiny", time_default=False, journal=journal)
    assert len(journal.read_text().splitlines()) == 1 + 2  # the code's fingerprint, 2 runs
    calls.clear()
    crash[0] = False
    res = bs.run_search_bench(seeds=2, steps=9, space="tiny", time_default=False,
                              journal=journal, resume=True)  # fmt: skip
    # 13 rows plus HDX at the best soft lambda's weight in each of the 3 bounded settings;
    # the two journalled runs are not run again
    assert len(calls) == 16 * 2 - 2
    assert [x["seed"] for x in res["rows"][0]["runs"]] == [0, 1]
    # without --resume the journal starts afresh
    calls.clear()
    bs.run_search_bench(seeds=1, steps=9, space="tiny", time_default=False, journal=journal)
    assert len(calls) == 16


def _fake_bench(monkeypatch):  # noqa: ANN202
    import coexplore.search.bench_search as bs

    calls: list[int] = []

    def fake_one(spec):
        calls.append(spec.seed)
        return {"final_feasible": True, "raw_feasible": True, "val_accuracy": 90.0 + spec.seed,
                "energy_uj": 1.0, "fps": 40.0, "fastest_fps": 50.0, "predicted_fps": 41.0,
                "generator_fps": 40.0, "predicted_energy_uj": 1.0,
                "generator_energy_uj": 1.0}  # fmt: skip

    monkeypatch.setattr(bs, "_one", fake_one)
    monkeypatch.setattr(bs, "tight_bounds", lambda space: {
        "fps_90th_percentile": 100.0, "area_20th_percentile": 0.1,
        "share_meeting_30fps": 0.5, "pairs": 1})  # fmt: skip
    return bs, calls


def test_a_time_capped_bench_says_it_is_partial_and_resumes(tmp_path, monkeypatch) -> None:
    bs, calls = _fake_bench(monkeypatch)
    journal = tmp_path / "search.partial.jsonl"
    res = bs.run_search_bench(seeds=2, steps=9, space="tiny", time_default=False,
                              journal=journal, max_seconds=0)  # fmt: skip
    assert calls == [] and res["partial"] == {"done": 0, "planned": 32}
    # what the journal holds is reused even once the cap is spent; nothing new starts
    bs.run_search_bench(seeds=1, steps=9, space="tiny", time_default=False, journal=journal)
    res = bs.run_search_bench(seeds=2, steps=9, space="tiny", time_default=False,
                              journal=journal, resume=True, max_seconds=0)  # fmt: skip
    # seed 0 of every row (journalled by the 1-seed bench), no seed 1
    assert res["partial"] == {"done": 16, "planned": 32}
    assert [len(r["runs"]) for r in res["rows"]] == [1] * 16
    text = bs.render_search_markdown(res, "search bench search --seeds 2")
    assert "**Partial**" in text and "after 16 of 32 runs" in text
    assert f"| {UNCONSTRAINED} | dance-hdx | 0 | 1 |" in text  # the row's seed count
    # nor is the default run timed past the cap: the table says so, and --resume times it
    timed: list[int] = []
    monkeypatch.setattr(bs, "_time_default_run", lambda progress: timed.append(1) or [])
    res = bs.run_search_bench(seeds=1, steps=9, space="tiny", journal=journal, resume=True,
                              max_seconds=0)  # fmt: skip
    assert timed == [] and res["partial"] and res["default_run_seconds"] == []
    assert "| not timed |" in bs.render_search_markdown(res, "search bench search")


def test_a_journal_of_other_code_is_refused_on_resume(tmp_path, monkeypatch) -> None:
    from coexplore.errors import ConfigError

    bs, _ = _fake_bench(monkeypatch)
    journal = tmp_path / "search.partial.jsonl"
    journal.write_text('{"key": "code", "value": "0000"}\n')
    with pytest.raises(ConfigError, match="other code"):
        bs.run_search_bench(seeds=1, steps=9, space="tiny", time_default=False,
                            journal=journal, resume=True)  # fmt: skip
