from __future__ import annotations

from pathlib import Path

import torch

from coexplore.quant.bench import (
    ZSQBudget,
    _ablation_table,
    ablation_methods,
    render_zsq_markdown,
    run_zsq_bench,
    summarise_ablation,
)
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


def _row(method: str, seed: int, lossless: float, jpeg: float) -> dict:
    return {
        "label": method,
        "method": method,
        "seed": seed,
        "drop": {"lossless": lossless, "jpeg10k": jpeg},
        "top1": {"lossless": 90 - lossless, "jpeg10k": 80 - jpeg},
        "config_seconds": 1.0,
    }


def test_ablation_summary_ranks_on_the_mean_and_pairs_by_seed():
    rows = [
        _row("a", 0, 5.0, 4.0), _row("a", 1, 5.0, 6.0), _row("a", 2, 5.0, 5.0),
        # b is better on average, each seed by exactly 0.5: a separable gap
        _row("b", 0, 6.0, 3.5), _row("b", 1, 6.0, 5.5), _row("b", 2, 6.0, 4.5),
        # c's mean equals a's, but its seeds scatter around b's: not separable
        _row("c", 0, 4.0, 2.0), _row("c", 1, 4.0, 8.0), _row("c", 2, 4.0, 5.0),
    ]  # fmt: skip
    s = summarise_ablation(rows)
    assert s["metric"] == "jpeg10k" and s["best"] == "b"  # lossless would pick c
    by = {r["method"]: r for r in s["recipes"]}
    assert by["a"]["drop"]["jpeg10k"]["mean"] == 5.0
    assert by["a"]["drop"]["jpeg10k"]["sd"] == 1.0
    assert by["a"]["vs_best"]["values"] == [0.5, 0.5, 0.5] and by["a"]["vs_best"]["separable"]
    assert not by["c"]["vs_best"]["separable"]
    res = {"ablation_bits": 3, "ablation": rows, "ablation_summary": s, "seeds": [0, 1, 2]}
    text = "\n".join(_ablation_table(res, jp=True))
    assert "Best measured recipe in this run: `b`" in text
    assert "5.00 ± 1.00" in text and "4.00 / 6.00 / 5.00" in text
    assert "two standard errors): `c`." in text


def test_ablation_summary_without_the_jpeg_set_ranks_on_lossless():
    rows = [_row("a", 0, 5.0, 1.0), _row("b", 0, 4.0, 2.0)]
    for r in rows:
        del r["drop"]["jpeg10k"]
    assert summarise_ablation(rows)["best"] == "b"


def test_default_method_is_the_best_in_the_committed_ablation():
    import json

    from coexplore.quant.pipeline import DEFAULT_METHOD, METHODS

    path = Path(__file__).resolve().parents[2] / "results" / "zsq_ablation.json"
    res = json.loads(path.read_text())
    best = summarise_ablation(res["ablation"])["best"]
    assert best in METHODS.names(), f"the ablation's best {best!r} is not a registered method"
    assert DEFAULT_METHOD == best


def test_targets_are_judged_on_the_10k_set_with_the_lossless_verdict_beside():
    from coexplore.quant.bench import _targets_table

    def row(bits: str, lossless: float, jpeg: float) -> dict:
        drop = {"lossless": lossless, "jpeg10k": jpeg}
        return {"label": bits, "bits": bits, "protocol": "A", "config_seconds": 1.0,
                "top1": {"lossless": 90.0}, "drop": drop}  # fmt: skip

    res = {"rows": [row("W8A8", 0.49, -0.04), row("W4A4", 1.0, 2.0)],
           "synthetic_seconds": {"k": 10.0}, "peak_memory_mb": 1.0}  # fmt: skip
    text = "\n".join(_targets_table(res, {}, jp=True))
    assert "| met (lossless: **missed**) |" in text
    assert "| **missed** (lossless: met) |" in text
