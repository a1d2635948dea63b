"""The hand-off of co-search winners to the zero-shot quantization core: the extracted
network computes what the supernet path computes, the bits map covers its layers, and a
co-search run quantizes every winner from synthetic data and exports it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from coexplore.quant.bitmap import quant_layers, quantizable_layers
from coexplore.quant.export import load_quantized
from coexplore.runs import save_run
from coexplore.search import Constraints, CoSearchSpec, run
from coexplore.search.handoff import (
    build_subnet,
    extract_subnet,
    quantize_winner,
    same_function,
    winner_bitmap,
)
from coexplore.search.space import OPERATORS, SKIP, get_space
from coexplore.search.supernet import Supernet


def _trained_bn(net: Supernet, ops: list[int], bits: list[int]) -> None:
    """Non-trivial BN statistics for this path (a few train-mode passes)."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3, 32, 32), ops, bits, quantize=False)


@pytest.fixture
def tiny_winner() -> tuple[Supernet, list[int], list[int]]:
    torch.manual_seed(0)
    sp = get_space("tiny")
    net = Supernet(sp, num_classes=10)
    skip_slot = int(np.flatnonzero(sp.skip_allowed)[0])
    ops = [(s * 2 + 1) % SKIP for s in range(sp.n_slots)]  # different operators per slot
    ops[skip_slot] = SKIP
    bits = [s % len(sp.bits) for s in range(sp.n_slots)]
    _trained_bn(net, ops, bits)
    return net, ops, bits


def test_the_extracted_network_computes_the_supernet_path(tiny_winner) -> None:
    net, ops, bits = tiny_winner
    sub = extract_subnet(net, ops)
    x = torch.randn(6, 3, 32, 32)
    assert same_function(net, sub, x, ops, bits) < 1e-4
    kept = sum(op != SKIP for op in ops)
    assert len(sub.blocks) == kept
    # depthwise convolutions with each operator's own kernel size
    dw = [b.conv[3] for b in sub.blocks]
    assert all(c.groups == c.in_channels == c.out_channels for c in dw)
    assert [c.kernel_size[0] for c in dw] == [OPERATORS[op][0] for op in ops if op != SKIP]


def test_the_bits_map_names_every_layer_with_the_searched_bits(tiny_winner) -> None:
    net, ops, bits = tiny_winner
    sp = net.space
    sub = extract_subnet(net, ops)
    bm = winner_bitmap(sp, ops, bits)
    assert list(bm) == quantizable_layers(sub)
    kept = [s for s in range(sp.n_slots) if ops[s] != SKIP]
    for i, s in enumerate(kept):
        for j in (0, 3, 6):
            assert bm[f"blocks.{i}.conv.{j}"] == [sp.bits[bits[s]]] * 2
    assert bm["stem.0"] == bm["head.0"] == bm["classifier"] == [8, 8]


def test_quantize_winner_runs_the_core_and_the_export_loads_back(
    tiny_winner, tmp_path: Path
) -> None:
    from coexplore.quant import BitMap
    from coexplore.quant.export import export_quantized

    net, ops, bits = tiny_winner
    sub = extract_subnet(net, ops)
    bm = winner_bitmap(net.space, ops, bits)
    x, y = torch.randn(40, 3, 32, 32), torch.randint(0, 10, (40,))
    qmodel, rep = quantize_winner(sub, bm, (x, y), images=16, synthetic_steps=3,
                                  recon_iters=3, seed=0, cache_dir=tmp_path / "cache")  # fmt: skip
    got = {n: [m.w_bits, m.a_bits] for n, m in quant_layers(qmodel).items()}
    assert got == {**bm, "stem.0": [8, 8]}  # protocol A: the network input is 8-bit
    assert 0 <= rep["test_accuracy_zsq"] <= 100 and rep["synthetic_images"] == 16
    path = export_quantized(qmodel, tmp_path / "w.pt", "tiny-winner", 10,
                            BitMap.from_dict(bm, sub, 8))  # fmt: skip
    loaded, meta = load_quantized(path, build_subnet(net.space, ops, 10))
    with torch.no_grad():
        assert torch.allclose(loaded(x), qmodel.eval()(x), atol=1e-4)
    assert meta["bits"] == {k: list(v) for k, v in got.items()}


@pytest.mark.usefixtures("small_cost_nets")
def test_cosearch_hands_every_winner_to_the_quantization_core(tmp_path: Path) -> None:
    spec = CoSearchSpec(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2,
                        batch_size=16, constraints=Constraints(fps_min=100),
                        quant_images=16, quant_synthetic_steps=3, quant_iters=3)  # fmt: skip
    res = run(spec)
    r = res.result
    assert [h["rank"] for h in r.handoff] == [w.rank for w in r.winners]
    first = r.handoff[0]
    # the extracted network is the supernet path: same FP test accuracy
    assert first["test_accuracy_fp"] == pytest.approx(r.test_accuracy_fp)
    assert first["test_accuracy_fakequant_data"] == pytest.approx(r.test_accuracy_quant)
    assert res.metrics["test_accuracy_zsq"] == first["test_accuracy_zsq"]
    folder = save_run(res, tmp_path)
    for h in r.handoff:
        assert (folder / h["exported"]).is_file()
    assert (folder / "handoff.csv").read_text().count("\n") == len(r.winners) + 1


@pytest.mark.usefixtures("small_cost_nets")
def test_bench_handoff_compares_zero_shot_with_data_aware(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from coexplore.api.cli import app

    out = tmp_path / "handoff.md"
    r = CliRunner().invoke(app, ["bench", "handoff", "--seeds", "1", "--steps", "12",
                                 "--space", "tiny", "--quant-images", "16",
                                 "--quant-synthetic-steps", "3", "--quant-iters", "3",
                                 "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["winners"]
    for w in res["winners"]:
        for k in ("test_accuracy_fp", "test_accuracy_fakequant_data", "test_accuracy_zsq",
                  "test_accuracy_fakequant_data_w8", "test_accuracy_zsq_w8"):  # fmt: skip
            assert 0 <= w[k] <= 100
    assert res["widths"] == {"winners": [4, 6, 8], "all_widths": [2, 3, 4, 6, 8]}
    for w in res["winners"]:  # the default searches only the zero-shot widths
        assert set(w["bits"]) <= {4, 6, 8}
    assert res["all_widths"] and "## Contrast" in out.read_text()
    assert "| at W8A8 |" in out.read_text()
