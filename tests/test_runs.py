"""The run layer: specs round-trip, the run folder and its one reader, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coexplore import ConfigError, UnknownComponentError
from coexplore.runs import (
    SPECS,
    RunResult,
    atomic_write,
    read_run,
    save_run,
    spec_from_dict,
)
from coexplore.search import (
    CompareSpec,
    Constraints,
    CoSearchSpec,
    DataFreeSpec,
    EvaluatorSpec,
    HardwareSweepSpec,
    QuantSpec,
    run,
)

# one non-default instance of every kind the product runs
EXAMPLES = [
    HardwareSweepSpec(bits=(4, 8), batch=2, constraints=Constraints(fps_min=30, power_mw_max=5)),
    CoSearchSpec(task="digits", constraints=Constraints(fps_min=30, area_mm2_max=2), steps=110),
    DataFreeSpec(weights="w.th", bits=(4, 8), constraints=Constraints(latency_ms_max=20)),
    CompareSpec(problem=CoSearchSpec(steps=150), strategies=("dance-hdx", "random"), seeds=3),
    EvaluatorSpec(space="tiny", constraints=Constraints(fps_min=10), train_steps=5),
    QuantSpec(weights="w.th", bits=3, bits_map={"conv1": (8, 8), "fc": 4}, protocol="b"),
]


def test_every_kind_is_registered() -> None:
    assert {type(s).kind for s in EXAMPLES} == set(SPECS.names())


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda s: s.kind)
def test_spec_json_round_trip_is_identical(spec) -> None:
    text = spec.to_json()
    again = spec_from_dict(json.loads(text))
    assert again == spec and type(again) is type(spec)
    assert again.to_json() == text
    assert json.loads(text)["kind"] == spec.kind and json.loads(text)["version"] == 1


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda s: s.kind)
def test_spec_schema_names_every_field(spec) -> None:
    schema = type(spec).json_schema()
    assert set(schema["properties"]) == set(spec.to_dict())
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # plain JSON


def test_nested_schema_describes_the_constraints() -> None:
    props = HardwareSweepSpec.json_schema()["properties"]
    inner = props["constraints"]["properties"]
    assert set(inner) == {"fps_min", "latency_ms_max", "area_mm2_max", "energy_uj_max",
                          "power_mw_max"}  # fmt: skip
    assert props["bits"]["type"] == "array" and props["kind"] == {"const": "hardware-sweep"}


def test_bad_spec_json_is_refused_with_the_rule() -> None:
    good = HardwareSweepSpec().to_dict()
    with pytest.raises(ConfigError, match="no field.*acel_space.*valid fields"):
        spec_from_dict({**good, "acel_space": "edge"})
    with pytest.raises(ConfigError, match="no field.*fps"):
        spec_from_dict({**good, "constraints": {"fps": 30}})
    with pytest.raises(ConfigError, match="version 2 is not the version"):
        spec_from_dict({**good, "version": 2})
    with pytest.raises(ConfigError, match="has kind 'hardware-sweep'.*'quantize'"):
        HardwareSweepSpec.from_dict({**good, "kind": "quantize"})
    with pytest.raises(ConfigError, match="with a `kind`"):
        spec_from_dict({"network": "resnet20"})
    with pytest.raises(UnknownComponentError, match="unknown run kind 'sweep'"):
        spec_from_dict({"kind": "sweep"})
    with pytest.raises(ConfigError, match="not valid JSON"):
        HardwareSweepSpec.from_json("{")


def test_strategies_not_built_yet_say_what_is_available() -> None:
    with pytest.raises(
        UnknownComponentError,
        match="'enas'; choose one of: compare, dance-adaptive, dance-hdx, dance-soft,",
    ):
        run(CoSearchSpec(strategy="enas"))
    with pytest.raises(ConfigError, match="warmup_steps.*must be below"):
        CoSearchSpec(steps=10, warmup_steps=10)
    with pytest.raises(ConfigError, match="unknown task 'mnist'"):
        CoSearchSpec(task="mnist")
    with pytest.raises(ConfigError, match=r"`budget_fractions` \[1.0, 1.0\].*each once"):
        DataFreeSpec(budget_fractions=(1.0, 1.0))
    with pytest.raises(ConfigError, match=r"`budget fraction` must be in \[0.01, 1.0\].*1.2"):
        DataFreeSpec(budget_fractions=(1.2,))


class _Record:
    def __init__(self, value: float) -> None:
        self.value = value

    def to_dict(self) -> dict:
        return {"value": self.value, "nan": float("nan")}


def test_save_run_writes_a_manifest_the_reader_loads(tmp_path: Path) -> None:
    spec = HardwareSweepSpec(accel_space="tiny")
    res = RunResult(
        spec=spec,
        result=_Record(1.5),
        metrics={"best": 2.0},
        timings_s={"search": 0.1},
        artefacts={"table.csv": "a,b\n", "blob.bin": lambda p: p.write_bytes(b"\0" * 10)},
    )
    folder = save_run(res, tmp_path / "runs")
    assert res.folder == folder and folder.parent == tmp_path / "runs"
    m = read_run(folder)
    assert (m.kind, m.status, m.metrics, m.load_spec()) == (
        "hardware-sweep", "succeeded", {"best": 2.0}, spec
    )  # fmt: skip
    sizes = {a["name"]: a["bytes"] for a in m.artefacts}
    assert sizes["blob.bin"] == 10 and set(sizes) == {
        "spec.json", "result.json", "table.csv", "blob.bin"
    }  # fmt: skip
    assert m.result() == {"value": 1.5, "nan": None}  # JSON has no NaN
    with pytest.raises(ConfigError, match="not an artefact"):
        m.path("../../etc/passwd")
    # a second run in the same second gets its own folder
    assert save_run(res, tmp_path / "runs") != folder


def test_a_crash_while_saving_leaves_no_folder(tmp_path: Path) -> None:
    def boom(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    res = RunResult(spec=HardwareSweepSpec(), result=_Record(0), artefacts={"x": boom})
    with pytest.raises(RuntimeError, match="disk full"):
        save_run(res, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_read_run_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run folder"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(ConfigError, match="unreadable manifest"):
        read_run(tmp_path)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.txt"
    atomic_write(target, "old")

    def fails(path: Path) -> None:
        path.write_text("partial")
        raise OSError("no space")

    with pytest.raises(OSError):
        atomic_write(target, fails)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]  # no temporary left
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
