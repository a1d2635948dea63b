"""Workloads users bring: layer files, torch factories, ONNX graphs; dilation, groups,
rectangular kernels, per-axis padding and Conv1d kept, unpriceable layers refused by name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

from coexplore.accel_model import Accelerator, AnalyticalModel, get_network
from coexplore.accel_model._torch_bridge import workload_from_torch
from coexplore.accel_model.user_workloads import load_workload
from coexplore.api.cli import app
from coexplore.errors import ConfigError


def _torch_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """MACs counted from torch's own output shapes and weight sizes."""
    total = 0

    def hook(m, inputs, out):  # noqa: ANN001, ANN202
        nonlocal total
        if isinstance(m, nn.Linear):
            total += out.numel() * m.in_features
        else:  # one MAC per weight tap per output element, per group
            total += out.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))

    hs = [m.register_forward_hook(hook) for m in module.modules()
          if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]  # fmt: skip
    with torch.no_grad():
        module(torch.zeros(shape))
    for h in hs:
        h.remove()
    return total


GEOMETRY = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=2, dilation=2),  # dilated: was priced as undilated (+27 %)
    nn.BatchNorm2d(8),
    nn.Conv2d(8, 8, (1, 7), padding=(0, 3)),  # rectangular kernel, per-axis padding
    nn.Conv2d(8, 8, 3, padding="same", groups=8),  # depthwise, "same"
    nn.Conv2d(8, 16, 3, stride=2, groups=2),  # grouped, strided
    nn.Flatten(),
    nn.Linear(16 * 15 * 15, 10),
)


def test_torch_import_keeps_dilation_groups_rectangles_and_padding() -> None:
    wl = workload_from_torch(GEOMETRY, (1, 3, 32, 32))
    assert [ly.kind for ly in wl.layers] == ["conv", "conv", "depthwise", "conv", "linear"]
    assert wl.total_macs == _torch_macs(GEOMETRY, (1, 3, 32, 32))
    dil, rect = wl.layers[0], wl.layers[1]
    assert (dil.dilation, dil.out_h) == (2, 32)
    assert (rect.padding, rect.pad_w, rect.out_h, rect.out_w) == (0, 3, 32, 32)
    costs = AnalyticalModel().evaluate(wl, [Accelerator()])
    assert bool(costs.feasible[0]) and float(costs.latency_cycles[0]) > 0


def test_conv1d_is_a_one_row_convolution_with_the_same_macs() -> None:
    m = nn.Sequential(nn.Conv1d(4, 8, 5, stride=2, padding=2), nn.ReLU(),
                      nn.Conv1d(8, 8, 3, dilation=2))  # fmt: skip
    wl = workload_from_torch(m, (2, 4, 100))
    assert [(ly.in_h, ly.in_w, ly.kernel_h, ly.kernel_w) for ly in wl.layers] == [
        (1, 100, 1, 5), (1, 50, 1, 3)]  # fmt: skip
    assert wl.total_macs == _torch_macs(m, (2, 4, 100))


def test_a_dilated_window_reads_more_input_than_an_undilated_one() -> None:
    base = workload_from_torch(nn.Sequential(nn.Conv2d(16, 16, 3, padding=1)), (1, 16, 32, 32))
    dil = workload_from_torch(nn.Sequential(nn.Conv2d(16, 16, 3, padding=2, dilation=2)),
                              (1, 16, 32, 32))  # fmt: skip
    assert base.total_macs == dil.total_macs
    acc = Accelerator(pe_rows=4, pe_cols=4, glb_kib=2, rf_bytes=16)
    model = AnalyticalModel()
    b, d = model.report(base, acc), model.report(dil, acc)
    assert d.layers[0].energy_pj >= b.layers[0].energy_pj


@pytest.mark.parametrize(
    ("module", "shape", "words"),
    [
        (nn.Sequential(nn.Conv2d(3, 8, 3, stride=(1, 2))), (1, 3, 16, 16), "stride (1, 2)"),
        (nn.Sequential(nn.ConvTranspose2d(3, 8, 3)), (1, 3, 16, 16), "transposed"),
        (nn.Sequential(nn.Conv3d(3, 8, 3)), (1, 3, 8, 8, 8), "3-D"),
        (nn.Sequential(nn.LSTM(3, 8)), (4, 1, 3), "'0' (LSTM)"),
        (nn.Sequential(nn.Conv2d(3, 8, 4, padding="same")), (1, 3, 16, 16), "not symmetric"),
        (nn.Sequential(nn.Conv2d(3, 8, 3)), (1, 5, 16, 16), "--input-shape"),
    ],
)
def test_what_cannot_be_priced_is_refused_by_name(module, shape, words) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=None) as exc:
        workload_from_torch(module, shape)
    assert words in str(exc.value)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_layer_files_round_trip(tmp_path: Path, suffix: str) -> None:
    wl = workload_from_torch(GEOMETRY, (1, 3, 32, 32))
    path = tmp_path / f"net{suffix}"
    dump = json.dumps if suffix == ".json" else yaml.safe_dump
    path.write_text(dump(wl.to_dict()))
    assert load_workload(str(path)) == wl
    assert load_workload(str(path), batch=4).batch == 4


