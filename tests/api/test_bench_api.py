"""``search bench api`` on a small load: it measures and writes its table."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from coexplore.api.cli import app


def test_bench_api_measures_latency_and_throughput(tmp_path: Path) -> None:
    out = tmp_path / "api.md"
    r = CliRunner().invoke(app, ["bench", "api", "--clients", "5", "--requests-per-client", "4",
                                 "--jobs", "2", "--think", "0.05", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "api.json").read_text())
    for load in ("status", "saturation"):
        assert res[load]["requests"] == 20 and res[load]["errors"] == 0
        assert 0 < res[load]["p50_ms"] <= res[load]["p99_ms"] <= res[load]["max_ms"]
    assert res["status"]["think_s"] == 0.05 and res["saturation"]["think_s"] == 0
    assert res["throughput"]["succeeded"] == 2
    text = out.read_text()
    assert "2 of 2 succeeded" in text and "--think 0.05" in text
