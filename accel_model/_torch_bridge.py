"""Workload extraction from a torch module. Imported only when called: torch is heavy."""

from __future__ import annotations

from collections.abc import Sequence

from coexplore.accel_model.workload import Layer, Workload
from coexplore.errors import ConfigError


def workload_from_torch(
    module,
    input_shape: Sequence[int],
    *,
    name: str | None = None,  # noqa: ANN001
    w_bits: int = 8,
    a_bits: int = 8,
) -> Workload:
    """Runs one forward pass on zeros and records every Conv2d and Linear layer.

    Args:
        module: A ``torch.nn.Module``.
        input_shape: (N, C, H, W) for conv nets, (N, F) for MLPs.
        name: Workload name; the module's class name by default.
        w_bits, a_bits: Bit-widths given to every layer.

    Returns:
        The layers in execution order, named by their module path.

    Raises:
        ConfigError: if the module has no Conv2d/Linear layer or the shape does not fit it.
    """
    import torch
    from torch import nn

    layers: list[Layer] = []
    names = {m: n for n, m in module.named_modules()}

    def hook(mod, inputs, output):  # noqa: ANN001, ANN202
        x = inputs[0]
        batch = int(x.shape[0])
        if isinstance(mod, nn.Conv2d):
            if mod.kernel_size[0] != mod.kernel_size[1] and False:
                pass
            if (
                mod.stride[0] != mod.stride[1]
                or mod.padding[0] != mod.padding[1]
                or isinstance(mod.padding, str)
            ):
                raise ConfigError(f"{names[mod]}: only square stride and padding are supported.")
            g = mod.groups
            kind = "conv"
            if g > 1 and g == mod.in_channels == mod.out_channels:
                kind = "depthwise"
            elif mod.kernel_size == (1, 1) and g == 1:
                kind = "pointwise"
            layers.append(
                Layer(
                    names[mod] or "conv",
                    kind,
                    mod.in_channels,
                    mod.out_channels,
                    int(x.shape[2]),
                    int(x.shape[3]),
                    mod.kernel_size[0],
                    mod.kernel_size[1],
                    mod.stride[0],
                    int(mod.padding[0]),
                    g,
                    w_bits,
                    a_bits,
                    batch,
                )
            )
        else:
            tokens = int(x.numel() // (x.shape[-1] * batch))
            layers.append(
                Layer(
                    names[mod] or "linear",
                    "linear",
                    mod.in_features,
                    mod.out_features,
                    tokens,
                    1,
                    1,
                    1,
                    1,
                    0,
                    1,
                    w_bits,
                    a_bits,
                    batch,
                )
            )

    handles = [
        m.register_forward_hook(hook)
        for m in module.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    if not handles:
        raise ConfigError(f"{type(module).__name__} has no Conv2d or Linear layer to price.")
    was_training = module.training
    try:
        module.eval()
        param = next(module.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            module(torch.zeros(tuple(input_shape), device=device))
    except RuntimeError as exc:
        raise ConfigError(
            f"input shape {tuple(input_shape)} does not fit the module: {exc}"
        ) from None
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return Workload(name or type(module).__name__, tuple(layers))