def test_bad_layer_files_name_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "x", "layers": [{"name": "a", "kind": "conv",
                    "in_channels": 3, "out_channels": 8, "kernal_h": 3}]}))  # fmt: skip
    with pytest.raises(ConfigError, match="unknown field.*kernal_h.*valid fields"):
        load_workload(str(path))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_workload(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_workload(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="unknown network 'resnet21'.*built-in"):
        load_workload("resnet21")


def test_model_factory_through_the_torch_import(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "user_nets.py").write_text(
        "from torch import nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(),\n"
        "                         nn.Linear(8 * 8 * 8, 10))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    wl = load_workload("user_nets:build", "1,3,8,8")
    assert len(wl) == 2 and wl.name == "build"
    with pytest.raises(ConfigError, match="needs an input shape"):
        load_workload("user_nets:build")
    with pytest.raises(ConfigError, match="no callable 'nope'"):
        load_workload("user_nets:nope", "1,3,8,8")
    with pytest.raises(ConfigError, match="cannot import"):
        load_workload("no_such_pkg.nets:build", "1,3,8,8")
    sys.modules.pop("user_nets", None)


def _onnx_graph(path: Path, pads_1x7: list[int]) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...]):  # noqa: ANN202
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="dilated", kernel_shape=[3, 3],
                         dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Conv", ["a", "w2"], ["b"], name="rect", kernel_shape=[1, 7],
                         pads=pads_1x7),
        helper.make_node("Conv", ["b", "w3"], ["c"], name="dw", kernel_shape=[3, 3], group=8,
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["d"]),
        helper.make_node("Flatten", ["d"], ["e"]),
        helper.make_node("Gemm", ["e", "w4"], ["y"], name="fc", transB=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "user_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [init("w1", (8, 3, 3, 3)), init("w2", (8, 8, 1, 7)), init("w3", (8, 1, 3, 3)),
         init("w4", (10, 8 * 8 * 8))],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_graphs_become_the_same_layers_as_torch(tmp_path: Path) -> None:
    path = tmp_path / "user_net.onnx"
    _onnx_graph(path, [0, 3, 0, 3])
    wl = load_workload(str(path), "1,3,16,16")
    same = nn.Sequential(nn.Conv2d(3, 8, 3, padding=2, dilation=2),
                         nn.Conv2d(8, 8, (1, 7), padding=(0, 3)),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))  # fmt: skip
    ref = workload_from_torch(same, (1, 3, 16, 16))
    key = ("kind", "in_channels", "out_channels", "in_h", "in_w", "kernel_h", "kernel_w",
           "stride", "padding", "pad_w", "groups", "dilation", "macs")  # fmt: skip
    assert [[getattr(a, k) for k in key] for a in wl.layers] == [
        [getattr(b, k) for k in key] for b in ref.layers
    ]
    with pytest.raises(ConfigError, match="shape of its input is unknown"):
        load_workload(str(path))  # the batch dimension is symbolic
    _onnx_graph(path, [0, 3, 0, 2])
    with pytest.raises(ConfigError, match="'rect'.*differs between the two sides"):
        load_workload(str(path), "1,3,16,16")


def test_cli_prices_and_sweeps_user_workloads(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(get_network("resnet20").to_dict()))
    runner = CliRunner()
    got = runner.invoke(app, ["cost", "--network", str(path), "--json"])
    ref = runner.invoke(app, ["cost", "--network", "resnet20", "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["latency_cycles"] == json.loads(ref.output)["latency_cycles"]
    args = ["sweep", "--network", str(path), "--accel-space", "tiny", "--fps", "30"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "runs"), "--json"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(app, ["cost", "--model", "not a ref"])
    assert bad.exit_code == 2 and "package.module:factory" in bad.output
    bad = runner.invoke(app, ["cost", "--network", str(tmp_path / "nope.json")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_held_out_imagenet_networks_match_their_torch_definition_and_published_macs() -> None:
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    mods: list[nn.Module] = []
    c = 3
    for v in cfg:
        if v == "M":
            mods.append(nn.MaxPool2d(2))
        else:
            mods += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    torch_vgg = nn.Sequential(*mods, nn.Flatten(), nn.Linear(512 * 49, 4096), nn.ReLU(),
                              nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))  # fmt: skip
    ours = get_network("vgg16")
    ref = workload_from_torch(torch_vgg, (1, 3, 224, 224))
    assert [ly.macs for ly in ours.layers] == [ly.macs for ly in ref.layers]
    # MobileNetV2 1.0 at 224x224: 300 M multiply-adds (Sandler et al., Table 3)
    assert get_network("mobilenetv2").total_macs == pytest.approx(300e6, rel=0.01)
