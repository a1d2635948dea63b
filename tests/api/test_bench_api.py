"""``search bench api`` on a small load: it measures and writes its table."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from coexplore.api.cli import app


def test_bench_api_measures_latency_and_throughput(tmp_path: Path) -> None:
    out = tmp_path / "api.md"
    r = CliRunner().invoke(app, ["bench", "api", "--clients", "5", "--requests-per-client", "4",
                                 "--jobs", "2", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "| errors | 0 | 0 |" in text and "2 of 2 succeeded" in text
    assert (tmp_path / "api.json").is_file()
