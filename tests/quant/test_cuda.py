"""The quantization core on a CUDA device (marker ``gpu``; skipped where there is none).

Run with ``pytest -m gpu tests/quant``. CI has no GPU, so these run only where one is lent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from coexplore.quant import (
    BitMap,
    build_model,
    get_method,
    load_model,
    load_test_set,
    quantize,
    top1,
)
from coexplore.quant.export import export_quantized, load_quantized
from coexplore.quant.models import IMAGENET_MEAN, IMAGENET_STD

from .conftest import TINY, randomise_bn

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")


def test_every_phase_runs_on_cuda_and_the_export_loads_on_cpu(tmp_path: Path):
    model = randomise_bn(build_model("resnet20"))
    method = get_method("recon-kd", recon__iters=3, kd__steps=3, kd__batch_size=8, **TINY)
    res = quantize(model, BitMap.uniform(model, 4), method, CUDA, cache_dir=tmp_path)
    assert all(p.device.type == "cuda" for p in res.model.parameters())
    assert len(res.recon_report) == 11 and res.kd_report["first_loss"] is not None
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        on_gpu = res.model(x.to(CUDA)).cpu()
    path = export_quantized(res.model, tmp_path / "q.pt", "resnet20", 10, res.bitmap)
    loaded, _ = load_quantized(path)  # on the CPU
    with torch.no_grad():
        on_cpu = loaded(x)
        again_on_gpu = loaded.to(CUDA)(x.to(CUDA)).cpu()
    # Same device: the export round-trips exactly.
    torch.testing.assert_close(again_on_gpu, on_gpu, rtol=1e-5, atol=1e-5)
    # CPU against GPU: the GPU's convolutions round differently (TF32), which moves a few
    # activations across a 4-bit rounding boundary, so logits agree only on the whole.
    assert (on_cpu - on_gpu).abs().mean() < 0.02 * on_cpu.std()


def test_w8a8_on_cuda_keeps_accuracy_and_w2a2_does_not(shared_data: Path, tmp_path: Path):
    model = load_model("resnet20", shared_data / "weights" / "akamaster_resnet20-12fca82f.th")
    x, y = load_test_set(shared_data / "cifar10_test_first1017.npz").tensors(
        IMAGENET_MEAN, IMAGENET_STD
    )
    fp_cpu = top1(model, x, y, torch.device("cpu"))
    assert top1(model.to(CUDA), x, y, CUDA) == pytest.approx(fp_cpu)
    method = get_method("calib", synthetic__n_images=64, synthetic__batch_size=64,
                        synthetic__steps=10)  # fmt: skip
    w8 = quantize(model, BitMap.uniform(model, 8), method, CUDA, cache_dir=tmp_path)
    w2 = quantize(model, BitMap.uniform(model, 2), method, CUDA, cache_dir=tmp_path)
    assert abs(fp_cpu - top1(w8.model, x, y, CUDA)) < 1.0
    assert top1(w2.model, x, y, CUDA) < fp_cpu - 20
