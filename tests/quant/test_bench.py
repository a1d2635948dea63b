from __future__ import annotations

from pathlib import Path

import torch
from coexplore.quant.bench import ZSQBudget, ablation_methods, render_zsq_markdown, run_zsq_bench
from coexplore.quant.pipeline import get_method


def test_ablation_rows_each_change_what_they_name():
    rows = dict(ablation_methods())
    base = get_method("recon")
    assert rows["reconstruction, no low-pass filter"].synthetic.lpf_cutoff is None
    assert base.synthetic.lpf_cutoff is not None
    assert rows["reconstruction, no boundary samples"].synthetic.boundary_fraction == 0
    assert rows["reconstruction, no QDrop"].recon.qdrop_prob == 0 < base.recon.qdrop_prob
    assert rows["calibration only (no reconstruction)"].recon is None
    assert rows["recon + KL-only KD"].kd.inundation is None
    assert rows["recon + KL-only KD + gradient inundation (AIT)"].kd.inundation > 0
    cam = rows["recon + KL-only KD + Grad-CAM alignment"].kd
    assert cam.gradcam_weight > 0 and cam.inundation is None and not cam.soft_labels
    soft = rows["recon + KL-only KD + difficulty-aware soft labels"].kd
    assert soft.soft_labels and soft.gradcam_weight == 0
    assert len({m.name for m in rows.values()}) == len(rows)  # cache keys differ per recipe


def test_budget_applies_to_every_part():
    m = ZSQBudget(images=7, synthetic_steps=3, recon_iters=5, kd_steps=2).apply(
        get_method("recon-kd")
    )
    assert (m.synthetic.n_images, m.synthetic.steps, m.recon.iters, m.kd.steps) == (7, 3, 5, 2)


def test_bench_runs_and_renders_on_the_shared_data(shared_data: Path, tmp_path: Path):
    # the lossless subset only: scoring every row on the 10k JPEG set is the bench's job
    (tmp_path / "cifar10_test_first1017.npz").symlink_to(shared_data / "cifar10_test_first1017.npz")
    res = run_zsq_bench(
        shared_data / "weights" / "akamaster_resnet20-12fca82f.th",
        tmp_path,
        torch.device("cpu"),
        ZSQBudget(images=16, synthetic_steps=2, recon_iters=2, kd_steps=2),
        ablation=False,
    )
    assert [r["bits"] for r in res["rows"]] == ["W8A8", "W4A4", "W3A3", "W4A4", "mixed"]
    assert res["rows"][3]["protocol"] == "B"
    assert sum(r["w_bits"] == 8 for r in res["rows"][4]["layers"]) >= 4
    text = render_zsq_markdown(res, "search bench zsq (test)")
    assert "| W4A4 |" in text and "SynQ 92.76" in text and "Mixed precision" in text
