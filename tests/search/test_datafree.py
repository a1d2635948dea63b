"""The data-free co-search: exact per-layer cost tables, a data-free sensitivity, HDX on the
per-layer bits, verified winners beside uniform bit-widths, zero-shot quantization."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from coexplore.accel_model import AnalyticalModel, get_design_space
from coexplore.accel_model._torch_bridge import workload_from_torch
from coexplore.api.cli import app
from coexplore.quant.bitmap import quantizable_layers
from coexplore.quant.models import load_model
from coexplore.runs import read_run
from coexplore.search.datafree import layer_sensitivity

WEIGHTS = "weights/akamaster_resnet20-12fca82f.th"


def test_per_layer_costs_add_up_to_the_network_cost_on_every_accelerator(
    shared_data: Path,
) -> None:
    """The tables the search differentiates through are exact: layer costs at each layer's
    own bit-width sum to the analytical model's cost of the mixed-precision network."""
    model = load_model("resnet20", shared_data / WEIGHTS)
    wl = workload_from_torch(model, (1, 3, 32, 32))
    accs = get_design_space("tiny").batch(get_design_space("tiny").all_indices())
    m = AnalyticalModel.for_search()
    bits = np.random.default_rng(0).choice([2, 4, 8], size=len(wl.layers))
    whole = m.evaluate(wl, accs, w_bits=bits, a_bits=bits)
    tables = {b: m.evaluate(wl, accs, w_bits=np.full(len(bits), b), a_bits=np.full(len(bits), b),
                            per_layer=True).layers for b in (2, 4, 8)}  # fmt: skip
    cycles = sum(tables[b]["cycles"][i] for i, b in enumerate(bits))
    energy = sum(tables[b]["energy_pj"][i] for i, b in enumerate(bits))
    np.testing.assert_allclose(cycles / accs.clock_hz, whole.latency_s, rtol=1e-9)
    np.testing.assert_allclose(energy, whole.energy_pj, rtol=1e-9)
    assert [la.name for la in wl.layers] == quantizable_layers(model)


def test_fewer_bits_are_more_sensitive(shared_data: Path) -> None:
    model = load_model("resnet20", shared_data / WEIGHTS)
    names = quantizable_layers(model)
    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sens = layer_sensitivity(model, names, [2, 4, 8], images)
    assert sens.shape == (len(names), 3) and (sens >= 0).all()
    total = sens.sum(0)
    assert total[0] > total[1] > total[2]


