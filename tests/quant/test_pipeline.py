from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from coexplore.errors import ConfigError
from coexplore.quant import (
    BitMap,
    build_model,
    get_method,
    load_model,
    load_test_set,
    quantize,
    top1,
)
from coexplore.quant.data import read_cifar_python_batch
from coexplore.quant.export import export_quantized, load_quantized
from coexplore.quant.models import IMAGENET_MEAN, IMAGENET_STD, load_state_dict_file
from coexplore.quant.synthetic import (
    SyntheticConfig,
    load_or_make_synthetic,
    low_pass,
    make_synthetic,
)

from .conftest import TINY, randomise_bn


def test_low_pass_filters_high_frequencies_at_cifar_size():
    x = torch.randn(2, 3, 32, 32)
    spec = lambda t: torch.fft.fftshift(torch.fft.fft2(t), dim=(-2, -1)).abs()  # noqa: E731
    high = lambda t: float(spec(t)[..., :4, :].pow(2).sum())  # noqa: E731 - far rows
    assert high(low_pass(x, 8.0)) < 0.05 * high(x)  # D0 = 8 removes the high band
    assert torch.allclose(low_pass(x, 1e3), x, atol=1e-3)  # a huge cutoff does not filter


def test_synthetic_set_is_cached_per_teacher_and_config(tmp_path: Path):
    teacher = randomise_bn(build_model("resnet20"))
    cfg = SyntheticConfig(n_images=8, batch_size=8, steps=2, boundary_fraction=0.5)
    a = load_or_make_synthetic(teacher, cfg, cache_dir=tmp_path)
    assert not a.from_cache and a.images.shape == (8, 3, 32, 32)
    assert torch.allclose(a.soft_labels.sum(1), torch.ones(8))
    assert int((a.soft_labels.max(1).values < 1).sum()) == 4  # boundary samples: soft labels
    b = load_or_make_synthetic(teacher, cfg, cache_dir=tmp_path)
    assert b.from_cache and torch.equal(a.images, b.images)
    c = load_or_make_synthetic(teacher, SyntheticConfig(**{**cfg.to_dict(), "seed": 1}),
                               cache_dir=tmp_path)  # fmt: skip
    assert not c.from_cache
    other = randomise_bn(build_model("resnet20"), seed=5)
    assert not load_or_make_synthetic(other, cfg, cache_dir=tmp_path).from_cache


def test_bn_matching_lowers_the_bn_loss(shared_data: Path):
    weights = shared_data / "weights" / "akamaster_resnet20-12fca82f.th"
    teacher = load_model("resnet20", weights)
    from coexplore.quant.synthetic import _BNStats

    stats = _BNStats(teacher)
    try:
        noise = torch.randn(16, 3, 32, 32)
        with torch.no_grad():
            teacher(noise)
        start = float(stats.pop())
        cfg = SyntheticConfig(n_images=16, batch_size=16, steps=30, ce_weight=0.0)
        x = make_synthetic(teacher, cfg).images
        stats.pop()  # drop what the optimisation steps recorded
        teacher(x)
        assert float(stats.pop()) < 0.3 * start  # 447 -> 55 when this was written
    finally:
        stats.remove()


def test_genie_maker_runs():
    teacher = randomise_bn(build_model("resnet20"))
    s = make_synthetic(teacher, SyntheticConfig(method="genie", n_images=8, batch_size=8,
                                                steps=2))  # fmt: skip
    assert s.images.shape == (8, 3, 32, 32) and torch.isfinite(s.images).all()


def test_model_without_batchnorm_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="no BatchNorm"):
        quantize(model, BitMap.uniform(model, 4), get_method("calib", **TINY))


