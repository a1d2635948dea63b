"""Synthetic calibration data from the teacher alone (no real data anywhere in this path).

Two makers, both matching the statistics stored in the teacher's BatchNorm layers (the batch
mean and variance at every BN input against its running mean and variance, as in ZeroQ,
DeepInversion and GDFQ):

- ``pixels``: the images themselves are the parameters (ZeroQ/SynQ style), with a
  label-conditioned cross-entropy so that every class is represented.
- ``genie``: per batch, a small generator with learnable per-sample latents (Genie,
  Jeon et al., 2023); its convolutions "swing" (a random one-pixel shift of a reflect-padded
  input) against checkerboard artifacts.

Options shared by both:
- SynQ's low-pass filter: the image is filtered in the centred 2-D spectrum by
  G(u, v) = exp(-D^2 / (2 D0^2)) inside the optimisation loop, so what matches the BN
  statistics is the filtered image. On 32x32 images the largest D is about 22.6, so D0 must
  be well below that to filter at all (``lpf_cutoff``; None turns it off).
- Qimera-style boundary samples: a fraction of each batch is pulled toward mixtures of two
  classes (convex weights), with the mixture as its soft label.

Sets are cached on disk per teacher and configuration: the key hashes the teacher's state
dict, the configuration and this module's format version, and is reused for every bit-width
configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.config import ConfigBase, check_choice, check_range
from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn, emit
from coexplore.runs import atomic_write

__all__ = [
    "SyntheticConfig",
    "SyntheticSet",
    "make_synthetic",
    "load_or_make_synthetic",
    "low_pass",
    "teacher_fingerprint",
    "default_cache_dir",
]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SyntheticConfig(ConfigBase):
    """How a synthetic set is made. Every field is part of the cache key.

    The default size (512 images) is the budget ``search bench zsq`` measures, so the
    timings and accuracies in results/zsq.md are those of a default ``search quantize``.
    """

    method: str = "pixels"
    n_images: int = 512
    batch_size: int = 128
    steps: int = 200
    lr: float = 0.2
    ce_weight: float = 0.1
    lpf_cutoff: float | None = 12.0
    boundary_fraction: float = 0.25
    image_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("method", self.method, ("pixels", "genie"))
        check_range("n_images", self.n_images, 1, 1_000_000)
        check_range("batch_size", self.batch_size, 1, 100_000)
        check_range("steps", self.steps, 1, 1_000_000)
        check_range("lr", self.lr, 1e-6, 100.0)
        check_range("ce_weight", self.ce_weight, 0.0, 1e3)
        if self.lpf_cutoff is not None:
            check_range("lpf_cutoff", self.lpf_cutoff, 0.5, 1e3, "None turns the filter off.")
        check_range("boundary_fraction", self.boundary_fraction, 0.0, 1.0)
        check_range("image_size", self.image_size, 4, 4096)


@dataclasses.dataclass
class SyntheticSet:
    """Images (N, 3, H, W) in the teacher's input space and soft labels (N, classes)."""

    images: torch.Tensor
    soft_labels: torch.Tensor
    config: SyntheticConfig
    seconds: float
    cache_path: Path | None = None
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.images)


def default_cache_dir() -> Path:
    """``$COEXPLORE_CACHE`` or ``~/.cache/coexplore``."""
    return Path(os.environ.get("COEXPLORE_CACHE", Path.home() / ".cache" / "coexplore"))


def teacher_fingerprint(model: nn.Module) -> str:
    """sha256 over the teacher's state dict (names, shapes, values)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def low_pass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Gaussian low-pass filter in the centred 2-D spectrum; x: (B, C, H, W)."""
    h, w = x.shape[-2:]
    u = torch.arange(h, device=x.device, dtype=x.dtype) - h // 2
    v = torch.arange(w, device=x.device, dtype=x.dtype) - w // 2
    d2 = u[:, None] ** 2 + v[None, :] ** 2  # (H, W) squared distance from the centre
    g = torch.exp(-d2 / (2 * cutoff**2))
    spec = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    return torch.fft.ifft2(torch.fft.ifftshift(spec * g, dim=(-2, -1))).real


