"""Quantization: onnx.QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear/QLinearMatMul/QLinearConv/
MatMulInteger/ConvInteger -> float math (ops.round, ops.clamp, ops.matmul, ops.conv2d) and ops.cast.

MindSpore's CPU kernels have no quantized matmul or convolution, so integers are widened to float32,
where products and sums of 8-bit values are exact, and rounded back (half to even, as ONNX).
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.conv import _functional_conv
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


def _f32(cx: EmitContext, i: int) -> str:
    """Input i as float32."""
    return cx.arg(i) if cx.in_type(i).dtype == DType.F32 else f"ops.cast({cx.arg(i)}, ms.float32)"


def _per_axis(cx: EmitContext, i: int, expr: str, axis: int | None = None) -> str:
    """A scale or zero point (input i) shaped to broadcast against input 0 along `axis` (blocked: repeated)."""
    t, x = cx.in_type(i), cx.in_type(0)
    rank = x.rank
    if t.rank is None or rank is None:
        cx.fail("quantization parameters need known ranks")
    if t.rank == 0 or (t.rank == 1 and t.dims[0] == 1):
        return expr
    axis = cx.attr("axis", 1) if axis is None else axis
    axis = axis + rank if axis < 0 else axis
    block = int(cx.attr("block_size", 0) or 0)
    if block:
        size = x.dims[axis]
        expr = f"ops.repeat_interleave({expr}, {block}, {axis})"
        if not isinstance(size, int) or not isinstance(t.dims[axis], int):
            cx.fail("blocked quantization needs static shapes")
        if t.dims[axis] * block != size:
            expr = f"{expr}[{':, ' * axis}:{size}]"
        return expr
    if t.rank != 1:
        cx.fail(f"per-axis quantization parameters must be 1-D, got {t}")
    shape = [1] * rank
    shape[axis] = t.dims[0] if isinstance(t.dims[0], int) else -1
    return f"ops.reshape({expr}, {cx.lit(tuple(shape))})"


def _quantize(cx: EmitContext, value: str, zero_point: str | None, dtype: DType) -> str:
    """round(value) + zero point, saturated to the integer type and cast to it."""
    info = np.iinfo(dtype.to_numpy())
    q = f"ops.round({value})"
    if zero_point is not None:
        q = f"{q} + {zero_point}"
    return f"ops.cast(ops.clamp({q}, {int(info.min)}, {int(info.max)}), {cx.dtype(dtype)})"


_ONNX_INT_TYPES = {2: DType.U8, 3: DType.I8, 4: DType.U16, 5: DType.I16}


@emits("onnx.QuantizeLinear", since=10)
def quantize_linear(op: Op, cx: EmitContext) -> str:
    """onnx.QuantizeLinear -> cast(clamp(round(x / scale) + zero_point, qmin, qmax), int type)."""
    dtype = cx.out_type().dtype
    if dtype not in _ONNX_INT_TYPES.values():
        cx.fail(f"QuantizeLinear to {dtype.value} is not supported (only 8- and 16-bit integers)")
    value = f"{_f32(cx, 0)} / {_per_axis(cx, 1, _f32(cx, 1))}"
    zp = _per_axis(cx, 2, _f32(cx, 2)) if cx.has(2) else None
    return _quantize(cx, value, zp, dtype)


@emits("onnx.DequantizeLinear", since=10)
def dequantize_linear(op: Op, cx: EmitContext) -> str:
    """onnx.DequantizeLinear -> (float(x) - float(zero_point)) * scale, in the scale's float type."""
    if not cx.in_type(0).dtype.is_float and cx.in_type(0).dtype not in (*_ONNX_INT_TYPES.values(), DType.I32):
        cx.fail(f"DequantizeLinear of {cx.in_type(0).dtype.value} is not supported")
    x = _f32(cx, 0)
    if cx.has(2):
        x = f"({x} - {_per_axis(cx, 2, _f32(cx, 2))})"
    y = f"{x} * {_per_axis(cx, 1, _f32(cx, 1))}"
    out = cx.out_type().dtype
    return y if out == DType.F32 else f"ops.cast({y}, {cx.dtype(out)})"


