"""The ``sequential`` baseline (NAS first through NNI, then bits and accelerator) and its
NNI adapter. NNI is an optional extra: without it the strategy refuses to start, naming
the extra, and the NNI-backed tests skip."""

from __future__ import annotations

import numpy as np
import pytest

from coexplore import ConfigError
from coexplore.search import Constraints, run
from coexplore.search.nni_adapter import nni_available, search_choices
from coexplore.search.specs import CoSearchSpec

needs_nni = pytest.mark.skipif(not nni_available(), reason="nni extra not installed "
                               "(pip install -e '.[nni]')")  # fmt: skip


def test_without_nni_the_strategy_says_how_to_install_it(monkeypatch) -> None:
    import coexplore.search.nni_adapter as adapter

    monkeypatch.setattr(adapter, "nni_available", lambda: False)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[nni\]'"):
        run(CoSearchSpec(strategy="sequential", space="tiny", steps=4, warmup_steps=1))


@needs_nni
def test_adapter_runs_an_nni_strategy_in_process_and_reproducibly() -> None:
    choices = {f"s{i}": [0, 1, 2, 3] for i in range(4)}
    seen: list[dict] = []

    def score(sample: dict) -> float | None:
        seen.append(sample)
        return None if sample["s0"] == 0 else float(sum(sample.values()))

    first = search_choices(choices, score, 30, seed=3)
    assert 0 < len(first) <= len(seen) <= 30
    assert all(s["s0"] != 0 for s, _ in first)  # refused samples are left out
    assert [v for _, v in first] == sorted((v for _, v in first), reverse=True)
    again = search_choices(choices, score, 30, seed=3)
    assert [s for s, _ in again] == [s for s, _ in first]  # same seed, same samples
    with pytest.raises(ConfigError, match="one of evolution"):
        search_choices(choices, score, 5, strategy="darts")


@needs_nni
def test_sequential_honours_the_bounds_on_the_ground_truth(small_cost_nets) -> None:
    spec = CoSearchSpec(strategy="sequential", space="tiny", steps=6, warmup_steps=2,
                        trials=8, top_k=2, finetune_steps=0, quantize=False,
                        constraints=Constraints(fps_min=30), seed=0)  # fmt: skip
    res = run(spec).result
    assert res.winners
    for w in res.winners:
        assert w.verified["fps"] >= 30  # the analytical model's figure, not a prediction
    assert len({w.ops for w in res.winners}) == 1  # one network (NAS first); bits differ
    assert np.isfinite(res.val_accuracy[0])
