"""The co-search: DANCE (a differentiable cost through the frozen generator and evaluator)
with HDX hard constraints (``dance-hdx``) or a soft penalty (``dance-soft``).

Call order (see :class:`~coexplore.search.strategy.SearchStrategy`):

* ``prepare`` loads the task and the space, and the evaluator/generator (trained and cached
  on first use of the space);
* ``search`` alternates, for ``spec.steps`` steps: a weight step of the supernet on a train
  batch (a sub-network sampled from the current logits), then, after ``warmup_steps``, an
  architecture step on a val batch (first-order): CE through the sampled path's
  straight-through weights plus ``cost_weight`` x the predicted log objective (EDP by
  default) of the relaxed design; HDX replaces the logits' gradient while a bound is
  predicted violated (``dance-soft`` adds ``cost_weight`` x the log-space violation instead).
  Every architecture step is logged (each bound's predicted value, delta, manipulated);
* ``finalize`` takes the top-k distinct designs of the final logits, verifies each on the
  analytical model over every accelerator of the space under the same bounds (the
  generator's pick is priced too, and shown beside the refined one), drops any that no
  accelerator makes feasible, fine-tunes the first winner's inherited weights and measures
  its test accuracy in floating point and fake-quantized at its searched bits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import ConfigError, InfeasibleDesignError
from coexplore.progress import ProgressFn, emit
from coexplore.quant.evaluate import resolve_device
from coexplore.runs import RunResult
from coexplore.search._determinism import SEARCH_THREADS, fixed_threads
from coexplore.search.dance import arch_probs, cost_nets, relaxed_metrics, skip_mask
from coexplore.search.hdx import HDX, HDXConfig
from coexplore.search.space import SKIP, get_space
from coexplore.search.specs import CoSearchSpec, cost_model
from coexplore.search.strategy import SearchStrategy, register_strategy
from coexplore.search.supernet import Supernet
from coexplore.search.tasks import load_task
from coexplore.search.winners import Candidate, Winner, top_k, verify

__all__ = ["DanceHDX", "DanceSoft", "DanceAdaptive", "RandomSearch", "CoSearchResult"]

_MEAN, _STD = 0.5, 0.25  # images scaled to [0, 1], then normalised per pixel
BN_BATCHES = 10  # train batches that re-estimate a sub-network's BN statistics


@dataclasses.dataclass
class CoSearchResult:
    """What a co-search found, verified."""

    strategy: str
    task: str
    task_source: str
    space: str
    constraints: str
    winners: list[Winner]
    dropped: list[dict[str, Any]]
    raw_argmax_feasible: bool  # the argmax design on the generator's accelerator, verified
    predicted_final: dict[str, float]  # the evaluator's view of the final relaxed design
    val_accuracy: list[float]  # per winner, supernet weights, fake-quantized
    test_accuracy_fp: float
    test_accuracy_quant: float
    finetune_steps: int
    manipulated_steps: int
    arch_steps: int
    evaluator_cached: bool
    steps_done: int
    # per winner: test accuracy FP, fake-quantized with data, zero-shot quantized (--quantize)
    handoff: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    skipped_steps: int = 0  # weight steps skipped for a non-finite loss or gradient
    study: dict[str, Any] | None = None  # optuna-nsga2: storage URL, study name, how to open it

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["winners"] = [w.to_dict() for w in self.winners]
        return out


def _tensors(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[Any, Any]:
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, 32, 32)
    return ((t - _MEAN) / _STD).to(device), torch.from_numpy(y).long().to(device)


class _Dance(SearchStrategy):
    spec_type = CoSearchSpec
    use_hdx = True
    updates_architecture = True

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        """The whole co-search on a fixed CPU thread count, so a seed gives the same design
        on any machine (see ``SEARCH_THREADS``). Its kernels are deterministic for a thread
        count without ``use_deterministic_algorithms`` (a test runs a seed twice)."""
        with fixed_threads(SEARCH_THREADS):
            return super().run(progress)

    def prepare(self, progress: ProgressFn | None) -> None:
        spec: CoSearchSpec = self.spec
        self.t0 = time.perf_counter()
        self.space = get_space(spec.space)
        emit(progress, "data", 0, 1, f"loading task {spec.task}")
        self.task = load_task(spec.task, spec.data, spec.seed)
        emit(progress, "data", 1, 1, f"{spec.task}: {self.task.sizes()}")
        self.device = resolve_device(spec.device)
        allowed = spec.bits or self.space.bits
        if not set(allowed) <= set(self.space.bits):
            raise ConfigError(f"`bits` {list(allowed)} must be chosen from the space's "
                              f"{list(self.space.bits)}.")  # fmt: skip
        self.bits_allowed = np.array([b in allowed for b in self.space.bits])
        # an additive mask on the bit logits (as skip_mask for the operators)
        self.bit_mask = torch.tensor(np.where(self.bits_allowed, 0.0, -1e9),
                                     dtype=torch.float32, device=self.device)  # fmt: skip
        self.model = cost_model(spec)
        self.nets = cost_nets(
            self.space, spec.constraints, spec.objective, progress, model=self.model
        )
        self.nets.to(self.device)
        dev = self.device
        self.train = _tensors(self.task.x_train, self.task.y_train, dev)
        self.val = _tensors(self.task.x_val, self.task.y_val, dev)
        self.test = _tensors(self.task.x_test, self.task.y_test, dev)

    # -- the search ------------------------------------------------------------------------
    def search(self, progress: ProgressFn | None) -> None:
        spec: CoSearchSpec = self.spec
        sp, dev = self.space, self.device
        self._progress = progress  # finalize reports the hand-off's phases too
        torch.manual_seed(spec.seed)
        gen = torch.Generator().manual_seed(spec.seed)
        self.net = Supernet(sp, self.task.num_classes).to(dev)
        self.alpha = torch.zeros(sp.n_slots, sp.n_ops, device=dev, requires_grad=True)
        self.beta = torch.zeros(sp.n_slots, len(sp.bits), device=dev, requires_grad=True)
        mask = skip_mask(sp, dev)
        w_opt = torch.optim.SGD(self.net.weight_parameters(), lr=spec.weight_lr, momentum=0.9,
                                nesterov=True, weight_decay=4e-5)  # fmt: skip
        a_opt = torch.optim.SGD([self.alpha, self.beta], lr=spec.arch_lr)
        hdx = HDX(spec.constraints, HDXConfig(delta0=0.01, growth=1.1, margin=spec.margin))
        self.trajectory: list[dict[str, Any]] = []
        self.manipulated = 0
        self.skipped_steps = 0
        step = 0
        for step in range(1, spec.steps + 1):
            if spec.max_seconds and time.perf_counter() - self.t0 > spec.max_seconds:
                step -= 1
                break
            for g in w_opt.param_groups:  # cosine over the step budget
                g["lr"] = spec.weight_lr * 0.5 * (1 + math.cos(math.pi * step / spec.steps))
            ops, bits, _, _ = self._sample(mask, gen, straight_through=False)
            x, y = self._batch(self.train, gen)
            self.net.train()
            loss = F.cross_entropy(self.net(x, ops, bits), y)
            row: dict[str, Any] = {"step": step, "train_ce": float(loss.detach()),
                                   "grad_norm": self._weight_step(w_opt, loss)}  # fmt: skip
            if step > spec.warmup_steps and self.updates_architecture:
                row.update(self._arch_step(mask, gen, hdx, a_opt))
            if row.get("manipulated"):
                self.manipulated += 1
            self.trajectory.append(row)
            metrics = {k: v for k, v in row.items() if isinstance(v, float)}
            emit(progress, "search", step, spec.steps, "architecture" if "val_ce" in row
                 else "warm-up", **metrics)  # fmt: skip
        self.steps_done = step

    def _weight_step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
        """One update of the supernet weights with the gradient norm clipped to
        ``grad_clip``; a step whose loss or gradient is not finite is skipped (and counted in
        ``skipped_steps``) rather than poisoning the shared weights. Returns the norm before
        clipping."""
        opt.zero_grad()
        loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        clip = self.spec.grad_clip or float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        if not (math.isfinite(norm) and math.isfinite(float(loss.detach()))):
            opt.zero_grad()
            self.skipped_steps += 1
            return norm
        opt.step()
        return norm

    def _sample(
        self, mask: torch.Tensor, gen: torch.Generator, straight_through: bool
    ) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None, torch.Tensor | None]:
        """One operator and one bit-width per slot (Gumbel-max on the current logits); with
        ``straight_through``, their weights (value 1, gradient to the logits, as GDAS)."""
        tau = 1.0
        out = []
        for logits in (self.alpha + mask, self.beta + self.bit_mask):
            u = torch.rand(logits.shape, generator=gen).to(logits.device)
            g = -torch.log(-torch.log(u.clamp(1e-9, 1 - 1e-9)))
            z = logits + g
            idx = z.argmax(dim=1)
            if straight_through:
                soft = F.softmax(z / tau, dim=1)
                hard = F.one_hot(idx, logits.shape[1]).to(soft.dtype)
                w = (hard - soft.detach() + soft).gather(1, idx[:, None])[:, 0]  # (S,)
            else:
                w = None
            out.append((idx.cpu().numpy(), w))
        (ops, w_ops), (bits, w_bits) = out
        return ops, bits, w_ops, w_bits

    def _batch(self, data: tuple[Any, Any], gen: torch.Generator) -> tuple[Any, Any]:
        x, y = data
        i = torch.randint(0, len(y), (min(self.spec.batch_size, len(y)),), generator=gen)
        i = i.to(x.device)
        return x[i], y[i]

    def _arch_step(
        self, mask: torch.Tensor, gen: torch.Generator, hdx: HDX, a_opt: torch.optim.Optimizer
    ) -> dict[str, Any]:
        spec: CoSearchSpec = self.spec
        ops, bits, w_ops, w_bits = self._sample(mask, gen, straight_through=True)
        x, y = self._batch(self.val, gen)
        self.net.eval()  # BN statistics of the weights' own batches, not the val batch
        ce = F.cross_entropy(self.net(x, ops, bits, w_ops, w_bits), y)
        p_ops, p_bits = arch_probs(self.space, self.alpha, self.beta + self.bit_mask)
        metrics, log_obj, _ = relaxed_metrics(self.nets, p_ops, p_bits, spec.objective)
        objective = ce + spec.cost_weight * log_obj
        row: dict[str, Any] = {
            "val_ce": float(ce.detach()),
            "log_objective": float(log_obj.detach()),
        }
        for b in spec.constraints.bounds:
            row[f"pred_{b.metric}"] = float(metrics[b.metric].detach())
        if self.use_hdx and spec.constraints:
            rec = hdx.step([self.alpha, self.beta], objective, metrics)
            row["manipulated"] = bool(rec["manipulated"])
            for b in spec.constraints.bounds:
                row[f"delta_{b.field}"] = float(rec[b.field]["delta"])
        else:
            if spec.constraints:
                objective = objective + self._penalty(metrics, row)
            a_opt.zero_grad()
            objective.backward()
            row["manipulated"] = False
        a_opt.step()
        return row

    def _candidates(self, lp_ops: np.ndarray, lp_bits: np.ndarray) -> list[Candidate]:
        """The designs to verify, best first: the top-k of the final logits."""
        return top_k(self.space, lp_ops, lp_bits, self.spec.top_k)

    def _penalty(self, metrics: dict[str, torch.Tensor], row: dict[str, Any]) -> torch.Tensor:
        """The soft penalty: ``cost_weight`` x the summed log-space violation."""
        return self.spec.cost_weight * self.spec.constraints.total_violation(metrics, log=True)

    # -- winners -----------------------------------------------------------------------------
    def finalize(self) -> RunResult:
        spec: CoSearchSpec = self.spec
        sp = self.space
        with torch.no_grad():
            mask = skip_mask(sp, self.device)
            lp_ops = F.log_softmax(self.alpha + mask, dim=1).cpu().numpy()
            lp_ops[mask.cpu().numpy() < 0] = -np.inf
            lp_bits = F.log_softmax(self.beta + self.bit_mask, dim=1).cpu().numpy()
            lp_bits[:, ~self.bits_allowed] = -np.inf
            p_ops, p_bits = arch_probs(sp, self.alpha, self.beta + self.bit_mask)
            pred, _, _ = relaxed_metrics(self.nets, p_ops, p_bits, spec.objective)
        winners: list[Winner] = []
        dropped: list[dict[str, Any]] = []
        closest: tuple[float, str] | None = None
        raw_feasible = False
        for rank, cand in enumerate(self._candidates(lp_ops, lp_bits), start=1):
            hw = self.nets.generator.generate(np.array([cand.ops]), np.array([cand.bits]))[0]
            got = verify(sp, cand, hw, spec.constraints, spec.objective, rank, self.model)
            if isinstance(got, Winner):
                got = dataclasses.replace(got, predicted=self._predict(cand.ops, cand.bits))
                winners.append(got)
                raw_feasible |= rank == 1 and got.generator_feasible
            else:
                dropped.append({"rank": rank, "architecture": sp.describe(
                    np.array(cand.ops), np.array(cand.bits)), "closest": got[1]})  # fmt: skip
                if closest is None or got[0] < closest[0]:
                    closest = got
        if not winners:
            raise InfeasibleDesignError(
                f"no accelerator of space {sp.name!r} makes any of the {spec.top_k} searched "
                f"designs meet {spec.constraints.describe()}. Closest: "
                f"{closest[1] if closest else 'none'}. Relax a bound, raise --steps, or use "
                "--strategy dance-hdx."
            )
        val_acc = [self._accuracy(self.val, w.ops, w.bits, True) for w in winners]
        handoff, exports = [], {}
        if spec.quantize:  # every winner fine-tuned from the same searched weights
            searched = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        fp, q = self._finetune(winners[0])
        if spec.quantize:
            for i, w in enumerate(winners):
                if i:
                    self.net.load_state_dict(searched)
                    w_fp, w_q = self._finetune(w)
                else:
                    w_fp, w_q = fp, q
                rec, writer = self._handoff(w, w_fp, w_q, len(winners))
                handoff.append(rec)
                exports[rec["exported"]] = writer
        result = CoSearchResult(
            strategy=self.name, task=spec.task, task_source=self.task.source, space=sp.name,
            constraints=spec.constraints.describe(), winners=winners, dropped=dropped,
            raw_argmax_feasible=raw_feasible,
            predicted_final={k: float(v) for k, v in pred.items()},
            val_accuracy=val_acc, test_accuracy_fp=fp, test_accuracy_quant=q,
            finetune_steps=spec.finetune_steps, manipulated_steps=self.manipulated,
            arch_steps=max(0, self.steps_done - spec.warmup_steps),
            evaluator_cached=self.nets.cached, steps_done=self.steps_done, handoff=handoff,
            skipped_steps=self.skipped_steps,
        )  # fmt: skip
        w = winners[0]
        return RunResult(
            spec=spec,
            result=result,
            metrics={
                "architecture": w.architecture,
                "accelerator": w.accelerator_text,
                "fps": w.verified["fps"],
                "energy_uj": w.verified["energy_uj"],
                "area_mm2": w.verified["area_mm2"],
                "test_accuracy_fp": fp,
                "test_accuracy_quant": q,
                **({"test_accuracy_zsq": handoff[0]["test_accuracy_zsq"]} if handoff else {}),
                "raw_argmax_feasible": raw_feasible,
                "winners": len(winners),
            },
            artefacts={
                "winners.csv": _winners_csv(winners, val_acc),
                "architecture.json": json.dumps(
                    {
                        "space": sp.name,
                        "ops": list(w.ops),
                        "bits": list(w.bit_widths),
                        "architecture": w.architecture,
                    },
                    indent=2,
                )
                + "\n",  # fmt: skip
                "accelerator.yaml": _accelerator_yaml(w),
                "trajectory.csv": _table_csv(self.trajectory),
                **({"handoff.csv": _table_csv([{k: v for k, v in h.items() if k != "bits"}
                                               for h in handoff])} if handoff else {}),
                **exports,
            },
        )

    def _handoff(self, w: Winner, fp: float, q: float, n: int) -> tuple[dict[str, Any], Any]:
        """Winner ``w`` (its weights just fine-tuned) to the zero-shot quantization core at
        its searched bits; its test accuracy quantized from synthetic data only."""
        from coexplore.quant import BitMap
        from coexplore.quant.export import export_quantized
        from coexplore.search.handoff import extract_subnet, quantize_winner, winner_bitmap

        spec: CoSearchSpec = self.spec
        emit(self._progress, "quantize", w.rank - 1, n, f"winner {w.rank}: zero-shot at its bits")
        w8: dict[str, Any] = {}
        if spec.quant_compare_w8:  # the data-aware W8A8 reference (fake quant, BN on train)
            bits8 = (self.space.bits.index(8),) * self.space.n_slots
            w8["test_accuracy_fakequant_data_w8"] = self._accuracy(self.test, w.ops, bits8, True)
        self._recalibrate_bn(w.ops, w.bits, quantize=False)  # the teacher's FP statistics
        sub = extract_subnet(self.net, w.ops)
        bits = winner_bitmap(self.space, w.ops, w.bits)
        qmodel, rep = quantize_winner(
            sub, bits, self.test, spec.quant_images, spec.quant_synthetic_steps,
            spec.quant_iters, spec.seed,
        )  # fmt: skip
        name = f"winner{w.rank}_quantized.pt"
        rec = {"rank": w.rank, "architecture": w.architecture,
               "test_accuracy_fp_supernet": fp, "test_accuracy_fakequant_data": q,
               **{k: rep[k] for k in ("test_accuracy_fp", "test_accuracy_zsq", "method",
                                      "synthetic_images", "synthetic_steps", "recon_iters",
                                      "seconds")},
               "bits": rep["bits"], "exported": name, **w8}  # fmt: skip
        if spec.quant_compare_w8:
            all8 = {k: [8, 8] for k in bits}
            _, rep8 = quantize_winner(
                sub, all8, self.test, spec.quant_images, spec.quant_synthetic_steps,
                spec.quant_iters, spec.seed,
            )  # fmt: skip
            rec["test_accuracy_zsq_w8"] = rep8["test_accuracy_zsq"]
        bm = BitMap.from_dict(bits, sub, default_bits=8)
        meta = {"space": self.space.name, "ops": list(w.ops), "bit_indices": list(w.bits),
                "architecture": w.architecture, "task": spec.task}  # fmt: skip

        def writer(path: Any) -> None:
            export_quantized(qmodel, path, f"{self.space.name}-winner{w.rank}",
                             self.task.num_classes, bm, extra=meta)  # fmt: skip

        emit(self._progress, "quantize", w.rank, n,
             f"winner {w.rank}: {rep['test_accuracy_zsq']:.1f} % zero-shot")  # fmt: skip
        return rec, writer

    def _predict(self, ops: tuple[int, ...], bits: tuple[int, ...]) -> dict[str, float]:
        """The evaluator's view of one discrete design on the generator's accelerator (the
        numbers the search steered by; shown beside their verified counterparts)."""
        sp, dev = self.space, self.device
        p_ops = F.one_hot(torch.tensor(ops, device=dev), sp.n_ops).float()
        p_bits = F.one_hot(torch.tensor(bits, device=dev), len(sp.bits)).float()
        with torch.no_grad():
            m, _, _ = relaxed_metrics(self.nets, p_ops, p_bits, self.spec.objective)
        return {
            k: float(v)
            for k, v in m.items()
            if k in ("fps", "energy_uj", "area_mm2", "latency_ms", "power_mw")
        }

    def _recalibrate_bn(self, ops: Any, bits: Any, quantize: bool) -> None:
        """Resets the BN statistics and re-estimates them on train batches for this one
        sub-network (shared BN statistics mix every sampled path, as OFA notes)."""
        for m in self.net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the batches below
        gen = torch.Generator().manual_seed(self.spec.seed + 2)
        self.net.train()
        with torch.no_grad():
            for _ in range(BN_BATCHES):
                x, _ = self._batch(self.train, gen)
                self.net(x, ops, bits, quantize=quantize)
        for m in self.net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1

    def _accuracy(self, data: Any, ops: Any, bits: Any, quantize: bool) -> float:
        x, y = data
        self._recalibrate_bn(ops, bits, quantize)
        self.net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(y), 256):
                out = self.net(x[i : i + 256], ops, bits, quantize=quantize)
                correct += int((out.argmax(1) == y[i : i + 256]).sum())
        return 100.0 * correct / max(1, len(y))

    def _finetune(self, w: Winner) -> tuple[float, float]:
        """Trains the winner's inherited weights alone (at its bits), then test accuracy."""
        spec: CoSearchSpec = self.spec
        gen = torch.Generator().manual_seed(spec.seed + 1)
        params = self.net.weight_parameters()
        opt = torch.optim.SGD(params, lr=spec.weight_lr * 0.2, momentum=0.9, nesterov=True)
        for _ in range(spec.finetune_steps):
            x, y = self._batch(self.train, gen)
            self.net.train()
            self._weight_step(opt, F.cross_entropy(self.net(x, w.ops, w.bits), y))
        return (self._accuracy(self.test, w.ops, w.bits, False),
                self._accuracy(self.test, w.ops, w.bits, True))  # fmt: skip