def test_the_data_free_run_meets_a_bound_uniform_8_bits_cannot(
    shared_data: Path, tmp_path: Path
) -> None:
    args = ["run", "--model", "resnet20", "--weights", str(shared_data / WEIGHTS),
            "--eval-data", str(shared_data / "cifar10_test_first1017.npz"),
            "--accel-space", "tiny", "--fps", "600", "--steps", "40", "--top-k", "2",
            "--quant-images", "16", "--quant-synthetic-steps", "3", "--quant-iters", "3",
            "--out", str(tmp_path)]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COEXPLORE_CACHE", str(tmp_path / "cache"))
        r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "data-free co-search of resnet20" in r.output
    (folder,) = [p for p in tmp_path.iterdir() if p.name != "cache"]
    res = json.loads((folder / "result.json").read_text())
    designs = {d["name"]: d for d in res["designs"]}
    first = designs["searched #1"]
    assert first["feasible"] and first["verified"]["fps"] >= 600  # verified, not predicted
    assert not designs["uniform W8A8"]["feasible"] and designs["uniform W8A8"]["closest"]
    assert "test_zsq" in first and 0 <= first["test_zsq"] <= 100
    bits = json.loads((folder / "bits.json").read_text())
    assert list(bits) == res["layers"] and list(bits.values()) == first["bits"]
    # the bits map is what `search quantize --bits-map` reads for this model
    from coexplore.quant import BitMap

    bm = BitMap.from_json(folder / "bits.json", load_model("resnet20", shared_data / WEIGHTS), 8)
    assert [b.w_bits for b in bm.bits.values()] == first["bits"]
    assert (folder / "quantized.pt").is_file() and read_run(folder).kind == "data-free"
    # each feasible uniform choice has a knapsack design: no more energy on its accelerator
    # and no more sensitivity by the table (it is a candidate of its own knapsack)
    for u in (d for d in res["designs"] if not d["searched"] and d["feasible"]):
        k = designs.get(f"knapsack at {u['name'][8:]} energy")
        if k is not None:  # absent only when it is a design already listed
            assert k["budget_of"] == u["name"] and k["feasible"]
            assert k["predicted_sensitivity"] <= u["predicted_sensitivity"] + 1e-12
            if k["accelerator"] == u["accelerator"]:  # verified on the budget's hardware
                assert k["verified"]["energy_uj"] <= u["verified"]["energy_uj"] * (1 + 1e-9)
        # and the knapsack front below it: each at most that fraction of its energy
        for k in (d for d in res["designs"] if d.get("budget_of") == u["name"]):
            frac = k["budget_fraction"]
            assert frac in (1.0, 0.97, 0.94) and k["searched"]
            if k["accelerator"] == u["accelerator"]:
                assert k["verified"]["energy_uj"] <= frac * u["verified"]["energy_uj"] * (
                    1 + 1e-9)
        # and its most accurate searched rival at no more energy, with a paired interval
        rival = u["best_rival"]
        if rival is not None:
            s = designs[rival["design"]]
            assert s["searched"] and s["verified"]["energy_uj"] <= u["verified"]["energy_uj"] * (
                1 + 1e-9)
            assert rival["delta"] == pytest.approx(s["test_zsq"] - u["test_zsq"])
            assert rival["ci95"] >= 0 and rival["images"] == 1017
            assert f"{u['name']} vs {rival['design']}" in r.output
    bad = CliRunner().invoke(app, ["run", "--model", "resnet20", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "weights are required" in bad.output


def test_bench_datafree_writes_its_table(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coexplore.search import bench_datafree

    monkeypatch.setattr(bench_datafree, "EVAL_SETS", {"1,017 lossless":
                                                      "cifar10_test_first1017.npz"})  # fmt: skip
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "datafree.md"
    args = ["bench", "datafree", "--accel-space", "tiny", "--steps", "10", "--images", "16",
            "--synthetic-steps", "3", "--recon-iters", "3", "--data-dir", str(shared_data),
            "--sweep", "0.2", "--out", str(out)]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    res = json.loads(out.with_suffix(".json").read_text())
    assert [row["bound"].split(" (")[0] for row in res["rows"]][0] == "fps >= 30"
    tight = res["rows"][1]
    w8 = next(d for d in tight["designs"] if d["name"] == "uniform W8A8")
    assert not w8["feasible"]  # the tight bound is above the fastest W8A8 design
    text = out.read_text()
    assert "search bench datafree --accel-space tiny --steps 10" in text and "| drop |" in text
    assert res["sweep"] == [0.2] and "--sweep 0.2" in text
    assert any(d["name"].endswith("(lambda 0.2)") for d in tight["designs"])
    # each run's own phases show between the bench's rows (minutes of silence otherwise)
    assert "] prepare: " in r.output and "] quantize: " in r.output


def test_a_lambda_sweep_returns_a_front_from_one_run(shared_data: Path, tmp_path: Path) -> None:
    """--sweep searches further lambdas on the same tables and sensitivities: each lambda's
    designs join the table under its name, and the heavier cost weight buys cheaper bits."""
    args = ["run", "--model", "resnet20", "--weights", str(shared_data / WEIGHTS),
            "--accel-space", "tiny", "--fps", "600", "--steps", "40", "--top-k", "1",
            "--sweep", "5", "--quant-images", "16", "--quant-synthetic-steps", "3",
            "--quant-iters", "3", "--out", str(tmp_path)]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COEXPLORE_CACHE", str(tmp_path / "cache"))
        r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (folder,) = [p for p in tmp_path.iterdir() if p.name != "cache"]
    res = json.loads((folder / "result.json").read_text())
    searched = [d for d in res["designs"] if d["searched"] and d["lambda"] is not None]
    assert [d["name"] for d in searched] == ["searched #1 (lambda 0.02)",
                                             "searched #1 (lambda 5)"]  # fmt: skip
    light, heavy = searched
    assert np.mean(heavy["bits"]) < np.mean(light["bits"])
    assert heavy["verified"]["energy_uj"] < light["verified"]["energy_uj"]
    traj = (folder / "trajectory.csv").read_text().splitlines()
    assert len(traj) == 1 + 2 * 40 and traj[0].startswith("lambda,step")
    bad = CliRunner().invoke(app, ["run", "--fps", "30", "--sweep", "0.1"])
    assert bad.exit_code == 2 and "--sweep applies to the data-free mode" in bad.output


def test_the_knapsack_finds_the_least_sensitive_choice_within_the_budget() -> None:
    """Exact on small cases (checked against every combination), never over the budget,
    and None when the cheapest choice of every layer is already over it."""
    import itertools

    from coexplore.search.datafree import least_sensitive_within

    rng = np.random.default_rng(0)
    for _ in range(200):
        n_l, n_b = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        sens, cost = rng.random((n_l, n_b)), rng.random((n_l, n_b)) * 10
        budget = float(rng.random() * 10 * n_l)
        got = least_sensitive_within(sens, cost, budget, buckets=20_000)
        rows = np.arange(n_l)
        fits = [np.array(c) for c in itertools.product(range(n_b), repeat=n_l)
                if cost[rows, list(c)].sum() <= budget]  # fmt: skip
        if not fits:
            assert got is None
            continue
        assert got is not None and cost[rows, got].sum() <= budget
        best = min(sens[rows, c].sum() for c in fits)
        assert sens[rows, got].sum() <= best + 1e-3  # the budget's rounding, at most
    assert least_sensitive_within(np.ones((2, 2)), np.full((2, 2), 3.0), 5.0) is None
