"""Workload extraction from an ONNX graph (the optional ``onnx`` package). Conv (1-D and
2-D), Gemm and MatMul by a constant weight become :class:`Layer` records; shapes come from
ONNX shape inference. Nodes with MAC work the model cannot price are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coexplore.accel_model.workload import Layer, Workload
from coexplore.errors import ConfigError

# operators with multiply-accumulate work the cost model does not price
_REFUSED = ("ConvTranspose", "ConvInteger", "LSTM", "GRU", "RNN", "Einsum", "Attention",
            "QLinearConv", "QLinearMatMul", "MatMulInteger", "DeformConv")  # fmt: skip


def workload_from_onnx(
    path: str | Path,
    input_shape: tuple[int, ...] | None = None,
    w_bits: int = 8,
    a_bits: int = 8,
) -> Workload:
    """The priced layers of the ONNX graph at ``path``, in graph order.

    Args:
        input_shape: Replaces the first graph input's shape (needed when it is symbolic).
    """
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise ConfigError(
            "reading ONNX graphs needs the onnx package: pip install -e '.[onnx]'."
        ) from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and others
        raise ConfigError(f"{path}: not a readable ONNX model ({exc}).") from None
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if input_shape is not None and inputs:
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != len(input_shape):
            raise ConfigError(
                f"{path}: input {inputs[0].name!r} has {len(dims)} dimensions, --input-shape "
                f"gives {len(input_shape)}."
            )
        for d, v in zip(dims, input_shape, strict=True):
            d.ClearField("dim_param")
            d.dim_value = int(v)
    try:
        model = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:
        raise ConfigError(f"{path}: ONNX shape inference failed: {exc}") from None
    shapes: dict[str, tuple[Any, ...]] = {}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    layers: list[Layer] = []
    for i, node in enumerate(model.graph.node):
        label = node.name or f"{node.op_type.lower()}_{i}"
        if node.op_type in _REFUSED:
            raise ConfigError(
                f"node {label!r} ({node.op_type}): not priced by the cost model; only Conv, "
                "Gemm and MatMul by a constant weight are."
            )
        if node.op_type == "Conv":
            layers.append(_conv(node, label, shapes, inits, w_bits, a_bits))
        elif node.op_type in ("Gemm", "MatMul"):
            layer = _linear(node, label, shapes, inits, w_bits, a_bits)
            if layer is not None:
                layers.append(layer)
    if not layers:
        raise ConfigError(f"{path}: no Conv, Gemm or MatMul node to price.")
    return Workload(Path(path).stem, tuple(layers))


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _known(shape: tuple[Any, ...] | None, what: str, label: str) -> tuple[int, ...]:
    if shape is None or any(d is None for d in shape):
        raise ConfigError(
            f"node {label!r}: the shape of its {what} is unknown ({shape}); give "
            "--input-shape with concrete dimensions."
        )
    return tuple(int(d) for d in shape)


def _conv(node: Any, label: str, shapes: dict, inits: dict, wb: int, ab: int) -> Layer:
    x = _known(shapes.get(node.input[0]), "input", label)
    if node.input[1] not in inits:
        raise ConfigError(f"node {label!r}: Conv weights are not a constant initializer.")
    w = inits[node.input[1]].shape  # (M, C/g, kh[, kw])
    a = _attrs(node)
    if len(x) not in (3, 4):
        raise ConfigError(f"node {label!r}: a {len(x) - 2}-D convolution is not priced.")
    one_d = len(x) == 3
    kernel = tuple(a.get("kernel_shape", w[2:]))
    strides = tuple(a.get("strides", [1] * len(kernel)))
    dil = tuple(a.get("dilations", [1] * len(kernel)))
    pads = tuple(a.get("pads", [0] * 2 * len(kernel)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        out = _known(shapes.get(node.output[0]), "output", label)
        pads = _same_pads(x[2:], out[2:], kernel, strides, dil, label)
    n = len(kernel)
    begin, end = pads[:n], pads[n:]
    if begin != end:
        raise ConfigError(
            f"node {label!r}: padding {pads} differs between the two sides of an axis; the "
            "cost model pads both sides alike."
        )
    if len(set(strides)) > 1 or len(set(dil)) > 1:
        raise ConfigError(
            f"node {label!r}: strides {strides} / dilations {dil} differ between the axes; "
            "the cost model prices one of each per layer."
        )
    g = int(a.get("group", 1))
    if one_d:
        kh, kw, in_h, in_w, ph, pw = 1, kernel[0], 1, x[2], 0, begin[0]
    else:
        (kh, kw), (in_h, in_w), (ph, pw) = kernel, x[2:], begin
    cin, cout = x[1], w[0]
    kind = "conv"
    if g > 1 and g == cin == cout:
        kind = "depthwise"
    elif (kh, kw) == (1, 1) and g == 1:
        kind = "pointwise"
    return Layer(label, kind, cin, cout, in_h, in_w, kh, kw, strides[0], ph, g, wb, ab, x[0],
                 padding_w=None if pw == ph else pw, dilation=dil[0])  # fmt: skip


def _same_pads(size, out, kernel, strides, dil, label) -> tuple[int, ...]:  # noqa: ANN001
    total = [max(0, (o - 1) * s + d * (k - 1) + 1 - i)
             for i, o, k, s, d in zip(size, out, kernel, strides, dil, strict=True)]  # fmt: skip
    if any(t % 2 for t in total):
        raise ConfigError(
            f"node {label!r}: SAME padding of {total} is uneven between the two sides; the "
            "cost model pads both sides alike."
        )
    half = tuple(t // 2 for t in total)
    return half + half


def _linear(node: Any, label: str, shapes: dict, inits: dict, wb: int, ab: int) -> Layer | None:
    if node.input[1] not in inits:
        if node.op_type == "MatMul" and node.input[0] not in inits:
            raise ConfigError(
                f"node {label!r}: MatMul of two activations (attention) is not priced by the "
                "cost model."
            )
        raise ConfigError(f"node {label!r}: {node.op_type} weights are not a constant.")
    x = _known(shapes.get(node.input[0]), "input", label)
    w = inits[node.input[1]]
    if w.ndim != 2:
        raise ConfigError(f"node {label!r}: a {w.ndim}-D weight is not priced.")
    a = _attrs(node)
    trans_b = node.op_type == "Gemm" and int(a.get("transB", 0)) == 1
    fin, fout = (w.shape[1], w.shape[0]) if trans_b else w.shape
    if node.op_type == "Gemm" and int(a.get("transA", 0)) == 1:
        raise ConfigError(f"node {label!r}: Gemm with transA is not priced.")
    batch = x[0] if len(x) >= 2 else 1
    tokens = 1
    for d in x[1:-1]:
        tokens *= d
    return Layer(label, "linear", int(fin), int(fout), tokens, w_bits=wb, a_bits=ab,
                 batch=batch)  # fmt: skip
