from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from coexplore.api.cli import app
from coexplore.quant import build_model
from coexplore.quant.pipeline import DEFAULT_METHOD
from coexplore.runs import read_run

from .conftest import randomise_bn

runner = CliRunner()
TINY = ["--images", "16", "--synthetic-steps", "2", "--recon-iters", "2"]


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "r20.pt"
    torch.save(randomise_bn(build_model("resnet20")).state_dict(), path)
    return path


def _quantize(tmp_path: Path, *args: str):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["quantize", *args, "--out", str(out), "--cache-dir",
                              str(tmp_path / "cache"), *TINY])  # fmt: skip
    return res, out


def test_quantize_end_to_end_on_real_test_data(tmp_path: Path, shared_data: Path):
    w = shared_data / "weights" / "akamaster_resnet20-12fca82f.th"
    data = shared_data / "cifar10_test_first1017.npz"
    res, out = _quantize(tmp_path, "--weights", str(w), "--bits", "4", "--json",
                         "--eval-data", str(data))  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["fp_top1"] == pytest.approx(100 * 932 / 1017)
    assert 10 < rep["quant_top1"] <= 100 and rep["drop"] == pytest.approx(
        rep["fp_top1"] - rep["quant_top1"]
    )
    assert rep["protocol"] == "A" and rep["bits"] == "W4A4"
    assert rep["method"]["name"] == DEFAULT_METHOD  # no --method: the bench's best recipe
    folder = Path(rep["run_folder"])
    assert {p.name for p in folder.iterdir()} == {
        "run.json",
        "spec.json",
        "result.json",
        "bits.json",
        "quantized.pt",
    }
    manifest = read_run(folder)
    assert manifest.kind == "quantize" and manifest.metrics["quant_top1"] == rep["quant_top1"]
    assert manifest.load_spec().bits == 4
    assert json.loads((folder / "bits.json").read_text())["linear"] == [4, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bits", "9"], "`bits` must be in [2, 8], but got 9"),
        (["--protocol", "C"], "`protocol` must be one of A, B, but got 'C'"),
        (["--model", "collections:OrderedDict"], "returned a OrderedDict, not a torch.nn.Module"),
        (["--model", "torch.nn:Linear"], "must build the model without arguments"),
        (["--model", "math:pi"], "not a factory"),
        (["--method", "magic"], "unknown quantization method 'magic'"),
        (["--model", "resnet99"], "unknown model 'resnet99'"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, weights, args, message):
    res, out = _quantize(tmp_path, "--weights", str(weights), *args)
    assert res.exit_code == 2 and message in res.output
    assert not out.exists() or not any(out.iterdir())


def test_bad_files_exit_2_and_write_nothing(tmp_path: Path, weights: Path):
    bad_map = tmp_path / "bits.json"
    bad_map.write_text(json.dumps({"layer7.conv": 4}))
    not_sd = tmp_path / "list.pt"
    torch.save([1, 2], not_sd)
    pickled = tmp_path / "model.pt"
    torch.save(build_model("resnet20"), pickled)  # a whole module: needs unpickling code
    bad_data = tmp_path / "nchw.npz"
    np.savez(bad_data, images=np.zeros((4, 3, 32, 32), np.uint8), labels=np.zeros(4, np.int64))
    cases = [
        (["--weights", str(weights), "--bits-map", str(bad_map)], "layer7.conv"),
        (["--weights", str(not_sd)], "holds no state dict"),
        (["--weights", str(pickled)], "is not a plain state dict"),
        (["--weights", str(weights), "--eval-data", str(bad_data)], "(N, 32, 32, 3)"),
        (["--weights", str(tmp_path / "nope.pt")], "does not exist"),
    ]
    for args, message in cases:
        res, out = _quantize(tmp_path, *args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert "weights_only=False" not in res.output and "Warning" not in res.output
        assert not out.exists() or not any(out.iterdir())


def test_model_without_batchnorm_exits_2(tmp_path: Path, monkeypatch):
    (tmp_path / "nobn_model.py").write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
        "                         nn.Flatten(), nn.Linear(8, 10))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    res, out = _quantize(tmp_path, "--model", "nobn_model:build")
    assert res.exit_code == 2 and "no BatchNorm" in res.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("seeds", ["1,1", "a,b", "", "-1"])
def test_bench_zsq_refuses_bad_seeds_before_any_work(tmp_path: Path, seeds: str):
    out = tmp_path / "zsq.md"
    res = runner.invoke(app, ["bench", "zsq", "--seeds", seeds, "--out", str(out)])
    assert res.exit_code == 2 and "--seeds must be distinct" in res.output
    assert not out.exists()


def test_bench_zsq_keeps_finished_rows_when_cut_short(tmp_path: Path, weights: Path,
                                                     shared_data: Path, monkeypatch):  # fmt: skip
    import coexplore.quant.bench as bench

    data = tmp_path / "data"  # the lossless set only: no 10k JPEG evaluation
    data.mkdir()
    (data / "cifar10_test_first1017.npz").symlink_to(shared_data / "cifar10_test_first1017.npz")
    calls = []
    real = bench.quantize

    def quantize_then_die(*args, **kwargs):  # the third configuration "runs out of time"
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "quantize", quantize_then_die)
    out = tmp_path / "zsq.md"
    res = runner.invoke(app, ["bench", "zsq", "--no-ablation", "--weights", str(weights),
                              "--data-dir", str(data), "--out", str(out), *TINY])  # fmt: skip
    assert res.exit_code != 0 and not out.exists()
    partial = json.loads(out.with_suffix(".partial.json").read_text())
    assert partial["partial"] is True
    assert [r["label"] for r in partial["rows"]] == ["W8A8", "W4A4"]
    assert set(partial["rows"][0]["drop"]) == {"lossless"}


def test_quantize_job_emits_ordered_progress_and_a_manifest(tmp_path: Path, weights: Path):
    from coexplore.progress import collect
    from coexplore.quant import QuantSpec
    from coexplore.runs import save_run
    from coexplore.search import run

    spec = QuantSpec(weights=str(weights), bits=4, images=16, synthetic_steps=2, recon_iters=2,
                     cache_dir=str(tmp_path / "cache"))  # fmt: skip
    events, cb = collect()
    res = run(spec, progress=cb)
    phases = [e.phase for e in events]
    assert phases[0] == "synthetic" and "reconstruct" in phases
    order = list(dict.fromkeys(phases))
    assert phases == sorted(phases, key=order.index)  # each phase runs once, in one block
    for phase in order:
        done = [e.done for e in events if e.phase == phase]
        assert done == sorted(done)
    m = read_run(save_run(res, tmp_path / "runs"))
    assert m.kind == "quantize" and m.load_spec() == spec and m.metrics["bits"] == "W4A4"