@emits("onnx.DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(op: Op, cx: EmitContext) -> tuple[str, str, str]:
    """onnx.DynamicQuantizeLinear -> uint8 scale/zero point from min(x, 0) and max(x, 0), then QuantizeLinear."""
    x = cx.arg(0)
    low = f"ops.minimum(ops.amin({x}), 0.0)"
    high = f"ops.maximum(ops.amax({x}), 0.0)"
    scale = f"(({high} - {low}) / 255.0)"
    zero = f"ops.clamp(ops.round(-{low} / {scale}), 0, 255)"
    return _quantize(cx, f"{x} / {scale}", zero, DType.U8), scale, f"ops.cast({zero}, ms.uint8)"


def _centered(cx: EmitContext, i: int, zp: int | None, axis: int | None = None) -> str:
    """Integer input i as float32 minus its zero point (input zp, optional)."""
    x = _f32(cx, i)
    if zp is None or not cx.has(zp):
        return x
    zero = _f32(cx, zp)
    t = cx.in_type(zp)
    if axis is not None and t.rank == 1 and t.dims[0] != 1:
        rank = cx.in_type(i).rank
        shape = [1] * rank
        shape[axis] = -1
        zero = f"ops.reshape({zero}, {cx.lit(tuple(shape))})"
    return f"({x} - {zero})"


@emits("onnx.QLinearMatMul", since=10)
def qlinear_matmul(op: Op, cx: EmitContext) -> str:
    """onnx.QLinearMatMul -> quantize(matmul(a - a_zp, b - b_zp) * (a_scale * b_scale / y_scale)) + y_zp."""
    a, b = _centered(cx, 0, 2), _centered(cx, 3, 5)
    multiplier = f"({_f32(cx, 1)} * {_f32(cx, 4)} / {_f32(cx, 6)})"
    return _quantize(cx, f"ops.matmul({a}, {b}) * {multiplier}", _f32(cx, 7), cx.out_type().dtype)


@emits("onnx.MatMulInteger", since=10)
def matmul_integer(op: Op, cx: EmitContext) -> str:
    """onnx.MatMulInteger -> int32(matmul(float(a - a_zp), float(b - b_zp)))."""
    a, b = _centered(cx, 0, 2), _centered(cx, 1, 3)
    return f"ops.cast(ops.matmul({a}, {b}), ms.int32)"


@emits("onnx.ConvInteger", since=10)
def conv_integer(op: Op, cx: EmitContext) -> str:
    """onnx.ConvInteger -> int32(ops.conv2d(float(x - x_zp), float(w - w_zp))) (per-output-channel w_zp)."""
    x, w = _centered(cx, 0, 2), _centered(cx, 1, 3, axis=0)
    return f"ops.cast({_functional_conv(cx, x=x, w=w, bias='None')}, ms.int32)"


@emits("onnx.QLinearConv", since=10)
def qlinear_conv(op: Op, cx: EmitContext) -> str:
    """onnx.QLinearConv -> quantize(conv(x - x_zp, w - w_zp) * x_scale * w_scale / y_scale + bias * x_scale * w_scale) + y_zp."""
    x, w = _centered(cx, 0, 2), _centered(cx, 3, 5, axis=0)
    out_c = cx.in_type(3).dims[0]
    w_scale = _f32(cx, 4)
    if cx.in_type(4).rank == 1 and cx.in_type(4).dims[0] != 1:
        w_scale = f"ops.reshape({w_scale}, (1, {out_c}{', 1' * (cx.in_type(0).rank - 2)}))"
    acc = _functional_conv(cx, x=x, w=w, bias="None", weight_input=3)
    if cx.has(8):  # int32 bias, already in units of x_scale * w_scale
        acc = f"ops.bias_add({acc}, {_f32(cx, 8)})"
    value = f"{acc} * ({_f32(cx, 1)} * {w_scale} / {_f32(cx, 6)})"
    return _quantize(cx, value, _f32(cx, 7), cx.out_type().dtype)
