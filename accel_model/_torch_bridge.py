"""Workload extraction from a torch module. Imported only when called: torch is heavy."""

from __future__ import annotations

from collections.abc import Sequence

from coexplore.accel_model.workload import Layer, Workload
from coexplore.errors import ConfigError

# Modules with parameters that do no multiply-accumulate work the accelerator prices
# (element-wise scales and shifts, lookups); anything else with parameters that is not a
# priced layer is refused by name rather than dropped.
_NOT_PRICED = (
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "LayerNorm", "InstanceNorm1d",
    "InstanceNorm2d", "LocalResponseNorm", "PReLU", "Embedding", "RMSNorm",
)  # fmt: skip


def workload_from_torch(
    module,  # noqa: ANN001
    input_shape: Sequence[int],
    *,
    name: str | None = None,
    w_bits: int = 8,
    a_bits: int = 8,
) -> Workload:
    """Runs one forward pass on zeros and records every Conv1d, Conv2d and Linear layer.

    Dilation, groups, rectangular kernels and per-axis (or ``"same"``) padding are kept. A
    Conv1d over a length L is priced as a 1 x k convolution over a 1 x L map. Layers the
    cost model cannot price (a 3-D or transposed convolution, a stride that differs between
    the axes) and modules with weights the import does not understand are refused with
    their names: nothing is dropped silently.

    Args:
        module: A ``torch.nn.Module``.
        input_shape: (N, C, H, W) for conv nets, (N, C, L) for 1-D conv nets, (N, F) for MLPs.
        name: Workload name; the module's class name by default.
        w_bits, a_bits: Bit-widths given to every layer.

    Returns:
        The layers in execution order, named by their module path.

    Raises:
        ConfigError: if the module has no priced layer, has a layer the model cannot price,
            or the shape does not fit it.
    """
    import torch
    from torch import nn

    names = {m: n for n, m in module.named_modules()}
    _refuse_unpriceable(module, names)
    layers: list[Layer] = []

    def hook(mod, inputs, output):  # noqa: ANN001, ANN202
        x = inputs[0]
        batch = int(x.shape[0])
        label = names[mod] or type(mod).__name__.lower()
        if isinstance(mod, nn.Conv1d | nn.Conv2d):
            layer = _conv_layer(mod, label, x, batch, w_bits, a_bits)
            got = tuple(output.shape[2:]) if output.dim() == 4 else (1, int(output.shape[-1]))
            if (layer.out_h, layer.out_w) != got:
                raise ConfigError(
                    f"layer {label!r}: padding {mod.padding!r} is not symmetric within an "
                    f"axis (the output is {got}, a symmetric pad gives "
                    f"{(layer.out_h, layer.out_w)}); the cost model pads both sides alike."
                )
            layers.append(layer)
        else:
            tokens = int(x.numel() // (x.shape[-1] * batch))
            layers.append(Layer(label, "linear", mod.in_features, mod.out_features, tokens,
                                w_bits=w_bits, a_bits=a_bits, batch=batch))  # fmt: skip

    priced = (nn.Conv1d, nn.Conv2d, nn.Linear)  # transposed convolutions are not subclasses
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, priced)]
    if not handles:
        raise ConfigError(
            f"{type(module).__name__} has no Conv1d, Conv2d or Linear layer to price."
        )
    was_training = module.training
    try:
        module.eval()
        param = next(module.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            module(torch.zeros(tuple(input_shape), device=device))
    except ConfigError:
        raise  # a layer the hook refused, already named
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"input shape {tuple(input_shape)} does not fit the module: {exc}. Give "
            "--input-shape N,C,H,W (N,C,L for 1-D convolutions, N,F for MLPs)."
        ) from None
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    if not layers:
        raise ConfigError(
            f"{type(module).__name__}: the forward pass ran no Conv1d, Conv2d or Linear layer."
        )
    return Workload(name or type(module).__name__, tuple(layers))


def _refuse_unpriceable(module, names: dict) -> None:  # noqa: ANN001
    from torch import nn

    for m in module.modules():
        label = names[m] or type(m).__name__
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            raise ConfigError(
                f"layer {label!r} ({type(m).__name__}): transposed convolutions are not priced "
                "by the cost model; replace it or price the network without it."
            )
        if isinstance(m, nn.Conv3d):
            raise ConfigError(
                f"layer {label!r} (Conv3d): 3-D convolutions are not priced by the cost model."
            )
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear) or type(m).__name__ in _NOT_PRICED:
            continue
        own = [n for n, _ in m.named_parameters(recurse=False)]
        if own:
            raise ConfigError(
                f"layer {label!r} ({type(m).__name__}) has weights ({', '.join(own)}) the "
                "import does not know how to price; only Conv1d, Conv2d and Linear layers "
                "(and normalisation layers, which are not priced) are supported."
            )


def _conv_layer(mod, label: str, x, batch: int, w_bits: int, a_bits: int) -> Layer:  # noqa: ANN001
    from torch import nn

    one_d = isinstance(mod, nn.Conv1d)
    # a Conv1d is a 1 x k convolution over a 1 x L map
    kh, kw = (1, mod.kernel_size[0]) if one_d else mod.kernel_size
    sh, sw = (1, mod.stride[0]) if one_d else mod.stride
    dh, dw = (1, mod.dilation[0]) if one_d else mod.dilation
    in_h, in_w = (1, int(x.shape[2])) if one_d else (int(x.shape[2]), int(x.shape[3]))
    if one_d:  # a single row of a 1 x k kernel: the row stride and dilation never apply
        sh, dh = sw, dw
    if sh != sw:
        raise ConfigError(
            f"layer {label!r}: stride {tuple(mod.stride)} differs between the axes; the cost "
            "model prices one stride per layer."
        )
    if dh != dw:
        raise ConfigError(
            f"layer {label!r}: dilation {tuple(mod.dilation)} differs between the axes; the "
            "cost model prices one dilation per layer."
        )
    ph, pw = _pads(mod, kh, kw, dh)  # reflect/replicate pads read the same window as zeros
    if one_d:
        ph = 0
    g = mod.groups
    kind = "conv"
    if g > 1 and g == mod.in_channels == mod.out_channels:
        kind = "depthwise"
    elif (kh, kw) == (1, 1) and g == 1:
        kind = "pointwise"
    return Layer(
        label, kind, mod.in_channels, mod.out_channels, in_h, in_w, kh, kw, sw, ph, g,
        w_bits, a_bits, batch, padding_w=None if pw == ph else pw, dilation=dw,
    )  # fmt: skip


def _pads(mod, kh: int, kw: int, dil: int) -> tuple[int, int]:  # noqa: ANN001
    """(rows, columns) of padding; ``"same"`` resolved as torch does (stride 1)."""
    if isinstance(mod.padding, str):
        if mod.padding == "valid":
            return 0, 0
        # "same": total padding dil * (k - 1), half on each side (an odd total is refused by
        # the output-size check of the caller)
        return dil * (kh - 1) // 2, dil * (kw - 1) // 2
    if len(mod.padding) == 1:
        return 0, int(mod.padding[0])
    return int(mod.padding[0]), int(mod.padding[1])
