"""The ``sequential`` baseline: the architecture first, without hardware cost, then the
bit-widths and the accelerator for the network it chose.

This is what a team without co-design tooling does: run NAS for accuracy, then fit the
winner to hardware. Same task, space, bounds and weight budget as the DANCE strategies: the
supernet's weights are trained for ``spec.steps`` with uniformly sampled paths (no
architecture logits). Then two searches share ``spec.trials`` evaluations:

1. Architecture: NNI's regularized evolution (through :mod:`coexplore.search.nni_adapter`,
   the only module that imports NNI) over every slot's operator, scored by validation
   accuracy on the inherited weights at the widest allowed bit-width. No hardware cost and
   no bound: that is the point of the baseline.
2. Bits for that network: the same NNI strategy over every (non-skipped) slot's bit-width;
   a sample that no accelerator of the space makes feasible under the bounds (analytical
   model, every accelerator) is refused, the others are scored by validation accuracy.

The best ``top_k`` feasible bit assignments are the winners; their accelerators come from
the same exhaustive sweep every strategy's winners get. If the chosen network meets the
bounds at no bit-width, the run ends with exit 1 and the closest design, like any other.
"""

from __future__ import annotations

import numpy as np

from coexplore.progress import ProgressFn, emit
from coexplore.search.cosearch import _Dance
from coexplore.search.nni_adapter import require_nni, search_choices
from coexplore.search.space import SKIP, operator_name
from coexplore.search.strategy import register_strategy
from coexplore.search.winners import Candidate, Winner, verify

__all__ = ["Sequential"]


@register_strategy
class Sequential(_Dance):
    """NAS first (NNI, accuracy only), then bits and accelerator; see the module."""

    name = "sequential"
    use_hdx = False
    updates_architecture = False
    NNI_STRATEGY = "evolution"

    def prepare(self, progress: ProgressFn | None) -> None:
        require_nni("the `sequential` strategy")  # before minutes of weight training
        super().prepare(progress)

    def _candidates(self, lp_ops: np.ndarray, lp_bits: np.ndarray) -> list[Candidate]:
        spec, sp = self.spec, self.space
        progress = self._progress
        allowed_bits = [int(i) for i in np.flatnonzero(self.bits_allowed)]
        widest = max(allowed_bits, key=lambda i: sp.bits[i])
        arch_budget = max(1, spec.trials // 2)
        bits_budget = max(1, spec.trials - arch_budget)

        # 1. the architecture, for accuracy alone
        op_index = {operator_name(o): o for o in range(sp.n_ops)}
        arch_choices = {
            f"op{s}": [operator_name(o) for o in range(sp.n_ops) if o != SKIP or slot.allows_skip]
            for s, slot in enumerate(sp.slots)
        }  # fmt: skip
        done = [0]

        def arch_accuracy(sample: dict[str, str]) -> float:
            ops = tuple(op_index[sample[f"op{s}"]] for s in range(sp.n_slots))
            bits = tuple(0 if o == SKIP else widest for o in ops)
            done[0] += 1
            emit(progress, "nas", done[0], arch_budget, "architecture (no hardware cost)")
            return self._accuracy(self.val, ops, bits, True)

        ranked = search_choices(arch_choices, arch_accuracy, arch_budget, spec.seed,
                                self.NNI_STRATEGY)  # fmt: skip
        best = ranked[0][0]
        ops = tuple(op_index[best[f"op{s}"]] for s in range(sp.n_slots))
        self.nas_choice = {"ops": ops, "val_accuracy": ranked[0][1], "tried": len(ranked)}

        # 2. the bit-widths (and so the accelerator) for that network, under the bounds
        live = [s for s in range(sp.n_slots) if ops[s] != SKIP]
        bit_choices = {f"bits{s}": allowed_bits for s in live}
        done[0] = 0

        def bits_of(sample: dict[str, int]) -> tuple[int, ...]:
            return tuple(int(sample[f"bits{s}"]) if s in live else 0 for s in range(sp.n_slots))

        def bits_accuracy(sample: dict[str, int]) -> float | None:
            bits = bits_of(sample)
            done[0] += 1
            emit(progress, "bits", done[0], bits_budget, "bit-widths for the chosen network")
            cand = Candidate(ops, bits, 0.0)
            hw = self.nets.generator.generate(np.array([cand.ops]), np.array([cand.bits]))[0]
            got = verify(sp, cand, hw, spec.constraints, spec.objective, 0, self.model)
            if not isinstance(got, Winner):
                return None  # no accelerator of the space meets the bounds
            return self._accuracy(self.val, ops, bits, True)

        if bit_choices:
            found = search_choices(bit_choices, bits_accuracy, bits_budget, spec.seed + 1,
                                   self.NNI_STRATEGY)  # fmt: skip
        else:  # every slot skipped: nothing to choose
            found = []
        cands = [Candidate(ops, bits_of(sample), 0.0) for sample, _ in found[: spec.top_k]]
        if not cands:  # the network fits at no bit-width: the widest, so the run ends with its miss
            cands = [Candidate(ops, tuple(0 if o == SKIP else widest for o in ops), 0.0)]
        return cands