def _table_csv(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    return pd.DataFrame(rows).to_csv(index=False)


def _winners_csv(winners: list[Winner], val_acc: list[float]) -> str:
    rows = []
    for w, acc in zip(winners, val_acc, strict=True):
        rows.append({
            "rank": w.rank, "architecture": w.architecture, "val_accuracy": round(acc, 2),
            "accelerator": w.accelerator_text,
            **{f"verified_{k}": v for k, v in w.verified.items()},
            **{f"predicted_{k}": v for k, v in w.predicted.items()},
            **{f"generator_verified_{k}": w.generator_verified[k] for k in w.predicted},
            **{f"slack_{k}": v for k, v in w.slack.items()},
            "generator_feasible": w.generator_feasible,
        })  # fmt: skip
    return _table_csv(rows)


def _accelerator_yaml(w: Winner) -> str:
    from coexplore.accel_model import Accelerator

    return Accelerator.from_dict(w.accelerator).to_yaml()


@register_strategy
class DanceHDX(_Dance):
    """DANCE with HDX hard constraints (the product's default co-search)."""

    name = "dance-hdx"
    use_hdx = True


@register_strategy
class DanceSoft(_Dance):
    """DANCE with a soft penalty: CE + lambda * (cost + log-space violation)."""

    name = "dance-soft"
    use_hdx = False


@register_strategy
class DanceAdaptive(_Dance):
    """DANCE with a primal-dual penalty (LightNAS): one multiplier per bound, raised after
    each architecture step by ``DUAL_LR`` x the bound's signed log gap (lowered once it is
    met), clipped at zero; the loss adds each multiplier x its gap.

    LightNAS's step (5e-4 on ``latency / target - 1``) is sized for its thousands of steps;
    ours has ``steps - warmup_steps`` (200 by default), hence the larger ``DUAL_LR``.
    """

    name = "dance-adaptive"
    use_hdx = False
    DUAL_LR = 0.05

    def _penalty(self, metrics: dict[str, torch.Tensor], row: dict[str, Any]) -> torch.Tensor:
        gaps = self.spec.constraints.signed_log_gaps(metrics)
        lam = getattr(self, "_lambdas", None)
        if lam is None:
            lam = self._lambdas = dict.fromkeys(gaps, 0.0)
        total = sum(lam[f] * g for f, g in gaps.items())
        for f, g in gaps.items():
            row[f"lambda_{f}"] = lam[f]
            lam[f] = max(0.0, lam[f] + self.DUAL_LR * float(g.detach()))
        return total


@register_strategy
class RandomSearch(_Dance):
    """The random baseline on the same budget: the supernet's weights are trained for the
    same ``steps`` with uniformly sampled paths (no architecture updates), then
    ``RANDOM_CANDIDATES`` random (architecture, bits) designs are drawn; those that some
    accelerator of the space makes feasible (analytical model, same bounds) are ranked by
    validation accuracy on the inherited weights, and the best ``top_k`` are the winners."""

    name = "random"
    use_hdx = False
    updates_architecture = False
    RANDOM_CANDIDATES = 12  # each feasible one costs a BN re-estimate and a val pass

    def _candidates(self, lp_ops: np.ndarray, lp_bits: np.ndarray) -> list[Candidate]:
        spec: CoSearchSpec = self.spec
        sp = self.space
        ops, bits, _ = sp.sample(self.RANDOM_CANDIDATES, spec.seed + 7)
        if not self.bits_allowed.all():  # uniform over the allowed widths only
            allowed = np.flatnonzero(self.bits_allowed)
            rng = np.random.default_rng(spec.seed + 8)
            bits = allowed[rng.integers(0, len(allowed), size=bits.shape)]
        seen, scored = set(), []
        for o, b in zip(ops, bits, strict=True):
            b = np.where(o == SKIP, 0, b)  # a skipped slot's bits change nothing
            key = (tuple(int(v) for v in o), tuple(int(v) for v in b))
            if key in seen:
                continue
            seen.add(key)
            cand = Candidate(*key, 0.0)
            hw = self.nets.generator.generate(np.array([cand.ops]), np.array([cand.bits]))[0]
            got = verify(sp, cand, hw, spec.constraints, spec.objective, 0, self.model)
            if isinstance(got, Winner):
                scored.append((self._accuracy(self.val, cand.ops, cand.bits, True), cand))
        scored.sort(key=lambda t: -t[0])
        if not scored:  # nothing feasible: the first draw, so the run ends with its miss
            return [Candidate(tuple(int(v) for v in ops[0]), tuple(int(v) for v in bits[0]), 0.0)]
        return [c for _, c in scored[: spec.top_k]]
