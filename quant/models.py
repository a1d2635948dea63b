"""Models the quantization core knows by name, and loading their weights safely.

CIFAR ResNet-20/32/44/56 follow He et al. (2016), section 4.2: a 3x3 stem with 16 channels,
three stages of n basic blocks (16/32/64 channels, stride 2 at the first block of stages 2
and 3), global average pooling and one linear layer. The shortcut is option A: no
parameters; on a downsampling block the input is subsampled by 2 and zero-padded with
planes/4 channels on each side. This matches the pretrained checkpoints in shared/data.

MobileNetV2 for CIFAR (Sandler et al., 2018) keeps the ImageNet block table but uses a
stride-1 stem and stride 1 in the second stage, the usual adaptation to 32x32 inputs.

Any other ``nn.Module`` with BatchNorm layers can be quantized too; these are conveniences.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.errors import ConfigError
from coexplore.registry import Registry

__all__ = [
    "CifarResNet",
    "MobileNetV2Cifar",
    "MODELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_model",
    "load_state_dict_file",
    "load_model",
]

log = logging.getLogger(__name__)

#: Normalisation the akamaster checkpoints were trained with (ImageNet constants).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _PadShortcut(nn.Module):
    """Option-A shortcut: stride-2 subsampling plus zero channels on both sides."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))  # (B, C+2p, H/2, W/2)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = _PadShortcut(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs with option-A shortcuts.

    Args:
        depth: 20, 32, 44, 56 (any 6n+2).
        num_classes: outputs of the last layer.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56), got {depth}.")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, planes_in = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(planes_in, planes, stride if i == 0 else 1))
                planes_in = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) -> (B, classes)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # (B, 64)
        return self.linear(out)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class MobileNetV2Cifar(nn.Module):
    """MobileNetV2 (width 1.0) for 32x32 inputs."""

    # (expansion, channels, repeats, stride), the paper's table with CIFAR strides
    CFG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        feats: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())
        ]
        cin = 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                feats.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(
            nn.Sequential(nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6())
        )
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)  # (B, 1280)
        return self.classifier(out)


MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
for _depth in (20, 32, 44, 56):
    MODELS.register(f"resnet{_depth}", lambda num_classes=10, d=_depth: CifarResNet(d, num_classes))
MODELS.register("mobilenetv2", lambda num_classes=10: MobileNetV2Cifar(num_classes))


def build_model(name: str, num_classes: int = 10) -> nn.Module:
    """A fresh (randomly initialised) model by name; :data:`MODELS` lists the names."""
    return MODELS.get(name)(num_classes=num_classes)


def load_state_dict_file(path: str | Path) -> OrderedDict[str, torch.Tensor]:
    """Reads a checkpoint safely (``weights_only=True``) and returns its state dict.

    Accepts a bare state dict or a dict holding one under ``state_dict``/``model``; strips a
    DataParallel ``module.`` prefix.

    Raises:
        ConfigError: the file is missing, is not a torch checkpoint, or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {str(path)!r} does not exist; pass a .pt/.th file.")
    try:
        with warnings.catch_warnings():  # torch warns about pickles before it refuses one
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc).lower()  # torch names the classes a pickle needs ("global")
        if "unsupported global" not in text and "can still be loaded" not in text:
            raise ConfigError(
                f"{str(path)!r} is not a loadable torch checkpoint (it cannot be unpickled), "
                "so it was not loaded; save one with torch.save(model.state_dict(), path)."
            ) from None
        # torch's own message ends by suggesting weights_only=False: for a file from
        # someone else that would run any code it holds, so it is not repeated here.
        raise ConfigError(
            f"{str(path)!r} is not a plain state dict (it holds Python objects other than "
            "tensors), so it was not loaded: loading it would run code from the file. Save "
            "the weights with torch.save(model.state_dict(), path) and pass that file."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any other failure means "not a checkpoint"
        raise ConfigError(
            f"{str(path)!r} is not a loadable torch checkpoint ({type(exc).__name__}), so it "
            "was not loaded; save one with torch.save(model.state_dict(), path)."
        ) from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ConfigError(
            f"{str(path)!r} holds no state dict (a mapping of names to tensors); save one with "
            "torch.save(model.state_dict(), path)."
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return OrderedDict(obj)


def load_model(name: str, weights: str | Path, num_classes: int | None = None) -> nn.Module:
    """Builds ``name`` and loads ``weights`` into it strictly, in eval mode.

    The class count is read from the checkpoint's last layer unless given.

    Raises:
        ConfigError: unreadable file, or keys/shapes that do not fit the model.
    """
    state = load_state_dict_file(weights)
    if num_classes is None:
        bias = [v for k, v in state.items() if k.endswith("bias") and v.dim() == 1]
        num_classes = int(bias[-1].numel()) if bias else 10
    model = build_model(name, num_classes)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        raise ConfigError(
            f"weights {str(weights)!r} do not fit model {name!r}: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
            f"(e.g. {unexpected[:3]}), {len(shapes)} of another shape (e.g. {shapes[:3]}). "
            f"Pick the --model the checkpoint was trained as ({', '.join(MODELS.names())})."
        )
    model.load_state_dict(state, strict=False)
    return model.eval()
