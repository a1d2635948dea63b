from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from coexplore.errors import ConfigError
from coexplore.quant import BitMap, build_model, fold_batchnorm, quantizable_layers
from coexplore.quant.bitmap import quantize_model
from coexplore.quant.kd import _inundation_multiplier
from coexplore.quant.quantizers import ActQuantizer, WeightQuantizer, fake_quantize_weight

from .conftest import randomise_bn


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weight_quantizer_uses_at_most_2_to_the_bits_levels_per_channel(bits, symmetric):
    w = torch.randn(8, 4, 3, 3)
    wq = WeightQuantizer(w, bits, symmetric)
    q = wq(w)
    for c in range(8):
        assert len(torch.unique(q[c])) <= 2**bits
    on_grid = q / wq.scale.detach()  # (code - zero point): integral on each channel's grid
    assert (on_grid - on_grid.round()).abs().max() < 1e-4
    if symmetric:
        assert wq.zero_point.abs().sum() == 0


@pytest.mark.parametrize("shape", [(16, 8, 1, 1), (24, 1, 7, 7)])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_fake_quantize_weight_is_the_weight_quantizer_without_the_module(shape, bits):
    torch.manual_seed(bits)
    w1 = torch.randn(shape, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_(True)
    module = WeightQuantizer(w1, bits, symmetric=True, search_clip=False)(w1)
    plain = fake_quantize_weight(w2, bits)
    g = torch.randn(shape)
    module.backward(g)
    plain.backward(g)
    assert torch.equal(module, plain)  # bit for bit: a supernet's results do not move
    assert torch.equal(w1.grad, w2.grad)
    assert not torch.equal(plain, w2)  # it did quantize


def test_weight_error_falls_as_bits_rise():
    w = torch.randn(16, 8, 3, 3)
    errs = [float((WeightQuantizer(w, b)(w) - w).detach().pow(2).mean()) for b in (2, 3, 4, 6, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False))
    assert errs[-1] < 1e-4


def test_adaround_starts_at_the_fraction_and_hardens_onto_the_grid():
    w = torch.randn(4, 3, 3, 3)
    wq = WeightQuantizer(w, 4)
    wq.enable_adaround(w)
    frac = w / wq.scale.detach() - (w / wq.scale.detach()).floor()
    assert torch.allclose(wq.soft_rounding(), frac, atol=1e-3)
    assert float(wq.rounding_loss(2.0).detach()) > 0
    wq.harden()
    q = wq(w)
    assert torch.allclose(q / wq.scale.detach(), (q / wq.scale.detach()).round(), atol=1e-4)
    assert float(wq.rounding_loss(2.0)) < 1e-3  # hard decisions have no regulariser left


def test_activation_quantizer_levels_and_qdrop():
    aq = ActQuantizer(3)
    x = torch.rand(4, 8, 6, 6) * 5
    assert torch.equal(aq(x), x)  # uncalibrated quantizers pass through
    aq.calibrate(x)
    assert len(torch.unique(aq(x))) <= 8
    aq.drop_prob = 1.0
    aq.train()
    assert torch.equal(aq(x), x)  # QDrop with p=1 keeps every element full precision


def test_fold_batchnorm_keeps_the_function_and_leaves_the_model_alone():
    for name in ("resnet20", "mobilenetv2"):
        model = randomise_bn(build_model(name))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(4, 3, 32, 32)
        folded = fold_batchnorm(model, x[:2])
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_protocols_fix_the_right_layers():
    model = build_model("resnet20")
    names = quantizable_layers(model)
    a = BitMap.uniform(model, 4, "A").bits
    b = BitMap.uniform(model, 4, "B").bits
    assert (a[names[0]].w_bits, a[names[-1]].w_bits, a[names[-1]].a_bits) == (4, 4, 4)
    assert a[names[0]].a_bits == 8  # the image input is 8-bit in both protocols
    assert (b[names[0]].w_bits, b[names[-1]].w_bits, b[names[-1]].a_bits) == (8, 8, 8)
    assert b[names[1]].a_bits == 8 and b[names[1]].w_bits == 4
    assert all(b[n] == a[n] for n in names[2:-1])
    assert BitMap.uniform(model, 4, "A").label() == "W4A4"


def test_bits_map_from_json_and_its_errors(tmp_path: Path):
    model = build_model("resnet20")
    p = tmp_path / "bits.json"
    p.write_text(json.dumps({"layer1.0.conv1": 8, "layer3.2.conv2": [6, 4]}))
    bm = BitMap.from_json(p, model, default_bits=4)
    assert bm.bits["layer1.0.conv1"].w_bits == 8 and bm.bits["layer3.2.conv2"].w_bits == 6
    assert bm.bits["layer2.0.conv1"].w_bits == 4 and bm.label() == "mixed"
    p.write_text(json.dumps({"layer9.conv": 4}))
    with pytest.raises(ConfigError, match="does not have.*layer9.conv.*quantizable layers"):
        BitMap.from_json(p, model, 4)
    p.write_text(json.dumps({"linear": 9}))
    with pytest.raises(ConfigError, match="from 2 to 8"):
        BitMap.from_json(p, model, 4)
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BitMap.from_json(p, model, 4)
    with pytest.raises(ConfigError, match="from 2 to 8"):
        BitMap.uniform(model, 1)


def test_quantize_model_returns_a_copy_with_the_bits():
    model = build_model("resnet20")
    q = quantize_model(model, BitMap.uniform(model, 3))
    assert isinstance(model.conv1, torch.nn.Conv2d)  # the original is untouched
    assert q.layer2[0].conv1.w_bits == 3 and q.linear.a_bits == 3


def test_inundation_moves_at_least_the_target_fraction_across_bins():
    w = torch.randn(64, 32)
    scale = torch.full((64, 1), 0.1)
    w = (w / scale).round() * scale  # on the grid: tiny steps flip nothing
    step = torch.randn(64, 32) * 1e-5
    m = _inundation_multiplier(w, step, scale, 1e-2)
    moved = ((w - m * step) / scale).round() != (w / scale).round()
    assert m > 1 and float(moved.float().mean()) >= 1e-2
