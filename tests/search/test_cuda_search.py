"""The co-search, its hand-off and the data-free co-search on a CUDA device (marker ``gpu``;
skipped where there is none). Run with ``pytest -m gpu tests/search``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from coexplore.search import Constraints, CoSearchSpec, run
from coexplore.search.specs import DataFreeSpec

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.usefixtures("small_cost_nets")
def test_cosearch_and_hand_off_on_cuda() -> None:
    spec = CoSearchSpec(space="tiny", steps=24, warmup_steps=8, finetune_steps=4, top_k=2,
                        batch_size=16, constraints=Constraints(fps_min=100), device="cuda",
                        quant_images=16, quant_synthetic_steps=3, quant_iters=3)  # fmt: skip
    r = run(spec).result
    assert r.winners and all(w.verified["fps"] >= 100 for w in r.winners)
    assert r.handoff[0]["test_accuracy_fp"] == pytest.approx(r.test_accuracy_fp)


def test_data_free_on_cuda(shared_data: Path, tmp_path: Path) -> None:
    spec = DataFreeSpec(model="resnet20",
                        weights=str(shared_data / "weights/akamaster_resnet20-12fca82f.th"),
                        eval_data=str(shared_data / "cifar10_test_first1017.npz"),
                        accel_space="tiny", constraints=Constraints(fps_min=600), steps=20,
                        images=16, synthetic_steps=3, recon_iters=3, device="cuda",
                        cache_dir=str(tmp_path))  # fmt: skip
    r = run(spec).result
    first = r.designs[0]
    assert first["feasible"] and first["verified"]["fps"] >= 600 and "test_zsq" in first
