"""``search bench search`` on a tiny budget: every setting and strategy runs, and the
table reports what the runs measured (not what a target wants)."""

from __future__ import annotations

import pytest

from coexplore.search.bench_search import UNCONSTRAINED, render_search_markdown, run_search_bench

pytestmark = pytest.mark.usefixtures("small_cost_nets")


def test_bench_runs_every_setting_and_reports_measured_figures() -> None:
    res = run_search_bench(seeds=1, steps=9, space="tiny", time_default=False)
    settings = [r["setting"] for r in res["rows"]]
    assert settings[0] == UNCONSTRAINED and len(res["rows"]) == 1 + 3 * 4
    assert all(len(r["runs"]) == 1 for r in res["rows"])
    text = render_search_markdown(res, "search bench search --seeds 1")
    unc = [x for x in res["rows"][0]["runs"] if x["final_feasible"]]
    # the unconstrained winners' fastest fps are what the table's sentence counts
    below = sum(x["fastest_fps"] < 30 for x in unc)
    assert f"{below} of {len(unc)} winners miss 30 fps" in text
    for setting in settings[1:]:
        assert f"| {setting} | dance-hdx |" in text
    assert "## HDX against the best feasible soft penalty" in text
    assert "No CIFAR-10 run" in text and "not timed" in text