def test_quantize_leaves_the_user_model_unchanged_and_exports_round_trip(tmp_path: Path):
    model = randomise_bn(build_model("resnet20"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    method = get_method("recon", recon__iters=2, **TINY)
    res = quantize(model, BitMap.uniform(model, 4), method, cache_dir=tmp_path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(res.recon_report) == 11  # stem, 9 blocks, classifier
    path = export_quantized(res.model, tmp_path / "q.pt", "resnet20", 10, res.bitmap)
    loaded, meta = load_quantized(path)
    assert meta["bits"]["layer1.0.conv1"] == [4, 4]
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), res.model(x), rtol=1e-4, atol=1e-4)
    blob = torch.load(path, weights_only=True)
    assert blob["layer1.0.conv1.codes"].dtype == torch.uint8
    assert int(blob["layer1.0.conv1.codes"].max()) <= 15


def test_kd_step_runs_and_flips_bins(tmp_path: Path):
    model = randomise_bn(build_model("resnet20"))
    method = get_method("kd", kd__steps=3, kd__batch_size=8, kd__gradcam_weight=10.0,
                        kd__soft_labels=True, **TINY)  # fmt: skip
    res = quantize(model, BitMap.uniform(model, 4), method, cache_dir=tmp_path)
    assert res.kd_report["mean_bin_flip_fraction"] >= 1e-3  # inundation at 0.1 %


def test_state_dict_loading_and_errors(tmp_path: Path):
    model = build_model("resnet20")
    p = tmp_path / "w.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, p)
    assert isinstance(load_model("resnet20", p), nn.Module)
    with pytest.raises(ConfigError, match="do not fit model 'resnet32'"):
        load_model("resnet32", p)
    torch.save([1, 2, 3], tmp_path / "list.th")
    with pytest.raises(ConfigError, match="holds no state dict"):
        load_state_dict_file(tmp_path / "list.th")
    (tmp_path / "junk.th").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a loadable torch checkpoint"):
        load_state_dict_file(tmp_path / "junk.th")


def test_test_set_readers(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(5)
    np.savez(tmp_path / "t.npz", images=images, labels=labels)
    ts = load_test_set(tmp_path / "t.npz")
    assert ts.images.shape == (5, 32, 32, 3) and list(ts.labels) == list(range(5))
    np.savez(tmp_path / "bad.npz", images=images.transpose(0, 3, 1, 2), labels=labels)
    with pytest.raises(ConfigError, match=r"expected \(N, 32, 32, 3\)"):
        load_test_set(tmp_path / "bad.npz")
    # the CIFAR "python version" format: a pickled dict with bytes keys
    raw = {b"data": images.transpose(0, 3, 1, 2).reshape(5, -1), b"labels": labels.tolist()}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(raw, protocol=2))
    got = load_test_set(tmp_path)
    assert np.array_equal(got.images, images) and list(got.labels) == list(range(5))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(ConfigError, match="not a readable CIFAR python batch"):
        read_cifar_python_batch(tmp_path / "evil")


# -- on the real files in ../shared/data -------------------------------------------------------
def test_pretrained_resnet20_scores_its_published_accuracy(shared_data: Path):
    model = load_model("resnet20", shared_data / "weights" / "akamaster_resnet20-12fca82f.th")
    ts = load_test_set(shared_data / "cifar10_test_first1017.npz")
    x, y = ts.tensors(IMAGENET_MEAN, IMAGENET_STD)
    assert top1(model, x, y, torch.device("cpu")) == pytest.approx(100 * 932 / 1017)


def test_w8a8_keeps_accuracy_and_w2a2_does_not(shared_data: Path, tmp_path: Path):
    model = load_model("resnet20", shared_data / "weights" / "akamaster_resnet20-12fca82f.th")
    ts = load_test_set(shared_data / "cifar10_test_first1017.npz")
    x, y = ts.tensors(IMAGENET_MEAN, IMAGENET_STD)
    x, y = x[:500], y[:500]
    fp = top1(model, x, y, torch.device("cpu"))
    method = get_method("calib", synthetic__n_images=64, synthetic__batch_size=64,
                        synthetic__steps=10)  # fmt: skip
    w8 = quantize(model, BitMap.uniform(model, 8), method, cache_dir=tmp_path)
    w2 = quantize(model, BitMap.uniform(model, 2), method, cache_dir=tmp_path)
    assert w8.synthetic.from_cache is False and w2.synthetic.from_cache is True
    assert abs(fp - top1(w8.model, x, y, torch.device("cpu"))) < 1.0
    assert top1(w2.model, x, y, torch.device("cpu")) < fp - 20  # 2 bits, no training: broken