class _BNStats:
    """Hooks that collect, per BN layer, the distance of the batch statistics of its input
    to the running statistics."""

    def __init__(self, model: nn.Module) -> None:
        self.losses: list[torch.Tensor] = []
        self.hooks = [
            m.register_forward_hook(self._hook)
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        if not self.hooks:
            raise ConfigError(
                "the teacher has no BatchNorm layer: synthetic data is matched to BN "
                "statistics, so a BN-free model cannot be quantized zero-shot."
            )

    def _hook(self, bn: nn.Module, inp: tuple[torch.Tensor], _out: torch.Tensor) -> None:
        x = inp[0]
        dims = [0] + list(range(2, x.dim()))
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        self.losses.append(
            torch.linalg.vector_norm(mean - bn.running_mean)
            + torch.linalg.vector_norm(var - bn.running_var)
        )

    def pop(self) -> torch.Tensor:
        loss = torch.stack(self.losses).sum()
        self.losses = []
        return loss

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()


class _SwingConv(nn.Conv2d):
    """3x3 conv whose input is reflect-padded by one more pixel and randomly re-cropped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            h, w = x.shape[-2:]
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            i, j = torch.randint(0, 3, (2,)).tolist()
            x = x[:, :, i : i + h, j : j + w]
        return super().forward(x)


class _Generator(nn.Module):
    """Latent (B, L) -> image (B, 3, S, S): a linear map to S/4 x S/4, two upsampling
    stages. Kept small: it lives for one batch."""

    def __init__(self, latent: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.s0, self.width = size // 4, width
        self.fc = nn.Linear(latent, width * self.s0 * self.s0)
        self.body = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.Upsample(scale_factor=2),
            _SwingConv(width, width, 3, 1, 1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            _SwingConv(width, width // 2, 3, 1, 1),
            nn.BatchNorm2d(width // 2),
            nn.LeakyReLU(0.2),
            _SwingConv(width // 2, 3, 3, 1, 1),
            nn.BatchNorm2d(3, affine=False),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(-1, self.width, self.s0, self.s0))


def _targets(n: int, classes: int, frac: float, gen: torch.Generator) -> torch.Tensor:
    """Soft labels (n, classes): balanced hard classes, a fraction mixed with a second one."""
    hard = torch.arange(n) % classes
    hard = hard[torch.randperm(n, generator=gen)]
    y = F.one_hot(hard, classes).float()
    k = int(round(frac * n))
    if k and classes > 1:
        other = (hard[:k] + torch.randint(1, classes, (k,), generator=gen)) % classes
        lam = 0.3 + 0.4 * torch.rand(k, generator=gen)  # convex weights away from the ends
        y[:k] = lam[:, None] * y[:k] + (1 - lam[:, None]) * F.one_hot(other, classes).float()
    return y


def _num_classes(model: nn.Module, size: int, device: torch.device) -> int:
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, size, size, device=device)).shape[1])


def make_synthetic(
    teacher: nn.Module,
    config: SyntheticConfig,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> SyntheticSet:
    """Makes a synthetic set from ``teacher`` (left unchanged; BN layers in eval mode).

    Raises:
        ConfigError: the teacher has no BatchNorm layer.
    """
    device = torch.device(device)
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    stats = _BNStats(teacher)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    size, classes = config.image_size, _num_classes(teacher, config.image_size, device)
    t0 = time.perf_counter()
    images, labels = [], []
    n_batches = -(-config.n_images // config.batch_size)
    try:
        for bi in range(n_batches):
            n = min(config.batch_size, config.n_images - bi * config.batch_size)
            y = _targets(n, classes, config.boundary_fraction, gen).to(device)
            x = _optimise_batch(teacher, stats, config, y, size, gen, device)
            images.append(x.detach().cpu())
            labels.append(y.cpu())
            emit(progress, "synthetic", bi + 1, n_batches, f"synthetic batch {bi + 1}/{n_batches}")
    finally:
        stats.remove()
    return SyntheticSet(torch.cat(images), torch.cat(labels), config, time.perf_counter() - t0)


def _optimise_batch(
    teacher: nn.Module,
    stats: _BNStats,
    config: SyntheticConfig,
    y: torch.Tensor,
    size: int,
    gen: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    n = len(y)
    if config.method == "pixels":
        param = torch.randn(n, 3, size, size, generator=gen).to(device).requires_grad_(True)
        params: list[torch.Tensor] = [param]
        render: Callable[[], torch.Tensor] = lambda: param  # noqa: E731
        lr = config.lr
    else:
        g = _Generator(256, size).to(device)
        z = torch.randn(n, 256, generator=gen).to(device).requires_grad_(True)
        params = [z, *g.parameters()]
        render = lambda: g(z)  # noqa: E731
        lr = config.lr * 0.05  # generator weights want a far smaller step than pixels
    opt = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    for _ in range(config.steps):
        x = render()
        if config.lpf_cutoff is not None:
            x = low_pass(x, config.lpf_cutoff)
        logits = teacher(x)
        loss = stats.pop()
        if config.ce_weight > 0:
            loss = loss + config.ce_weight * torch.sum(-y * F.log_softmax(logits, 1), 1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        x = render()
        if config.lpf_cutoff is not None:
            x = low_pass(x, config.lpf_cutoff)
    stats.losses = []
    return x


def cache_key(teacher: nn.Module, config: SyntheticConfig) -> str:
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}".encode())
    h.update(teacher_fingerprint(teacher).encode())
    h.update(config.to_json().encode())
    return h.hexdigest()[:24]


def load_or_make_synthetic(
    teacher: nn.Module,
    config: SyntheticConfig,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> SyntheticSet:
    """The cached set for (teacher, config) if there is one, else a new one, cached
    atomically under ``cache_dir`` (default :func:`default_cache_dir`)."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / "synthetic" / f"{cache_key(teacher, config)}.pt"
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("config") == config.to_json():
                log.info("synthetic set from cache %s", path)
                return SyntheticSet(
                    blob["images"], blob["soft_labels"], config, float(blob["seconds"]),
                    path, from_cache=True,
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, not fatal
            log.warning("ignoring unreadable synthetic cache %s (%s)", path, exc)
    synth = make_synthetic(teacher, config, device, progress)
    blob = {
        "images": synth.images,
        "soft_labels": synth.soft_labels,
        "config": config.to_json(),
        "seconds": synth.seconds,
    }
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    synth.cache_path = path
    return synth
