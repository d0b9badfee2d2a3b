"""Shape rules of convolutions and pools: Conv, ConvTranspose, MaxPool, AveragePool, LpPool, global pools.

A spatial output size is `(in + pad_begin + pad_end - dilation*(kernel - 1) - 1) // stride + 1`
(rounded up with ceil_mode), `ceil(in / stride)` for SAME_* auto_pad; with a symbolic input size
it is that expression: `?((h + 2)//2 + 1)`.
"""

from __future__ import annotations

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, ShapeError, shape_rule
from mindconverter.ir.symbolic import add, ceildiv, floordiv, mul, sub
from mindconverter.ir.types import UNKNOWN, Dim, DType, TensorType

_AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _geometry(op: Op, n: int, kernel: list[Dim]) -> tuple[list[int], list[int], list[int], str]:
    strides = list(op.attr("strides") or [1] * n)
    dilations = list(op.attr("dilations") or [1] * n)
    pads = list(op.attr("pads") or [0] * (2 * n))
    auto_pad = op.attr("auto_pad", "NOTSET")
    if auto_pad not in _AUTO_PADS:
        raise ShapeError(f"auto_pad of '{op.name}' must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got '{auto_pad}'")
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n or len(kernel) != n:
        raise ShapeError(f"'{op.name}' has {n} spatial dims, but strides/dilations/pads/kernel do not match")
    return strides, dilations, pads, auto_pad


def _out_size(size: Dim, k: Dim, s: int, d: int, pad: int, auto_pad: str, ceil_mode: bool, pad_begin: int) -> Dim:
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return ceildiv(size, s)
    if auto_pad == "VALID":
        pad, pad_begin = 0, 0
    span = sub(add(size, pad), add(mul(d, sub(k, 1)), 1))  # in + pads - dilated kernel
    if not ceil_mode:
        return add(floordiv(span, s), 1)
    out = add(ceildiv(span, s), 1)
    # The last window must start inside the input or its left padding (onnxruntime, torch).
    if type(out) is int and type(size) is int and (out - 1) * s >= size + pad_begin:
        out -= 1
    return out


def _spatial(op: Op, x: TensorType, kernel: list[Dim], ceil_mode: bool = False) -> list[Dim]:
    n = len(x.dims) - 2
    strides, dilations, pads, auto_pad = _geometry(op, n, kernel)
    out = []
    for i in range(n):
        o = _out_size(x.dims[2 + i], kernel[i], strides[i], dilations[i], pads[i] + pads[i + n], auto_pad,
                      ceil_mode, pads[i])
        if type(o) is int and o < 1:
            raise ShapeError(f"'{op.name}' output size {o} in spatial dim {i} is not positive (input {x})")
        out.append(o)
    return out


@shape_rule("onnx.Conv", "onnx.ConvInteger")
def conv(op: Op, cx: ShapeContext) -> Results:
    """(N, C, *spatial) * (M, C/group, *kernel) -> (N, M, *out)."""
    x, w = cx.type(0), cx.type(1)
    dtype = DType.I32 if op.op_type == "ConvInteger" else x.dtype
    if x.dims is None or w.dims is None:
        return [TensorType(dtype, _rank_only(x, w))]
    if len(x.dims) != len(w.dims) or len(x.dims) < 3:
        raise ShapeError(f"'{op.name}' input {x} and weight {w} must have the same rank >= 3")
    group = int(op.attr("group", 1))
    cx.same(x.dims[1], _times(w.dims[1], group), "input channels and weight channels * group")
    kernel = list(op.attr("kernel_shape") or w.dims[2:])
    return [TensorType(dtype, (x.dims[0], w.dims[0], *_spatial(op, x, kernel)))]


def _times(d: Dim, n: int) -> Dim:
    return mul(d, n) if n != 1 else d


def _rank_only(*types: TensorType) -> tuple[Dim, ...] | None:
    rank = next((len(t.dims) for t in types if t.dims is not None), None)
    return None if rank is None else (UNKNOWN,) * rank


@shape_rule("onnx.ConvTranspose")
def conv_transpose(op: Op, cx: ShapeContext) -> Results:
    """(N, C, *spatial) -> (N, M*group, *out), out = s*(in - 1) + output_padding + dilated kernel - pads."""
    x, w = cx.type(0), cx.type(1)
    if x.dims is None or w.dims is None:
        return [TensorType(x.dtype, _rank_only(x, w))]
    n = len(x.dims) - 2
    group = int(op.attr("group", 1))
    cx.same(x.dims[1], w.dims[0], "input channels and weight dim 0")
    kernel = list(op.attr("kernel_shape") or w.dims[2:])
    strides, dilations, pads, auto_pad = _geometry(op, n, kernel)
    out_pad = list(op.attr("output_padding") or [0] * n)
    output_shape = op.attr("output_shape")
    spatial: list[Dim] = []
    for i in range(n):
        if output_shape:
            spatial.append(int(output_shape[i]))
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            spatial.append(mul(x.dims[2 + i], strides[i]))
        else:
            total = 0 if auto_pad == "VALID" else pads[i] + pads[i + n]
            full = add(mul(strides[i], sub(x.dims[2 + i], 1)), out_pad[i] + 1)
            spatial.append(sub(add(full, mul(dilations[i], sub(kernel[i], 1))), total))
    return [TensorType(x.dtype, (x.dims[0], _times(w.dims[1], group), *spatial))]


@shape_rule("onnx.MaxPool", "onnx.AveragePool", "onnx.LpPool")
def pool(op: Op, cx: ShapeContext) -> Results:
    """(N, C, *spatial) -> (N, C, *out); MaxPool's optional indices are i64."""
    x = cx.type(0)
    if x.dims is None:
        return [x] + [TensorType(DType.I64, None)] * (len(op.results) - 1)
    kernel = list(op.attr("kernel_shape") or [])
    dims = (*x.dims[:2], *_spatial(op, x, kernel, bool(op.attr("ceil_mode", 0))))
    return [x.with_dims(dims)] + [TensorType(DType.I64, dims)] * (len(op.results) - 1)


@shape_rule("onnx.GlobalAveragePool", "onnx.GlobalMaxPool", "onnx.GlobalLpPool")
def global_pool(op: Op, cx: ShapeContext) -> Results:
    """(N, C, *spatial) -> (N, C, 1, ...)."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    return [x.with_dims((*x.dims[:2], *([1] * (len(x.dims) - 2))))]


@shape_rule("onnx.GridSample")
def grid_sample(op: Op, cx: ShapeContext) -> Results:
    """(N, C, *in) sampled at grid (N, *out, r) -> (N, C, *out)."""
    x, grid = cx.type(0), cx.type(1)
    if x.dims is None or grid.dims is None:
        return [x.with_dims(None)]
    n = cx.same(x.dims[0], grid.dims[0], "batch sizes")
    return [x.with_dims((n, x.dims[1], *grid.dims[1:-1]))]
