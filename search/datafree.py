"""The data-free co-search (``data-free``): a pretrained model's per-layer bit-widths and an
accelerator, under hard bounds, without its training data.

* ``prepare`` loads the model, prices it layer by layer (``workload_from_torch``; the layer
  names are the model's module names, so a bits map keys them directly), makes exact cost
  tables -- per layer, per bit-width, per accelerator: cycles and energy (the analytical
  model's layer costs add up exactly to its network costs: a test holds this) -- over the
  accelerator space (a seeded sample of ``TABLE_ACCELERATORS`` when the space is larger),
  makes the quantization core's synthetic set for the model (cached per teacher) and, on
  it, a sensitivity table: the KL divergence of the model's outputs when one layer alone is
  quantized at one bit-width (ZeroQ's data-free sensitivity), normalised so that every layer
  at the lowest width sums to 1.
* ``search`` relaxes the per-layer bits (softmax over logits): expected cycles and energy of
  each layer on the accelerator that is best for the current argmax bits (picked exactly
  from the tables every step), so the cost is differentiable in the bit choices; loss =
  expected sensitivity + ``cost_weight`` x log objective; HDX keeps the bounds (the same
  rule as the co-search).
* ``finalize`` takes the top-k bit assignments, verifies each on the analytical model over
  every accelerator of the space under the bounds, does the same for uniform W8A8/W6A6/W4A4,
  quantizes the feasible ones zero-shot (synthetic data only) and, with ``eval_data``,
  measures their test accuracy, and names for each feasible uniform choice the searched
  designs that dominate it (accuracy at least as high, energy at least as low, one of them
  strictly); ``dominates_uniform`` says whether every feasible uniform choice is dominated.

The network input stays 8-bit (protocol A): the first layer's activations are priced and
quantized at 8 bits whatever its weights' width.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.accel_model import Workload, get_design_space
from coexplore.accel_model._torch_bridge import workload_from_torch
from coexplore.errors import ConfigError, InfeasibleDesignError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import RunResult
from coexplore.search._determinism import SEARCH_THREADS, fixed_threads
from coexplore.search.constraints import cost_metrics
from coexplore.search.hdx import HDX, HDXConfig
from coexplore.search.objectives import log_objective
from coexplore.search.specs import DataFreeSpec, cost_model
from coexplore.search.strategy import SearchStrategy, register_strategy

__all__ = [
    "DataFreeSearch",
    "DataFreeResult",
    "TABLE_ACCELERATORS",
    "layer_sensitivity",
    "least_sensitive_within",
]

TABLE_ACCELERATORS = 20_000  # accelerators in the search's cost tables (all when fewer)
BUDGET_BUCKETS = 4000  # resolution of the knapsack's energy budget
ARCH_LR = 1.0
IMAGE_SIZE = 32


@dataclasses.dataclass
class DataFreeResult:
    """What the data-free co-search found; every cost verified on the analytical model."""

    model: str
    layers: list[str]
    bits_options: list[int]
    constraints: str
    accel_space: str
    table_accelerators: int
    designs: list[dict[str, Any]]  # searched winners then uniform baselines
    dominates_uniform: bool | None  # None without eval_data
    manipulated_steps: int
    steps: int
    synthetic_images: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _quantize_layer_hooks(module: torch.nn.Module, bits: int, a_bits: int) -> Any:
    """Fake-quantizes ``module``'s weight (per channel) and input (per tensor, calibrated
    on the first batch) with the quantization core's quantizers; returns an undo function."""
    from coexplore.quant.quantizers import ActQuantizer, WeightQuantizer

    w = module.weight.data.clone()
    with torch.no_grad():
        module.weight.data = WeightQuantizer(w, bits, search_clip=False)(w)
    aq = ActQuantizer(a_bits)

    def pre(_m: Any, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = inputs[0]
        if not aq.calibrated:
            aq.calibrate(x)
        return (aq(x),)

    handle = module.register_forward_pre_hook(pre)

    def undo() -> None:
        handle.remove()
        module.weight.data = w

    return undo


@torch.no_grad()
def layer_sensitivity(
    model: torch.nn.Module, names: list[str], bits: list[int], images: torch.Tensor
) -> np.ndarray:
    """(layers, bits) mean KL(model || model with that one layer quantized) on ``images``."""
    modules = dict(model.named_modules())
    model.eval()
    ref = F.log_softmax(model(images), dim=1)
    out = np.zeros((len(names), len(bits)))
    for i, name in enumerate(names):
        for j, b in enumerate(bits):
            undo = _quantize_layer_hooks(modules[name], b, 8 if i == 0 else b)
            try:
                q = F.log_softmax(model(images), dim=1)
            finally:
                undo()
            out[i, j] = float(F.kl_div(q, ref, log_target=True, reduction="batchmean"))
    return np.maximum(out, 0.0)


def least_sensitive_within(
    sensitivity: np.ndarray, cost: np.ndarray, budget: float, buckets: int = BUDGET_BUCKETS
) -> np.ndarray | None:
    """The per-layer choice (one column index per row) with the least total sensitivity whose
    total cost is at most ``budget``: a multiple-choice knapsack, solved exactly by dynamic
    programming over the budget in ``buckets`` steps (each cost rounded up to a step, so the
    answer never exceeds the budget), as HAWQ-V3's integer program. Ties go to the cheaper
    choice. ``None`` when even the cheapest choice of every row exceeds the budget.

    Args:
        sensitivity, cost: (layers, options) additive per-layer values.
        budget: Largest total cost.
    """
    if budget <= 0 or float(cost.min(1).sum()) > budget:
        return None
    unit = budget / buckets
    w = np.ceil(cost / unit - 1e-9).astype(np.int64)  # (L, B) in budget steps
    n_l, n_b = cost.shape
    best = np.full(buckets + 1, np.inf)  # best[k]: least sensitivity using exactly k steps
    best[0] = 0.0
    choice = np.zeros((n_l, buckets + 1), dtype=np.int64)
    for i in range(n_l):
        new = np.full(buckets + 1, np.inf)
        for j in range(n_b):
            k = int(w[i, j])
            if k > buckets:
                continue
            cand = np.full(buckets + 1, np.inf)
            cand[k:] = best[: buckets + 1 - k] + sensitivity[i, j]
            better = cand < new
            new[better] = cand[better]
            choice[i, better] = j
        best = new
    if not np.isfinite(best).any():
        return None
    k = int(np.argmin(best))  # the first minimum: the least budget among equal sensitivities
    out = np.zeros(n_l, dtype=np.int64)
    for i in range(n_l - 1, -1, -1):
        out[i] = choice[i, k]
        k -= int(w[i, out[i]])
    return out


@register_strategy
class DataFreeSearch(SearchStrategy):
    """See the module docstring."""

    name = "data-free"
    spec_type = DataFreeSpec

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        with fixed_threads(SEARCH_THREADS):
            return super().run(progress)

    # -- prepare ----------------------------------------------------------------------------
    def prepare(self, progress: ProgressFn | None) -> None:
        from coexplore.quant import get_method
        from coexplore.quant.bitmap import has_batchnorm, quantizable_layers
        from coexplore.quant.evaluate import resolve_device
        from coexplore.quant.job import resolve_model
        from coexplore.quant.pipeline import DEFAULT_METHOD
        from coexplore.quant.synthetic import load_or_make_synthetic

        spec: DataFreeSpec = self.spec
        self._progress = progress
        self.device = resolve_device(spec.device)
        emit(progress, "prepare", 0, 4, f"loading {spec.model}")
        self.teacher = resolve_model(spec.model, spec.weights).to(self.device).eval()
        if not has_batchnorm(self.teacher):
            raise ConfigError(f"model {spec.model!r} has no BatchNorm layer: the data-free "
                              "search makes its data from BN statistics.")  # fmt: skip
        self.names = quantizable_layers(self.teacher)
        wl = workload_from_torch(self.teacher.cpu(), (1, 3, IMAGE_SIZE, IMAGE_SIZE),
                                 name=spec.model)  # fmt: skip
        self.teacher.to(self.device)
        by_name = {layer.name: layer for layer in wl.layers}
        missing = [n for n in self.names if n not in by_name]
        if missing:
            raise ConfigError(f"the cost model could not price layers {missing[:5]} of "
                              f"{spec.model!r}; the data-free search needs every conv and "
                              "linear layer priced.")  # fmt: skip
        self.workload = Workload(wl.name, tuple(by_name[n] for n in self.names))
        self.bits = sorted(spec.bits)
        # -- exact per-layer cost tables over the accelerators ------------------------------
        emit(progress, "prepare", 1, 4, "cost tables")
        self.hw_space = get_design_space(spec.accel_space)
        idx = self.hw_space.all_indices()
        if len(idx) > TABLE_ACCELERATORS:
            idx = self.hw_space.sample_indices(TABLE_ACCELERATORS, spec.seed)
        self.table_idx = idx
        accs = self.hw_space.batch(idx)
        self.model = model = cost_model(spec)
        n_l = len(self.names)
        cyc, en, ok = [], [], []
        for b in self.bits:
            a = np.full(n_l, b)
            a[0] = 8
            c = model.evaluate(self.workload, accs, w_bits=np.full(n_l, b), a_bits=a,
                               per_layer=True)  # fmt: skip
            cyc.append(c.layers["cycles"])
            en.append(c.layers["energy_pj"])
            ok.append(c.layers["feasible"])
        self.cycles = np.stack(cyc)  # (B, L, A)
        self.energy = np.stack(en)
        self.layer_ok = np.stack(ok)
        self.clock = accs.clock_hz.astype(np.float64)
        self.area = model.evaluate(self.workload, accs).area_mm2
        # -- synthetic images and the sensitivity table -------------------------------------
        emit(progress, "prepare", 2, 4, "synthetic images")
        self.method = get_method(DEFAULT_METHOD, synthetic__n_images=spec.images,
                                 synthetic__steps=spec.synthetic_steps, synthetic__seed=spec.seed,
                                 recon__iters=spec.recon_iters)  # fmt: skip
        self.synthetic = load_or_make_synthetic(self.teacher, self.method.synthetic, self.device,
                                                spec.cache_dir, progress)  # fmt: skip
        emit(progress, "prepare", 3, 4, "sensitivity per layer and bit-width")
        sens = layer_sensitivity(self.teacher, self.names, self.bits,
                                 self.synthetic.images.to(self.device))  # fmt: skip
        self.sensitivity = sens / max(float(sens[:, 0].sum()), 1e-12)
        emit(progress, "prepare", 4, 4, "ready")

    # -- search -----------------------------------------------------------------------------
    def _totals(self, bit_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycles, energy pJ, runs) per table accelerator for one bit assignment."""
        rows = np.arange(len(bit_idx))
        return (self.cycles[bit_idx, rows].sum(0), self.energy[bit_idx, rows].sum(0),
                self.layer_ok[bit_idx, rows].all(0))  # fmt: skip

    def _pick(self, bit_idx: np.ndarray) -> int:
        """The table accelerator that is best for these bits: the lowest objective among
        those meeting every bound, else the least violating."""
        cycles, energy, runs = self._totals(bit_idx)
        lat = cycles / self.clock
        values = {"fps": 1.0 / lat, "latency_ms": lat * 1e3, "energy_uj": energy * 1e-6,
                  "area_mm2": self.area, "power_mw": energy / lat * 1e-9}  # fmt: skip
        viol = np.asarray(self.spec.constraints.total_violation(values), dtype=float)
        viol = np.where(runs, viol, np.inf)
        with np.errstate(divide="ignore"):
            obj = log_objective(self.spec.objective, np.log(lat), np.log(energy),
                                np.log(self.area))  # fmt: skip
        ok = viol == 0
        if ok.any():
            return int(np.flatnonzero(ok)[np.argmin(obj[ok])])
        return int(np.argmin(viol))

    def search(self, progress: ProgressFn | None) -> None:
        spec: DataFreeSpec = self.spec
        self.trajectory: list[dict[str, Any]] = []
        self.manipulated = 0
        self.found: list[tuple[float, torch.Tensor]] = []  # (lambda, final bit logits)
        lambdas = (spec.cost_weight, *spec.sweep)
        for i, lam in enumerate(lambdas):
            self.found.append((lam, self._search_one(lam, i, len(lambdas), progress)))

    def _search_one(self, lam: float, i: int, n: int, progress: ProgressFn | None) -> torch.Tensor:
        spec: DataFreeSpec = self.spec
        torch.manual_seed(spec.seed)
        n_l, n_b = len(self.names), len(self.bits)
        beta = torch.zeros(n_l, n_b, requires_grad=True)
        opt = torch.optim.SGD([beta], lr=ARCH_LR)
        hdx = HDX(spec.constraints, HDXConfig(delta0=0.01, growth=1.1, margin=0.05))
        sens = torch.tensor(self.sensitivity, dtype=torch.float32)
        rows = np.arange(n_l)
        for step in range(1, spec.steps + 1):
            a = self._pick(beta.detach().argmax(1).numpy())
            cyc = torch.tensor(self.cycles[:, rows, a].T, dtype=torch.float32)  # (L, B)
            en = torch.tensor(self.energy[:, rows, a].T, dtype=torch.float32)
            p = F.softmax(beta, dim=1)
            lat_s = (p * cyc).sum() / float(self.clock[a])
            energy_pj = (p * en).sum()
            area = torch.tensor(float(self.area[a]))
            metrics = {"fps": 1.0 / lat_s, "latency_ms": lat_s * 1e3,
                       "energy_uj": energy_pj * 1e-6, "area_mm2": area,
                       "power_mw": energy_pj / lat_s * 1e-9}  # fmt: skip
            log_obj = log_objective(spec.objective, lat_s.log(), energy_pj.log(), area.log())
            loss = (p * sens).sum() + lam * log_obj
            row: dict[str, Any] = {"lambda": lam, "step": step,
                                   "sensitivity": float((p * sens).sum().detach()),
                                   "accelerator": a}  # fmt: skip
            for b in spec.constraints.bounds:
                row[f"pred_{b.metric}"] = float(metrics[b.metric].detach())
            if spec.constraints:
                rec = hdx.step([beta], loss, metrics)
                row["manipulated"] = bool(rec["manipulated"])
                for b in spec.constraints.bounds:
                    row[f"delta_{b.field}"] = float(rec[b.field]["delta"])
            else:
                opt.zero_grad()
                loss.backward()
                row["manipulated"] = False
            opt.step()
            self.manipulated += row["manipulated"]
            self.trajectory.append(row)
            emit(progress, "search", i * spec.steps + step, n * spec.steps,
                 f"bits, lambda {lam:g}",
                 **{k: v for k, v in row.items() if isinstance(v, float)})  # fmt: skip
        return beta.detach()

    # -- winners ----------------------------------------------------------------------------
    def _candidates(self, beta: torch.Tensor) -> list[tuple[int, ...]]:
        """The argmax bits and the most probable assignments one layer away from it."""
        lp = F.log_softmax(beta, dim=1).numpy()
        best = lp.argmax(1)
        cands = [(float(lp[np.arange(len(best)), best].sum()), tuple(int(v) for v in best))]
        for layer in range(len(best)):
            for b in range(lp.shape[1]):
                if b != best[layer]:
                    alt = best.copy()
                    alt[layer] = b
                    cands.append((float(lp[np.arange(len(alt)), alt].sum()),
                                  tuple(int(v) for v in alt)))  # fmt: skip
        first, rest = cands[0], sorted(cands[1:], key=lambda c: -c[0])
        return [c for _, c in [first, *rest][: self.spec.top_k]]

    def _verify(self, bit_widths: list[int], on: dict[str, Any] | None = None) -> dict[str, Any]:
        """The analytical model over every accelerator of the space under the bounds (the
        lowest objective among those meeting them); with ``on`` (an accelerator's config),
        on that accelerator alone when it meets them there, else over the space."""
        spec: DataFreeSpec = self.spec
        w = np.array(bit_widths)
        a = w.copy()
        a[0] = 8
        if on is not None:
            from coexplore.accel_model import Accelerator

            acc = Accelerator.from_dict(on)
            costs = self.model.evaluate(self.workload, [acc], w_bits=w, a_bits=a)
            if spec.constraints.violation(costs)[0] == 0:
                values = {k: float(v[0]) for k, v in cost_metrics(costs).items()}
                return {"feasible": True, "accelerator": acc.describe(),
                        "accelerator_config": acc.to_dict(), "verified": values,
                        "slack": spec.constraints.slack(values),
                        "feasible_accelerators": 1}  # fmt: skip
        accs = self.hw_space.batch(self.hw_space.all_indices())
        costs = self.model.evaluate(self.workload, accs, w_bits=w, a_bits=a)
        viol = spec.constraints.violation(costs)
        m = cost_metrics(costs)
        ok = viol == 0
        if not ok.any():
            j = int(np.argmin(viol))
            miss = "; ".join(spec.constraints.miss_report({k: float(v[j]) for k, v in m.items()}))
            return {"feasible": False, "closest": f"{accs.get(j).describe()}: {miss}"}
        with np.errstate(divide="ignore", invalid="ignore"):
            obj = log_objective(spec.objective, np.log(m["latency_ms"] * 1e-3),
                                np.log(m["energy_uj"]), np.log(m["area_mm2"]))  # fmt: skip
        best = int(np.flatnonzero(ok)[np.argmin(obj[ok])])
        values = {k: float(v[best]) for k, v in m.items()}
        return {"feasible": True, "accelerator": accs.get(best).describe(),
                "accelerator_config": accs.get(best).to_dict(), "verified": values,
                "slack": spec.constraints.slack(values),
                "feasible_accelerators": int(ok.sum())}  # fmt: skip

    def _budgeted(self, u: dict[str, Any], fraction: float = 1.0) -> tuple[int, ...] | None:
        """The least sensitive bits (by the table) at no more than ``fraction`` of the energy
        of the uniform design ``u`` on ``u``'s own accelerator; they are verified on that
        accelerator (the same hardware, compared at the same energy budget) where they meet
        every bound there."""
        from coexplore.accel_model import Accelerator

        acc = [Accelerator.from_dict(u["accelerator_config"])]
        model, n_l = self.model, len(self.names)
        en = []
        for b in self.bits:
            a = np.full(n_l, b)
            a[0] = 8
            c = model.evaluate(self.workload, acc, w_bits=np.full(n_l, b), a_bits=a,
                               per_layer=True)  # fmt: skip
            en.append(c.layers["energy_pj"][:, 0])
        energy = np.stack(en, axis=1)  # (L, B)
        cand = least_sensitive_within(self.sensitivity, energy,
                                      u["verified"]["energy_uj"] * 1e6 * fraction)  # fmt: skip
        return None if cand is None else tuple(int(v) for v in cand)

    def finalize(self) -> RunResult:
        from coexplore.quant import BitMap, quantize
        from coexplore.quant.data import load_test_set
        from coexplore.quant.evaluate import correct, top1
        from coexplore.quant.models import IMAGENET_MEAN, IMAGENET_STD

        spec: DataFreeSpec = self.spec
        designs: list[dict[str, Any]] = []
        seen: set[tuple[int, ...]] = set()
        for lam, beta in self.found:  # one lambda: "searched #k"; a sweep names its lambda
            tag = f" (lambda {lam:g})" if spec.sweep else ""
            fresh = [c for c in self._candidates(beta) if c not in seen]
            seen.update(fresh)
            for rank, cand in enumerate(fresh, start=1):
                bits = [self.bits[i] for i in cand]
                designs.append({"name": f"searched #{rank}{tag}", "searched": True,
                                "lambda": lam, "bits": bits,
                                "predicted_sensitivity": float(sum(
                                    self.sensitivity[i, j] for i, j in enumerate(cand))),
                                **self._verify(bits)})  # fmt: skip
        uniform = []
        for b in spec.uniform:
            bits = [b] * len(self.names)
            j = self.bits.index(b) if b in self.bits else None
            uniform.append({"name": f"uniform W{b}A{b}", "searched": False, "bits": bits,
                            "predicted_sensitivity": None if j is None else
                            float(self.sensitivity[:, j].sum()), **self._verify(bits)})  # fmt: skip
        if spec.budgeted:
            for u, frac in ((u, f) for u in uniform if u["feasible"]
                            for f in spec.budget_fractions):  # fmt: skip
                cand = self._budgeted(u, frac)
                if cand is None or cand in seen:
                    continue
                seen.add(cand)
                bits = [self.bits[i] for i in cand]
                share = "" if frac == 1 else f"{frac:.0%} of "
                designs.append({"name": f"knapsack at {share}{u['name'][8:]} energy",
                                "searched": True, "lambda": None, "budget_of": u["name"],
                                "budget_fraction": frac, "bits": bits,
                                "predicted_sensitivity": float(sum(
                                    self.sensitivity[i, j] for i, j in enumerate(cand))),
                                **self._verify(bits, on=u["accelerator_config"])})  # fmt: skip
        designs += uniform
        if not any(d["feasible"] for d in designs if d["searched"]):
            closest = next(d["closest"] for d in designs if d["searched"])
            raise InfeasibleDesignError(
                f"no accelerator of space {spec.accel_space!r} makes the searched bits of "
                f"{spec.model} meet {spec.constraints.describe()}. Closest: {closest}. Relax "
                "a bound or allow fewer bits (--bits)."
            )
        test = None
        if spec.eval_data is not None:
            data = load_test_set(spec.eval_data, IMAGE_SIZE)
            test = data.tensors(IMAGENET_MEAN, IMAGENET_STD)
            fp = top1(self.teacher, *test, self.device)
        exports: dict[str, Any] = {}
        right: dict[str, np.ndarray] = {}  # per-image correctness, for paired differences
        feasible = [d for d in designs if d["feasible"]]
        for i, d in enumerate(feasible):
            emit(self._progress, "quantize", i, len(feasible), f"{d['name']}: zero-shot")
            t = time.perf_counter()
            bm = BitMap.from_dict({n: [b, b] for n, b in zip(self.names, d["bits"], strict=True)},
                                  self.teacher, 8)  # fmt: skip
            q = quantize(self.teacher, bm, self.method, self.device, synthetic=self.synthetic)
            d["quantize_seconds"] = time.perf_counter() - t
            if test is not None:
                d["test_fp"] = fp
                right[d["name"]] = correct(q.model, *test, self.device)
                d["test_zsq"] = 100.0 * float(right[d["name"]].mean())
            if d is next(x for x in feasible if x["searched"]):  # the first lambda's best
                exports["quantized.pt"] = _writer(q.model, spec.model, bm, self.teacher)
        emit(self._progress, "quantize", len(feasible), len(feasible), "done")
        dominates = None
        if test is not None:  # Pareto on verified energy and measured zero-shot accuracy
            searched = [d for d in feasible if d["searched"]]
            for u in (d for d in feasible if not d["searched"]):
                u["dominated_by"] = [s["name"] for s in searched if _dominates(s, u)]
            dominates = all(u["dominated_by"] for u in feasible if not u["searched"])
            for u in (d for d in feasible if not d["searched"]):
                u["best_rival"] = _best_rival(u, searched, right)
        result = DataFreeResult(
            model=spec.model, layers=self.names, bits_options=self.bits,
            constraints=spec.constraints.describe(), accel_space=spec.accel_space,
            table_accelerators=len(self.table_idx), designs=designs,
            dominates_uniform=dominates, manipulated_steps=self.manipulated, steps=spec.steps,
            synthetic_images=len(self.synthetic),
        )  # fmt: skip
        w = next(d for d in designs if d["searched"] and d["feasible"])
        metrics = {"bits": w["bits"], "accelerator": w["accelerator"],
                   "fps": w["verified"]["fps"], "energy_uj": w["verified"]["energy_uj"],
                   "area_mm2": w["verified"]["area_mm2"]}  # fmt: skip
        if "test_zsq" in w:
            metrics.update(test_fp=w["test_fp"], test_zsq=w["test_zsq"],
                           dominates_uniform=dominates)  # fmt: skip
        import json

        from coexplore.search.cosearch import _table_csv

        return RunResult(
            spec=spec, result=result, metrics=metrics,
            artefacts={
                "bits.json": json.dumps(dict(zip(self.names, w["bits"], strict=True)),
                                        indent=2) + "\n",
                "designs.csv": _table_csv([{k: v for k, v in d.items()
                                            if k not in ("accelerator_config",)} for d in designs]),
                "trajectory.csv": _table_csv(self.trajectory),
                **exports,
            },
        )  # fmt: skip


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` is at least as accurate and as frugal as ``b``, and better in one."""
    ea, eb = a["verified"]["energy_uj"], b["verified"]["energy_uj"]
    return (a["test_zsq"] >= b["test_zsq"] and ea <= eb
            and (a["test_zsq"] > b["test_zsq"] or ea < eb))  # fmt: skip


def _best_rival(
    u: dict[str, Any], searched: list[dict[str, Any]], right: dict[str, np.ndarray]
) -> dict[str, Any] | None:
    """The most accurate searched design at no more energy than the uniform design ``u``,
    with its accuracy difference to ``u`` and that difference's 95 % interval (paired over
    the test images): whether a miss or a win is more than the test set's noise."""
    from coexplore.quant.evaluate import paired_difference

    eu = u["verified"]["energy_uj"]
    cheaper = [s for s in searched if s["verified"]["energy_uj"] <= eu * (1 + 1e-9)]
    if not cheaper:
        return None
    best = max(cheaper, key=lambda s: s["test_zsq"])
    delta, ci = paired_difference(right[best["name"]], right[u["name"]])
    return {"design": best["name"], "delta": delta, "ci95": ci,
            "energy_saving": 1 - best["verified"]["energy_uj"] / eu,
            "images": int(len(right[u["name"]]))}  # fmt: skip


def describe_rival(u: dict[str, Any]) -> str | None:
    """One line on a uniform design's best rival (see ``_best_rival``); None without one."""
    r = u.get("best_rival")
    if not r:
        return None
    lo, hi = r["delta"] - r["ci95"], r["delta"] + r["ci95"]
    verdict = ("more accurate" if lo > 0 else "less accurate" if hi < 0
               else "not distinguishable at this test set's size")  # fmt: skip
    return (f"{u['name']} vs {r['design']} ({r['energy_saving']:.1%} less energy): "
            f"{r['delta']:+.2f} ± {r['ci95']:.2f} points (95 %, paired over "
            f"{r['images']:,} test images; {verdict})")


def _writer(qmodel: Any, name: str, bm: Any, teacher: Any) -> Any:
    from coexplore.quant.export import export_quantized

    dev = next(teacher.parameters()).device
    with torch.no_grad():
        classes = int(teacher(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, device=dev)).shape[1])

    def write(path: Any) -> None:
        export_quantized(qmodel, path, name, classes, bm, extra={"search": "data-free"})

    return write
