"""Built-in workloads: CIFAR ResNets and MobileNetV2; ImageNet AlexNet, ResNet-18, VGG-16 and
MobileNetV2 (224x224)."""

from __future__ import annotations

from coexplore.accel_model.workload import Layer, Workload, conv_out
from coexplore.registry import Registry

__all__ = ["NETWORKS", "get_network", "network_names"]

NETWORKS: Registry = Registry("network")


def _conv(
    name: str,
    c: int,
    k: int,
    hw: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    kind: str = "conv",
) -> tuple[Layer, int]:
    pad = kernel // 2
    layer = Layer(name, kind, c, k, hw, hw, kernel, kernel, stride, pad, groups)
    return layer, conv_out(hw, kernel, stride, pad)


def resnet_cifar(depth: int) -> Workload:
    """ResNet-{20,32,44,56} for 32x32 CIFAR with option-A (parameter-free) shortcuts.

    Option A pads channels on the shortcut, so the shortcut costs no MACs and only the
    3x3 convolutions and the final linear layer appear.
    """
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    layers: list[Layer] = []
    conv, hw = _conv("conv1", 3, 16, 32, 3)
    layers.append(conv)
    c = 16
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(n):
            stride = 2 if (stage > 1 and block == 0) else 1
            a, hw2 = _conv(f"layer{stage}.{block}.conv1", c, width, hw, 3, stride)
            b, hw2 = _conv(f"layer{stage}.{block}.conv2", width, width, hw2, 3, 1)
            layers += [a, b]
            c, hw = width, hw2
    layers.append(Layer("linear", "linear", 64, 10))
    return Workload(f"resnet{depth}", tuple(layers))


# (expansion, out channels, blocks, first stride): the common CIFAR adaptation of MobileNetV2
# keeps stride 1 in the stem and in the second stage so that 32x32 ends at 4x4.
_MBV2_CIFAR = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


# the ImageNet original: stride 2 in the stem and in the second stage, 224x224 ends at 7x7
_MBV2_IMAGENET = ((1, 16, 1, 1), (6, 24, 2, 2), *_MBV2_CIFAR[2:])


def mobilenetv2_cifar(num_classes: int = 10) -> Workload:
    """MobileNetV2 for 32x32 inputs (stem stride 1), 10 classes."""
    return _mobilenetv2("mobilenetv2-cifar", 32, 1, _MBV2_CIFAR, num_classes)


def mobilenetv2_imagenet() -> Workload:
    """MobileNetV2 (width 1.0) for 224x224 ImageNet, 1000 classes (about 300 M MACs)."""
    return _mobilenetv2("mobilenetv2", 224, 2, _MBV2_IMAGENET, 1000)


def _mobilenetv2(name: str, size: int, stem_stride: int, table: tuple, num_classes: int
                 ) -> Workload:  # fmt: skip
    layers: list[Layer] = []
    stem, hw = _conv("stem", 3, 32, size, 3, stem_stride)
    layers.append(stem)
    c = 32
    idx = 0
    for expansion, out, blocks, first_stride in table:
        for b in range(blocks):
            stride = first_stride if b == 0 else 1
            hidden = c * expansion
            prefix = f"block{idx}"
            if expansion != 1:
                pw, _ = _conv(f"{prefix}.expand", c, hidden, hw, 1, kind="pointwise")
                layers.append(pw)
            dw, hw2 = _conv(
                f"{prefix}.dw", hidden, hidden, hw, 3, stride, groups=hidden, kind="depthwise"
            )
            proj, _ = _conv(f"{prefix}.project", hidden, out, hw2, 1, kind="pointwise")
            layers += [dw, proj]
            c, hw = out, hw2
            idx += 1
    head, _ = _conv("head", c, 1280, hw, 1, kind="pointwise")
    layers += [head, Layer("classifier", "linear", 1280, num_classes)]
    return Workload(name, tuple(layers))


def vgg16() -> Workload:
    """VGG-16 (configuration D) for 224x224 ImageNet: 13 3x3 convolutions, 3 FC layers
    (about 15.5 G MACs)."""
    layers: list[Layer] = []
    c, hw = 3, 224
    for stage, (width, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), 1):
        for i in range(1, n + 1):
            conv, hw = _conv(f"conv{stage}_{i}", c, width, hw, 3)
            layers.append(conv)
            c = width
        hw //= 2  # 2x2 max pool
    layers += [
        Layer("fc6", "linear", 512 * 7 * 7, 4096),
        Layer("fc7", "linear", 4096, 4096),
        Layer("fc8", "linear", 4096, 1000),
    ]
    return Workload("vgg16", tuple(layers))


def alexnet(conv_only: bool = False) -> Workload:
    """AlexNet for 227x227 ImageNet, two-group CONV2/4/5 as in the original (and Eyeriss)."""
    spec = (  # name, c, k, in_hw, kernel, stride, pad, groups
        ("conv1", 3, 96, 227, 11, 4, 0, 1),
        ("conv2", 96, 256, 27, 5, 1, 2, 2),
        ("conv3", 256, 384, 13, 3, 1, 1, 1),
        ("conv4", 384, 384, 13, 3, 1, 1, 2),
        ("conv5", 384, 256, 13, 3, 1, 1, 2),
    )
    layers = [Layer(n, "conv", c, k, hw, hw, kk, kk, s, p, g) for n, c, k, hw, kk, s, p, g in spec]
    if not conv_only:
        layers += [
            Layer("fc6", "linear", 9216, 4096),
            Layer("fc7", "linear", 4096, 4096),
            Layer("fc8", "linear", 4096, 1000),
        ]
    return Workload("alexnet-conv" if conv_only else "alexnet", tuple(layers))


def resnet18_imagenet() -> Workload:
    """ResNet-18 for 224x224 ImageNet, 1x1 projection shortcuts included."""
    layers: list[Layer] = [Layer("conv1", "conv", 3, 64, 224, 224, 7, 7, 2, 3)]
    hw = 56  # after the 3x3 stride-2 max pool
    c = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            a, hw2 = _conv(f"layer{stage}.{block}.conv1", c, width, hw, 3, stride)
            b, _ = _conv(f"layer{stage}.{block}.conv2", width, width, hw2, 3, 1)
            layers += [a, b]
            if stride != 1 or c != width:
                layers.append(
                    Layer(
                        f"layer{stage}.{block}.downsample",
                        "pointwise",
                        c,
                        width,
                        hw,
                        hw,
                        1,
                        1,
                        stride,
                        0,
                    )
                )
            c, hw = width, hw2
    layers.append(Layer("fc", "linear", 512, 1000))
    return Workload("resnet18", tuple(layers))


for _depth in (20, 32, 44, 56):
    NETWORKS.register(f"resnet{_depth}", lambda d=_depth: resnet_cifar(d))
NETWORKS.register("mobilenetv2-cifar", mobilenetv2_cifar)
NETWORKS.register("alexnet", lambda: alexnet(False))
NETWORKS.register("alexnet-conv", lambda: alexnet(True))
NETWORKS.register("resnet18", resnet18_imagenet)
NETWORKS.register("vgg16", vgg16)
NETWORKS.register("mobilenetv2", mobilenetv2_imagenet)


def get_network(name: str, batch: int = 1) -> Workload:
    """Builds a built-in workload by name (see :func:`network_names`).

    Raises:
        UnknownComponentError: naming the valid networks.
    """
    wl = NETWORKS.get(name)()
    return wl.with_batch(batch) if batch != 1 else wl


def network_names() -> list[str]:
    return NETWORKS.names()
