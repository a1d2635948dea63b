"""The job specs of ``coexplore.search``: one record per kind of run.

Each is a :class:`~coexplore.runs.RunSpec`: validated at construction (names are checked
against their registries, so a bad spec fails before any work), versioned, JSON round
trip, JSON-schema-able. The CLI builds them from flags, the REST API from request bodies.

* ``hardware-sweep`` -- :class:`HardwareSweepSpec`: price every design of an accelerator space
  for a fixed network at uniform bit-widths; keep the Pareto set under the constraints.
* ``co-search`` -- :class:`CoSearchSpec`: architecture x per-layer bits x accelerator, on a task.
* ``data-free`` -- :class:`DataFreeSpec`: a pretrained model's per-layer bits x accelerator, no
  training data.
* ``compare`` -- :class:`CompareSpec`: several strategies on one co-search problem.
* ``evaluator`` -- :class:`EvaluatorSpec`: train the DANCE evaluator and hardware generator.
* ``quantize`` -- :class:`coexplore.quant.QuantSpec` (registered by ``coexplore.quant.spec``).

Every kind has a runner (``coexplore.search.runner.run``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from coexplore.accel_model import DESIGN_SPACES, AnalyticalModel, network_names
from coexplore.accel_model.analytical import MAPPER_METRICS
from coexplore.accel_model.user_workloads import (
    USER_WORKLOAD_SUFFIXES,
    is_factory_ref,
    parse_shape,
)
from coexplore.config import check_choice, check_range
from coexplore.defaults import SEARCH_BITS_AWARE, SEARCH_MAPPER
from coexplore.errors import ConfigError
from coexplore.quant.spec import QuantSpec
from coexplore.runs import RunSpec, register_spec
from coexplore.search.constraints import Constraints
from coexplore.search.objectives import OBJECTIVES
from coexplore.search.space import BITS, SPACES
from coexplore.search.tasks import TASKS

__all__ = [
    "OBJECTIVES",
    "HardwareSweepSpec",
    "CoSearchSpec",
    "DataFreeSpec",
    "CompareSpec",
    "EvaluatorSpec",
    "QuantSpec",
]


# The widths a winner may take when it goes on to zero-shot quantization (the default
# ``search run``): at 2 and 3 bits the supernet's data-trained quantizers still hold, but
# quantization from synthetic data alone does not (results/handoff.md measures both).
ZERO_SHOT_BITS: tuple[int, ...] = (4, 6, 8)


def check_bits_options(name: str, bits: tuple[int, ...]) -> None:
    """Raises ConfigError unless ``bits`` is a non-empty set of search bit-widths."""
    if not bits:
        raise ConfigError(f"`{name}` needs at least one bit-width, e.g. 8 or 4,8.")
    for b in bits:
        if b not in BITS:
            raise ConfigError(
                f"`{name}` must be chosen from {', '.join(map(str, BITS))}, but got {b!r}."
            )
    if len(set(bits)) != len(bits):
        raise ConfigError(f"`{name}` lists a bit-width twice: {bits}.")


def check_mapper(mapper: str, bits_aware: bool, nested_buffers: bool = False) -> None:
    """Raises ConfigError, naming the fix, for a mapper option the analytical model refuses
    (its own rules: the model is built once here and dropped)."""
    check_choice("mapper", mapper, MAPPER_METRICS)
    AnalyticalModel(mapper_metric=mapper, nested_buffers=nested_buffers, bits_aware=bits_aware)


def cost_model(spec: RunSpec) -> AnalyticalModel:
    """The analytical model a spec prices with: its ``mapper`` and ``bits_aware`` options
    (and ``nested_buffers``, which only the hardware sweep has)."""
    return AnalyticalModel(mapper_metric=spec.mapper, bits_aware=spec.bits_aware,
                           nested_buffers=getattr(spec, "nested_buffers", False))  # fmt: skip


def _check_name(what: str, value: str, names: list[str], fix: str) -> None:
    if value.lower() not in names:
        raise ConfigError(
            f"unknown {what} {value!r}; choose one of: {', '.join(names)}. {fix}".rstrip()
        )


@register_spec
@dataclasses.dataclass(frozen=True)
class HardwareSweepSpec(RunSpec):
    """Sweep an accelerator space for a fixed network at uniform bit-widths.

    Args:
        network: Built-in workload (``search networks``), a layer file (``.json``/``.yaml``,
            the ``Workload.to_dict`` format), an ``.onnx`` graph, or a torch model factory
            ``package.module:factory`` (with ``input_shape``).
        input_shape: (N, C, H, W) for a model factory, or concrete dimensions of an ONNX
            graph's symbolic input; empty otherwise.
        accel_space: Accelerator design space (``edge``, ``tiny``...).
        bits: Uniform weight/activation bit-widths to try.
        batch: Images per inference call.
        constraints: Hard bounds every kept design meets.
        mapper: What the cost model's mapper minimises per layer (``edp``, the default, as
            for every search; ``latency``, ``energy``, ``balanced``).
        nested_buffers: Also try the tilings of every halving of the buffers (needs a
            latency-aware ``mapper``).
        bits_aware: The mapper also sizes tiles at the layers' own bit-widths (default on).

    Example:
        >>> HardwareSweepSpec(constraints=Constraints(fps_min=30)).label
        'hw-resnet20'
    """

    kind = "hardware-sweep"

    network: str = "resnet20"
    input_shape: tuple[int, ...] = ()
    accel_space: str = "edge"
    bits: tuple[int, ...] = (8,)
    batch: int = 1
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    mapper: str = SEARCH_MAPPER
    bits_aware: bool = SEARCH_BITS_AWARE
    nested_buffers: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_mapper(self.mapper, self.bits_aware, self.nested_buffers)
        if not (self.network.lower().endswith(USER_WORKLOAD_SUFFIXES)
                or is_factory_ref(self.network)):  # fmt: skip
            _check_name("network", self.network, network_names(), "See `search networks`, or "
                        "give a .json/.yaml/.onnx file or package.module:factory.")  # fmt: skip
        if self.input_shape:
            parse_shape(self.input_shape)
        _check_name("accelerator space", self.accel_space, DESIGN_SPACES.names(), "")
        check_bits_options("bits", self.bits)
        check_range("batch", self.batch, 1, 1024)

    @property
    def label(self) -> str:
        name = self.network.rpartition(":")[2] if is_factory_ref(self.network) else self.network
        return f"hw-{Path(name).stem}"


@register_spec
@dataclasses.dataclass(frozen=True)
class CoSearchSpec(RunSpec):
    """Co-search architecture, per-layer bits and accelerator on a task (issue #13).

    Args:
        strategy: A registered strategy (``dance-hdx``, ``dance-soft``...).
        task: Labelled data (``digits`` is built in; others read ``data``).
        data: Folder or file of the task's data, when it is not built in.
        space: Joint search space (``search spaces``).
        constraints: Hard bounds.
        objective: Hardware cost minimised beside cross-entropy.
        cost_weight: lambda in CE + lambda * cost (``dance-soft`` also weighs the bounds'
            log-space violation by it).
        steps: Search steps (one weight update each, plus an architecture update after the
            warm-up); the budget is in steps, not seconds.
        warmup_steps: Weight-only steps before the architecture is updated.
        batch_size: Images per step.
        weight_lr, arch_lr: Learning rates of the supernet weights (SGD, cosine) and of the
            architecture/bit logits (plain SGD, as HDX's guarantee needs).
        grad_clip: Largest norm of the supernet weights' gradient per step (as DARTS; 0 =
            no clipping). Without it a rare spike through a low-bit path (norm ~360 where
            steps run at 2-10) can blow the shared weights up and leave chance accuracy.
        margin: HDX's safety margin on predicted bounds (log space; 0.05 ~ 5 %).
        finetune_steps: Steps training the first winner's inherited weights alone.
        top_k: Distinct winners derived from the final logits.
        bits: The bit-widths a slot may take (a subset of the space's). Empty: with
            ``quantize`` (the default) the space's widths in ``ZERO_SHOT_BITS`` (4, 6, 8),
            which zero-shot quantization holds up at; without it, all of the space's.
        trials: Designs the ``optuna-nsga2`` baseline evaluates after the weight training.
        study_storage: SQLAlchemy URL of the Optuna study database (``optuna-nsga2``);
            ``sqlite:///results/optuna.db`` when empty.
        max_seconds: Optional wall-clock cap (a safety net; 0 = none).
        quantize: Hand every winner to the zero-shot quantization core (after its own
            fine-tune): quantized at its searched bits from synthetic data only, scored on
            the test split, exported as an integer model.
        quant_compare_w8: The hand-off also quantizes each winner at uniform W8A8 (zero-shot
            and data-aware fake quantization; ``search bench handoff``).
        quant_images, quant_synthetic_steps, quant_iters: The hand-off's budget per winner:
            synthetic images, optimisation steps making them, reconstruction steps per unit.
        mapper: What the cost model's mapper minimises per layer, for the evaluator's labels
            and the winners' verification alike (``edp``, the default; ``latency``,
            ``energy``, ``balanced``). Each mapper has its own cached evaluator.
        bits_aware: The mapper also sizes tiles at the layers' own bit-widths (a buffer
            holds twice the 4-bit words; default on); its own cached evaluator too.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: Seed of data splits, initialisation and sampling.
    """

    kind = "co-search"

    strategy: str = "dance-hdx"
    task: str = "digits"
    data: str | None = None
    space: str = "micro"
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    objective: str = "edp"
    cost_weight: float = 0.02
    steps: int = 300
    warmup_steps: int = 100
    batch_size: int = 32
    weight_lr: float = 0.05
    arch_lr: float = 1.0
    grad_clip: float = 5.0
    margin: float = 0.05
    finetune_steps: int = 100
    top_k: int = 3
    bits: tuple[int, ...] = ()
    trials: int = 48
    study_storage: str | None = None
    max_seconds: float = 0.0
    quantize: bool = True
    quant_images: int = 64
    quant_synthetic_steps: int = 100
    quant_iters: int = 100
    quant_compare_w8: bool = False
    mapper: str = SEARCH_MAPPER
    bits_aware: bool = SEARCH_BITS_AWARE
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name("joint space", self.space, SPACES.names(), "See `search spaces`.")
        _check_name("task", self.task, TASKS.names(), "")
        check_mapper(self.mapper, self.bits_aware)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_range("cost_weight", self.cost_weight, 0.0, 1e6)
        check_range("steps", self.steps, 1, 10_000_000)
        check_range("warmup_steps", self.warmup_steps, 0, 10_000_000)
        check_range("top_k", self.top_k, 1, 100)
        check_range("trials", self.trials, 2, 1_000_000)
        if self.bits:
            check_bits_options("bits", self.bits)
        elif self.quantize:  # the spec records the widths it searches
            widths = tuple(b for b in SPACES.get(self.space).bits if b in ZERO_SHOT_BITS)
            object.__setattr__(self, "bits", widths)
        check_range("quant_images", self.quant_images, 8, 1_000_000)
        check_range("quant_synthetic_steps", self.quant_synthetic_steps, 1, 1_000_000)
        check_range("quant_iters", self.quant_iters, 1, 10_000_000)
        check_range("batch_size", self.batch_size, 1, 65_536)
        check_range("weight_lr", self.weight_lr, 1e-6, 10.0)
        check_range("arch_lr", self.arch_lr, 1e-6, 100.0)
        check_range("grad_clip", self.grad_clip, 0.0, 1e6)
        check_range("margin", self.margin, 0.0, 1.0)
        check_range("finetune_steps", self.finetune_steps, 0, 10_000_000)
        if self.warmup_steps >= self.steps:
            raise ConfigError(
                f"`warmup_steps` ({self.warmup_steps}) must be below `steps` ({self.steps}): "
                "the architecture is only updated after the warm-up."
            )
        check_range("max_seconds", self.max_seconds, 0.0, 7 * 86_400)
        check_range("seed", self.seed, 0, 2**31 - 1)

    @property
    def label(self) -> str:
        return f"cosearch-{self.strategy}-{self.task}"


@register_spec
@dataclasses.dataclass(frozen=True)
class DataFreeSpec(RunSpec):
    """Per-layer bits and accelerator for a pretrained model, without its data (issue #15).

    Args:
        model: A built-in model name or ``package.module:factory``.
        weights: Its trained weights (a state dict).
        eval_data: Optional test data to score the winners on.
        accel_space: Accelerator design space.
        bits: Bit-widths each layer may take.
        constraints: Hard bounds.
        objective: Hardware cost to minimise.
        steps: Search steps (one HDX step on the per-layer bit logits each).
        cost_weight: lambda in sensitivity + lambda * log objective.
        sweep: Further lambdas searched in the same run (same tables, synthetic set and
            sensitivities); their top-k join the designs, so the run returns a front of
            accuracy-cost trade-offs instead of one point.
        top_k: Bit assignments verified and quantized (per lambda).
        uniform: Uniform bit-widths compared in the same run (each on its own best feasible
            accelerator).
        budgeted: For each uniform choice that meets the bounds, also the bits the
            sensitivity table ranks best at no more energy on that choice's accelerator (a
            multiple-choice knapsack solved exactly, as HAWQ-V3's integer program); verified
            and quantized like every design.
        budget_fractions: The knapsack's energy budgets, as fractions of each uniform
            choice's energy: 1 asks for the best bits at the same energy, smaller ones for
            points of the front below it (a mixed design as accurate as the uniform one at
            less energy also dominates it).
        images, synthetic_steps, recon_iters: The quantization core's budget: synthetic
            images (also the sensitivity set), steps making them, reconstruction steps per
            unit.
        cache_dir: Where synthetic sets are cached (per teacher).
        mapper, bits_aware, device, seed: As for the co-search.
    """

    kind = "data-free"

    model: str = "resnet20"
    weights: str | None = None
    eval_data: str | None = None
    accel_space: str = "edge"
    bits: tuple[int, ...] = BITS
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    objective: str = "edp"
    steps: int = 500
    cost_weight: float = 0.02
    sweep: tuple[float, ...] = ()
    top_k: int = 3
    uniform: tuple[int, ...] = (8, 6, 4)
    budgeted: bool = True
    budget_fractions: tuple[float, ...] = (1.0, 0.97, 0.94)
    images: int = 64
    synthetic_steps: int = 100
    recon_iters: int = 100
    cache_dir: str | None = None
    mapper: str = SEARCH_MAPPER
    bits_aware: bool = SEARCH_BITS_AWARE
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name("accelerator space", self.accel_space, DESIGN_SPACES.names(), "")
        check_mapper(self.mapper, self.bits_aware)
        check_bits_options("bits", self.bits)
        for b in self.uniform:
            check_range("uniform bit-width", b, 2, 8)
        check_range("cost_weight", self.cost_weight, 0.0, 1e6)
        for lam in self.sweep:
            check_range("sweep lambda", lam, 0.0, 1e6)
        if len(set((self.cost_weight, *self.sweep))) != 1 + len(self.sweep):
            raise ConfigError(f"`sweep` {list(self.sweep)} repeats a lambda (cost_weight is "
                              f"{self.cost_weight}); list each once.")  # fmt: skip
        check_range("top_k", self.top_k, 1, 100)
        fracs = self.budget_fractions
        if not fracs or len(set(fracs)) != len(fracs):
            raise ConfigError(f"`budget_fractions` {list(fracs)} must list at least one "
                              "fraction, each once (e.g. [1.0, 0.97, 0.94]).")  # fmt: skip
        for f in self.budget_fractions:
            check_range("budget fraction", f, 0.01, 1.0)
        check_range("images", self.images, 8, 1_000_000)
        check_range("synthetic_steps", self.synthetic_steps, 1, 1_000_000)
        check_range("recon_iters", self.recon_iters, 1, 10_000_000)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_range("steps", self.steps, 1, 10_000_000)
        check_range("seed", self.seed, 0, 2**31 - 1)

    @property
    def label(self) -> str:
        return f"datafree-{self.model}"


@register_spec
@dataclasses.dataclass(frozen=True)
class CompareSpec(RunSpec):
    """Several strategies on the same co-search problem, budget and seeds (issue #15).

    Args:
        problem: The co-search every strategy runs (its ``strategy`` field is replaced).
        strategies: Strategy names.
        seeds: Seeds per strategy (0, 1, ...).
    """

    kind = "compare"

    problem: CoSearchSpec = dataclasses.field(
        default_factory=lambda: CoSearchSpec(quantize=False)  # compare runs never quantize
    )
    strategies: tuple[str, ...] = ("dance-hdx", "dance-soft", "random")
    seeds: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.strategies:
            raise ConfigError("`strategies` needs at least one strategy name.")
        check_range("seeds", self.seeds, 1, 100)

    @property
    def label(self) -> str:
        return "compare"


@register_spec
@dataclasses.dataclass(frozen=True)
class EvaluatorSpec(RunSpec):
    """Train the DANCE evaluator on cost-model labels and the hardware generator through it.

    Args:
        space: Joint search space (``search spaces``).
        objective: The generator's objective.
        constraints: Bounds the generator is trained to meet (hinge penalties).
        samples: Labelled training designs.
        train_steps: Evaluator optimiser steps.
        generator_steps: Generator optimiser steps.
        max_seconds: Optional wall-clock cap on each training (0 = none).
        mapper: What the labelling cost model's mapper minimises per layer (``edp``, the
            default, as for every search; ``latency``, ``energy``, ``balanced``).
        bits_aware: The mapper also sizes tiles at the layers' own bit-widths (default on).
        seed: Seed.
    """

    kind = "evaluator"

    space: str = "mbv2-cifar"
    objective: str = "edp"
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    samples: int = 200_000
    train_steps: int = 9600
    generator_steps: int = 2200
    max_seconds: float = 0.0
    mapper: str = SEARCH_MAPPER
    bits_aware: bool = SEARCH_BITS_AWARE
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name("joint space", self.space, SPACES.names(), "See `search spaces`.")
        check_choice("objective", self.objective, OBJECTIVES)
        check_mapper(self.mapper, self.bits_aware)
        check_range("samples", self.samples, 100, 10_000_000)
        check_range("train_steps", self.train_steps, 1, 100_000_000)
        check_range("generator_steps", self.generator_steps, 1, 100_000_000)
        check_range("max_seconds", self.max_seconds, 0.0, 7 * 86_400)
        check_range("seed", self.seed, 0, 2**31 - 1)

    @property
    def label(self) -> str:
        return f"evaluator-{self.space}"
