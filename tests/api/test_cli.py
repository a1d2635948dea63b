from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coexplore.api.cli import app
from coexplore.runs import read_run

runner = CliRunner()


def test_run_json_saves_a_run_folder(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["sweep", "--fps", "30", "--accel-space", "tiny", "--json", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["pareto"] and all(d["fps"] >= 30 for d in data["pareto"])
    assert {"fps", "energy_uj", "area_mm2", "design"} <= set(data["pareto"][0])
    folder = Path(data["run_folder"])
    assert folder.parent == tmp_path
    assert {p.name for p in folder.iterdir()} == {
        "run.json",
        "spec.json",
        "result.json",
        "pareto.csv",
        "best_accelerator.yaml",
    }
    assert json.loads((folder / "spec.json").read_text())["constraints"]["fps_min"] == 30
    manifest = read_run(folder)
    assert manifest.kind == "hardware-sweep" and manifest.status == "succeeded"
    assert manifest.load_spec().constraints.fps_min == 30
    assert manifest.metrics["pareto"] == len(data["pareto"])


def test_run_table_output(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["sweep", "--fps", "30", "--accel-space", "tiny", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "Pareto-optimal designs" in res.output and "designs meet fps >= 30" in res.output


def test_user_mistakes_exit_2_without_traceback(tmp_path: Path) -> None:
    for args, needle in (
        (["sweep", "--bits", "5"], "bits"),
        (["sweep", "--network", "vgg"], "choose one of"),
        (["sweep", "--fps", "-1"], "--fps"),
        (["sweep", "--accel-space", "huge"], "unknown accelerator space"),
        (["cost", "--pe", "12by14"], "ROWSxCOLS"),
        (["cost", "--dataflow", "xs"], "dataflow"),
        (["cost", "--mapper", "speed"], "--mapper must be one of energy, latency, edp"),
        (["cost", "--mapper", "energy", "--no-bits-aware", "--nested-buffers"],
         "latency-aware mapper"),
        (["cost", "--nested-buffers"], "--no-bits-aware"),  # bits-aware is the default
        (["sweep", "--mapper", "speed"], "`mapper` must be one of"),
        (["sweep", "--mapper", "energy", "--nested-buffers"], "latency-aware mapper"),
        (["sweep", "--nested-buffers"], "--no-bits-aware"),
        (["run", "--fps", "30", "--mapper", "balanced"], "--no-bits-aware"),
        (["run", "--fps", "30", "--mapper", "speed"], "`mapper` must be one of"),
        (["evaluator", "train", "--mapper", "speed"], "`mapper` must be one of"),
        (["compare", "--fps", "30", "--mapper", "speed"], "`mapper` must be one of"),
    ):
        out = args[0] in ("sweep", "run", "evaluator", "compare")
        res = runner.invoke(app, [*args, "--out", str(tmp_path)] if out else args)
        assert res.exit_code == 2, (args, res.output)
        assert needle in res.output and "Traceback" not in res.output
    assert not list(tmp_path.iterdir())


def test_unwritable_out_exits_2_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = runner.invoke(
        app, ["sweep", "--fps", "30", "--accel-space", "tiny", "--out", str(blocker / "runs")]
    )
    assert res.exit_code == 2, res.output
    assert "cannot write run folders" in res.output and "Traceback" not in res.output


def test_unmeetable_bounds_exit_1(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["sweep", "--fps", "1000000", "--accel-space", "tiny", "--out", str(tmp_path)]
    )
    assert res.exit_code == 1 and "Closest" in res.output
    assert not list(tmp_path.iterdir())


def test_cost_reports_breakdowns() -> None:
    res = runner.invoke(
        app, ["cost", "--network", "resnet20", "--pe", "12x14", "--dataflow", "rs", "--json"]
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["feasible"] and len(rep["layers"]) == 20
    assert set(rep["energy_by_level_pj"]) == {"mac", "rf", "glb", "dram", "leakage"}
    total = sum(rep["energy_by_level_pj"].values())
    assert abs(total / rep["energy_pj"] - 1) < 1e-9


def test_cost_prices_with_the_chosen_mapper() -> None:
    """--mapper latency never gives a slower layer than the default mapper on the same
    design (it picks from the same candidate tilings by latency), and says nothing else."""
    args = ["cost", "--network", "alexnet", "--pe", "16x32", "--dataflow", "os", "--glb-kib",
            "64", "--glb-bw-bits", "128", "--json"]  # fmt: skip
    by = {}
    for mapper in ("energy", "latency"):
        res = runner.invoke(app, [*args, "--mapper", mapper])
        assert res.exit_code == 0, res.output
        by[mapper] = json.loads(res.output)
    pairs = zip(by["latency"]["layers"], by["energy"]["layers"], strict=True)
    assert all(fast["latency_cycles"] <= slow["latency_cycles"] * (1 + 1e-9)
               for fast, slow in pairs)  # fmt: skip
    assert by["latency"]["latency_cycles"] < by["energy"]["latency_cycles"]


def test_cost_sizes_tiles_for_narrow_words_with_bits_aware() -> None:
    """At 4 bits, --bits-aware lets AlexNet's tiles hold twice the words in the same
    buffers: less DRAM traffic than the datapath-width tiling; at 8 bits nothing changes."""
    args = ["cost", "--network", "alexnet", "--pe", "16x16", "--glb-kib", "64", "--json"]
    by = {}
    for bits in ("4", "8"):
        for aware in ("--no-bits-aware", "--bits-aware"):
            res = runner.invoke(app, [*args, "--bits", bits, aware])
            assert res.exit_code == 0, res.output
            by[bits, aware] = json.loads(res.output)
    assert by["8", "--bits-aware"] == by["8", "--no-bits-aware"]
    narrow, wide = by["4", "--bits-aware"], by["4", "--no-bits-aware"]
    assert narrow["dram_accesses_per_mac"] < wide["dram_accesses_per_mac"]
    assert narrow["energy_pj"] < wide["energy_pj"]


def test_cost_with_zigzag_puts_its_latency_split_beside_ours() -> None:
    from coexplore.accel_model.zigzag_adapter import zigzag_available

    if not zigzag_available():
        pytest.skip("zigzag extra not installed")
    args = ["cost", "--network", "resnet20", "--pe", "8x8", "--dataflow", "ws", "--zigzag"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    zz = rep["zigzag_layers"]
    assert len(zz) == len(rep["layers"]) == 20 and all(r["ok"] for r in zz)
    same = 0
    for ours, r in zip(rep["layers"], zz, strict=True):
        # ZigZag prices our tiling (its fill-free compute equals ours where it also keeps
        # our spatial unrolling), and its latency is that plus its stall and loading.
        same += ours["compute_cycles"] - ours["fill_cycles"] == r["mapping_ideal_cycles"]
        split = r["mapping_ideal_cycles"] + r["mapping_stall_cycles"]
        split += r["mapping_onload_cycles"] + r["mapping_offload_cycles"]
        assert split == pytest.approx(r["mapping_latency_cycles"], rel=1e-6)
    assert same >= 10
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "most-stalled port" in table.output
    bad = runner.invoke(app, [*args, "--mac-mode", "bitfusion"])
    assert bad.exit_code == 2 and "--mac-mode fixed" in bad.output


def test_bench_evaluator_data_only(tmp_path: Path) -> None:
    out = tmp_path / "evaluator.md"
    res = runner.invoke(
        app,
        [
            "bench",
            "evaluator",
            "--space",
            "tiny",
            "--samples",
            "2000",
            "--no-networks",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "2,000 samples of tiny" in text and "**missed**" in text  # fewer than 200,000
    assert "not measured in this run" in text


def test_evaluator_train_saves_a_loadable_run(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "evaluator",
            "train",
            "--space",
            "tiny",
            "--samples",
            "1000",
            "--train-steps",
            "150",
            "--generator-steps",
            "60",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    folder = Path(data["run_folder"])
    assert {p.name for p in folder.iterdir()} == {
        "run.json",
        "spec.json",
        "result.json",
        "evaluator.pt",
        "evaluator.json",
        "generator.pt",
        "generator.json",
    }
    assert 0 < data["evaluator"]["mape"]["latency"] < 10
    from coexplore.search.evaluator import load_evaluator
    from coexplore.search.generator import load_generator

    ev, meta = load_evaluator(folder, space="tiny")
    gen, _ = load_generator(folder, ev)
    ops, bits, _ = ev.space.sample(4, seed=0)
    assert gen.generate(ops, bits).shape == (4, len(ev.space.hardware.sizes))


def test_evaluator_train_bad_names_exit_2(tmp_path: Path) -> None:
    for args, needle in (
        (["--space", "resnet"], "mbv2-cifar"),
        (["--space", "tiny", "--objective", "speed"], "edap"),
    ):
        res = runner.invoke(app, ["evaluator", "train", *args, "--out", str(tmp_path)])
        assert res.exit_code == 2, res.output
        assert needle in res.output and "Traceback" not in res.output
    assert not list(tmp_path.iterdir())


def test_spaces_lists_both_spaces() -> None:
    res = runner.invoke(app, ["spaces"])
    assert res.exit_code == 0 and "mbv2-cifar" in res.output and "tiny" in res.output


def test_run_is_the_cosearch_and_saves_its_run(tmp_path: Path, monkeypatch) -> None:
    from coexplore.search import dance
    from coexplore.search.evaluator import EvaluatorConfig
    from coexplore.search.generator import GeneratorConfig

    monkeypatch.setattr(dance, "ONDEMAND_EVALUATOR", EvaluatorConfig(
        samples=3000, pool=512, test_samples=300, train_steps=300, hw_batch=16))  # fmt: skip
    monkeypatch.setattr(dance, "ONDEMAND_GENERATOR", GeneratorConfig(train_steps=60, batch=64))
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path / "cache"))
    args = ["run", "--fps", "60", "--space", "tiny", "--steps", "12", "--warmup-steps", "4",
            "--top-k", "1", "--quant-images", "16", "--quant-synthetic-steps", "3",
            "--quant-iters", "3", "--out", str(tmp_path / "runs")]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "verified on the analytical model" in res.output and "(not verified)" in res.output
    assert "zero-shot quantization core" in res.output and "winner1_quantized.pt" in res.output
    (folder,) = (tmp_path / "runs").iterdir()
    m = read_run(folder)
    assert m.kind == "co-search" and m.load_spec().constraints.fps_min == 60
    bad = runner.invoke(app, ["run", "--task", "mnist", "--out", str(tmp_path / "runs")])
    assert bad.exit_code == 2 and "unknown task 'mnist'" in bad.output
    bad = runner.invoke(app, ["run", "--task", "cifar10", "--out", str(tmp_path / "runs")])
    assert bad.exit_code == 2 and "needs its data" in bad.output
