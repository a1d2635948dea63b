from __future__ import annotations

import pytest

from coexplore import ConfigError, UnknownComponentError
from coexplore.accel_model import Layer, Workload, get_network, workload_from_torch


@pytest.mark.parametrize(
    ("name", "layers", "mmac"),
    [
        ("resnet20", 20, 40.55),
        ("resnet56", 56, 125.49),
        ("alexnet-conv", 5, 665.78),
        ("resnet18", 21, 1814.07),
        ("mobilenetv2-cifar", 53, 87.98),
    ],
)
def test_builtin_networks_have_known_sizes(name: str, layers: int, mmac: float) -> None:
    wl = get_network(name)
    assert len(wl) == layers
    assert wl.total_macs / 1e6 == pytest.approx(mmac, abs=0.01)


def test_resnet20_shapes() -> None:
    wl = get_network("resnet20")
    first, down, last = wl.layers[0], wl.layers[7], wl.layers[-1]
    assert (first.out_h, first.macs) == (32, 3 * 16 * 9 * 32 * 32)
    assert (down.name, down.stride, down.out_h, down.out_channels) == ("layer2.0.conv1", 2, 16, 32)
    assert (last.kind, last.macs) == ("linear", 640)


def test_batch_and_bits() -> None:
    wl = get_network("resnet20", batch=4).with_bits(4, 8)
    assert wl.total_macs == 4 * get_network("resnet20").total_macs
    assert {(ly.w_bits, ly.a_bits) for ly in wl.layers} == {(4, 8)}
    with pytest.raises(ConfigError, match="20 layers"):
        wl.with_bits([4, 8])


def test_bad_layers_are_refused_with_the_rule() -> None:
    with pytest.raises(ConfigError, match="groups"):
        Layer("x", "conv", 6, 8, 8, 8, 3, 3, groups=4)
    with pytest.raises(ConfigError, match="depthwise"):
        Layer("x", "depthwise", 8, 16, 8, 8, 3, 3, groups=8)
    with pytest.raises(ConfigError, match="w_bits"):
        Layer("x", "conv", 8, 8, 8, 8, 3, 3, w_bits=1)
    with pytest.raises(ConfigError, match="does not fit"):
        Layer("x", "conv", 8, 8, 2, 2, 5, 5)
    with pytest.raises(UnknownComponentError, match="resnet20"):
        get_network("resnet21")


def test_workload_round_trips() -> None:
    wl = get_network("mobilenetv2-cifar")
    assert Workload.from_dict(wl.to_dict()) == wl


def test_torch_bridge_matches_the_builtin() -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),
        nn.Conv2d(16, 32, 1, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    wl = workload_from_torch(net, (2, 3, 32, 32), w_bits=4)
    assert [ly.kind for ly in wl.layers] == ["conv", "depthwise", "pointwise", "linear"]
    assert [ly.name for ly in wl.layers] == ["0", "2", "3", "6"]
    assert wl.layers[2].out_h == 16 and wl.batch == 2 and wl.layers[0].w_bits == 4
    assert wl.total_macs == 2 * (3 * 16 * 9 * 1024 + 16 * 9 * 1024 + 16 * 32 * 256 + 320)
    with pytest.raises(ConfigError, match="does not fit"):
        workload_from_torch(net, (1, 5, 32, 32))
    assert torch is not None
