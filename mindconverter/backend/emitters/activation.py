"""Activations: onnx.Relu, Sigmoid, Clip, Softmax, ... -> MindSpore functions or small layers.

ReLU, Sigmoid, Tanh, HardSwish and HardSigmoid (torch's slope) are layers (`self.relu = nn.ReLU()`, one
per source module, or one per cell for ops an exporter named without scopes), and `ops.*` calls where
the source calls a function (`F.relu`); so are ReLU6, which torch and Keras export as Clip(x, 0, 6), and
Hardtanh (any other Clip with constant bounds).
LeakyRelu keeps its slope in an `nn.LeakyReLU` layer, as hand-written MindSpore code would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.elementwise import register_unary, unary
from mindconverter.backend.emitters.shape import flatten_expr
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType

# Stateless one-input activations: `ops.<fn>(x)` in the input's own dtype (MindSpore's CPU kernels
# cover float16 for these, so nothing is computed in float32).
for _op, _fn, _since in [("Mish", "mish", 18), ("Softplus", "softplus", 1), ("Softsign", "softsign", 1)]:
    register_unary(_op, _fn, _since, upcast=())


def _layer_or_call(cx: EmitContext, fn: str, layer: str) -> str:
    """`layer()` applied to x (one member per source module shared by its calls, as hand-written code has
    `self.relu`; see EmitContext.shared_layer), else `ops.<fn>(x)` (a functional call)."""
    member = cx.shared_layer(layer)
    return unary(cx, fn, ()) if member is None else f"{member}({cx.arg(0)})"


def _layer_or_function(onnx_op: str, fn: str, layer: str, since: int) -> None:
    """Register `onnx.<onnx_op>` -> `_layer_or_call(fn, layer)`."""

    def emitter(op: Op, cx: EmitContext) -> str:
        return _layer_or_call(cx, fn, layer)

    emitter.__name__ = onnx_op.lower()
    emitter.__doc__ = f"onnx.{onnx_op} -> {layer}() (one member per source module), ops.{fn}(x) for a functional call."
    emits(f"onnx.{onnx_op}", since=since)(emitter)


# HardSwish is x * relu6(x + 3) / 6 in ONNX and MindSpore (nn.HSwish, as MobileNetV3 is written by hand).
for _op, _fn, _layer, _since in [("Relu", "relu", "nn.ReLU", 1), ("Sigmoid", "sigmoid", "nn.Sigmoid", 6),
                                 ("Tanh", "tanh", "nn.Tanh", 6), ("HardSwish", "hardswish", "nn.HSwish", 14)]:
    _layer_or_function(_op, _fn, _layer, _since)


@emits("onnx.LeakyRelu", since=6)
def leaky_relu(op: Op, cx: EmitContext) -> str:
    """onnx.LeakyRelu -> nn.LeakyReLU(alpha)."""
    # nn.LeakyReLU defaults to alpha=0.2 and ONNX to 0.01, so the slope is always written.
    layer = cx.layer("nn.LeakyReLU", alpha=cx.attr("alpha", 0.01))
    return f"{layer}({cx.arg(0)})"


@emits("onnx.HardSigmoid", since=6)
def hard_sigmoid(op: Op, cx: EmitContext) -> str:
    """onnx.HardSigmoid -> nn.HSigmoid() / ops.hardsigmoid(x) for alpha=1/6, else ops.clamp(alpha * x + beta, 0, 1).

    The layer is one member per source module (torch's nn.Hardsigmoid); a functional call stays a function."""
    alpha, beta = cx.attr("alpha", 0.2), cx.attr("beta", 0.5)
    # nn.HSigmoid/ops.hardsigmoid hard-code alpha=1/6 (PyTorch's); ONNX's default slope is 0.2.
    if np.float32(alpha) == np.float32(1 / 6) and beta == 0.5:
        return _layer_or_call(cx, "hardsigmoid", "nn.HSigmoid")
    x = cx.arg(0)
    return f"ops.clamp({x} * {cx.lit(alpha)} + {cx.lit(beta)}, 0.0, 1.0)"


def _bound(cx: EmitContext, i: int) -> str | None:
    """Clip bound i as a Python number when it is a known constant, as a tensor expression otherwise."""
    if not cx.has(i):
        return None
    value = cx.const(i)
    if value is not None and value.size == 1:
        return cx.lit(cx.number(value.reshape(()).item(), value.dtype))
    return cx.arg(i)


def _clamp(cx: EmitContext, low: str | None, high: str | None) -> str:
    x = cx.arg(0)
    if low is None and high is None:
        return x
    if high is None:
        return f"ops.clamp({x}, {low})"
    if low is None:
        return f"ops.clamp({x}, max={high})"
    return f"ops.clamp({x}, {low}, {high})"


def _relu6(cx: EmitContext, low: float | None, high: float | None) -> str | None:
    """nn.ReLU6 / ops.relu6(x) for Clip(x, 0, 6) on float16/32 (torch's and Keras' ReLU6 export so), else None.

    One ReLU6 kernel instead of clamp's two passes (maximum, then minimum): 2.2x faster on CPU in GRAPH
    mode (20 calls on 1x384x32x32: 3.8 against 8.3 ms of CPU time). The kernel takes float16/32 only.
    """
    if low != 0 or high != 6 or cx.in_type(0).dtype not in (DType.F16, DType.F32):
        return None
    return _layer_or_call(cx, "relu6", "nn.ReLU6")


def _const_bound(cx: EmitContext, i: int) -> float | None:
    """Clip bound i as a number when it is a known scalar constant."""
    value = cx.const(i) if cx.has(i) else None
    return float(value.reshape(()).item()) if value is not None and value.size == 1 else None


def _hardtanh(cx: EmitContext, low: float | None, high: float | None) -> str | None:
    """nn.Hardtanh(low, high) for a float Clip with both bounds known that is a source module of its own
    (torch's nn.Hardtanh: one member per module, as ReLU6), else None (a functional clamp stays ops.clamp)."""
    dtype = cx.in_type(0).dtype
    if low is None or high is None or not np.isfinite([low, high]).all() or dtype not in (DType.F16, DType.F32):
        return None
    member = cx.shared_layer("nn.Hardtanh", cx.number(low, dtype.to_numpy()), cx.number(high, dtype.to_numpy()))
    return None if member is None else f"{member}({cx.arg(0)})"


@emits("onnx.Clip", since=11)
def clip(op: Op, cx: EmitContext) -> str:
    """onnx.Clip (opset >= 11: bounds are inputs, either may be absent) -> ReLU6 for 0 and 6, nn.Hardtanh, else ops.clamp."""
    low, high = _const_bound(cx, 1), _const_bound(cx, 2)
    return _relu6(cx, low, high) or _hardtanh(cx, low, high) or _clamp(cx, _bound(cx, 1), _bound(cx, 2))


@emits("onnx.Clip", since=6, until=10)
def clip_attrs(op: Op, cx: EmitContext) -> str:
    """onnx.Clip (opset 6-10, bounds as attributes) -> ReLU6 for bounds 0 and 6, nn.Hardtanh, else ops.clamp(x, min, max)."""
    dtype = cx.in_type(0).dtype.to_numpy()
    low, high = cx.attr("min"), cx.attr("max")
    relu6 = _relu6(cx, low, high) or _hardtanh(cx, low, high)
    if relu6 is not None:
        return relu6
    # The attributes default to the float range, which clamps nothing.
    low = None if low is None or np.isneginf(low) else cx.lit(cx.number(low, dtype))
    high = None if high is None or np.isposinf(high) else cx.lit(cx.number(high, dtype))
    return _clamp(cx, low, high)


@emits("onnx.Softmax", since=13)
def softmax(op: Op, cx: EmitContext) -> str:
    """onnx.Softmax (opset >= 13: one axis) -> ops.softmax(x, axis)."""
    axis = cx.attr("axis", -1)
    x = cx.arg(0)
    bf16 = cx.in_type(0).dtype == DType.BF16
    if bf16:
        # The CPU Softmax kernel has no bfloat16 variant: compute in float32 and cast back.
        x = f"ops.cast({x}, ms.float32)"
    expr = f"ops.softmax({x})" if axis == -1 else f"ops.softmax({x}, axis={axis})"
    return f"ops.cast({expr}, ms.bfloat16)" if bf16 else expr


def _over_2d(cx: EmitContext, what: str, last_axis: Callable[[str], str]) -> str:
    """`last_axis(x)` (a function over the last dim) applied as before opset 13: on the input coerced to
    2-D [prod(dims[:axis]), prod(dims[axis:])], reshaped back; when axis is the last dim, on x itself."""
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail(f"{what} before opset 13 needs the input rank to flatten it at 'axis'")
    axis = cx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    x = cx.arg(0)
    if axis == rank - 1:
        return last_axis(x)
    return f"ops.reshape({last_axis(flatten_expr(cx, x, axis))}, {x}.shape)"


@emits("onnx.Softmax", since=1, until=12)
def softmax_2d(op: Op, cx: EmitContext) -> str:
    """onnx.Softmax (opset < 13) -> ops.softmax over the input flattened to 2-D at `axis`, reshaped back."""
    return _over_2d(cx, "Softmax", lambda x: f"ops.softmax({x})")



@emits("onnx.LogSoftmax", since=13)
def log_softmax(op: Op, cx: EmitContext) -> str:
    """onnx.LogSoftmax (opset >= 13: one axis) -> ops.log_softmax(x, axis)."""
    return f"ops.log_softmax({cx.arg(0)}, {cx.attr('axis', -1)})"


@emits("onnx.LogSoftmax", since=1, until=12)
def log_softmax_2d(op: Op, cx: EmitContext) -> str:
    """onnx.LogSoftmax (opset < 13) -> ops.log_softmax over the input flattened to 2-D at `axis`, reshaped back."""
    return _over_2d(cx, "LogSoftmax", lambda x: f"ops.log_softmax({x}, -1)")


def _hardmax(cx: EmitContext, x: str, axis: int, depth: int) -> str:
    dtype = cx.dtype(cx.in_type(0).dtype)
    on, off = f"ms.Tensor(1, {dtype})", f"ms.Tensor(0, {dtype})"
    # ops.argmax returns the first maximum, as ONNX requires.
    return f"ops.one_hot(ops.argmax({x}, {axis}), {depth}, {on}, {off}, {axis})"


@emits("onnx.Hardmax", since=13)
def hardmax(op: Op, cx: EmitContext) -> str:
    """onnx.Hardmax (opset >= 13: one axis) -> ops.one_hot(ops.argmax(x, axis), size, 1, 0, axis)."""
    dims = cx.in_type(0).dims
    axis = cx.attr("axis", -1)
    axis = axis + len(dims) if axis < 0 else axis
    if not isinstance(dims[axis], int):
        cx.fail("Hardmax needs a static size along its axis")
    return _hardmax(cx, cx.arg(0), axis, dims[axis])


@emits("onnx.Hardmax", since=1, until=12)
def hardmax_2d(op: Op, cx: EmitContext) -> str:
    """onnx.Hardmax (opset < 13) -> one_hot(argmax) over the input flattened to 2-D at `axis`, reshaped back."""
    shape = cx.in_shape(0)
    axis = cx.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    depth = int(np.prod(shape[axis:], dtype=np.int64))
    x = cx.arg(0)
    return f"ops.reshape({_hardmax(cx, flatten_expr(cx, x, axis), 1, depth)}, {x}.shape)"


@emits("onnx.Gelu", since=20)
def gelu(op: Op, cx: EmitContext) -> str:
    """onnx.Gelu -> ops.gelu(x, approximate="none" | "tanh")."""
    approximate = cx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        cx.fail(f"Gelu approximate must be 'none' or 'tanh', got {approximate!r}")
    return f"ops.gelu({cx.arg(0)}, approximate={cx.lit(approximate)})"


def _elu_expr(x: str, alpha: float, cx: EmitContext) -> str:
    return f"ops.where({x} > 0, {x}, {cx.lit(alpha)} * (ops.exp({x}) - 1))"


@emits("onnx.Elu", since=6)
def elu(op: Op, cx: EmitContext) -> str:
    """onnx.Elu -> ops.elu(x) for alpha=1, else ops.where(x > 0, x, alpha * (ops.exp(x) - 1))."""
    alpha = cx.number(cx.attr("alpha", 1.0), np.float32)
    # ops.elu rejects alpha != 1 on CPU ("In Elu, alpha must be 1.0f").
    if alpha == 1.0:
        return f"ops.elu({cx.arg(0)})"
    return _elu_expr(cx.arg(0), alpha, cx)


_SELU_ALPHA, _SELU_GAMMA = np.float32(1.67326319217681884765625), np.float32(1.05070102214813232421875)


@emits("onnx.Selu", since=6)
def selu(op: Op, cx: EmitContext) -> str:
    """onnx.Selu -> ops.selu(x) for the standard constants, else gamma * where(x > 0, x, alpha * (exp(x) - 1))."""
    alpha, gamma = np.float32(cx.attr("alpha", _SELU_ALPHA)), np.float32(cx.attr("gamma", _SELU_GAMMA))
    if alpha == _SELU_ALPHA and gamma == _SELU_GAMMA:
        return f"ops.selu({cx.arg(0)})"
    return f"{cx.lit(cx.number(gamma, np.float32))} * {_elu_expr(cx.arg(0), cx.number(alpha, np.float32), cx)}"


@emits("onnx.Celu", since=12)
def celu(op: Op, cx: EmitContext) -> str:
    """onnx.Celu -> ops.celu(x, alpha)."""
    x, dtype = cx.arg(0), cx.in_type(0).dtype
    alpha = cx.lit(cx.number(cx.attr("alpha", 1.0), np.float32))
    if dtype == DType.BF16:  # CeLU has float16/32/64 kernels only
        return f"ops.cast(ops.celu(ops.cast({x}, ms.float32), {alpha}), ms.bfloat16)"
    return f"ops.celu({x}, {alpha})"


@emits("onnx.PRelu", since=7)
def prelu(op: Op, cx: EmitContext) -> str:
    """onnx.PRelu -> ops.where(x < 0, x * slope, x) (slope broadcasts to x, as in ONNX)."""
    x = cx.arg(0)
    return f"ops.where({x} < 0, {x} * {cx.arg(1)}, {x})"


@emits("onnx.ThresholdedRelu", since=10)
def thresholded_relu(op: Op, cx: EmitContext) -> str:
    """onnx.ThresholdedRelu -> ops.where(x > alpha, x, 0)."""
    x = cx.arg(0)
    alpha = cx.lit(cx.number(cx.attr("alpha", 1.0), np.float32))
    return f"ops.where({x} > {alpha}, {x}, ops.zeros_like({x}))"


@emits("onnx.Shrink", since=9)
def shrink(op: Op, cx: EmitContext) -> str:
    """onnx.Shrink -> ops.where(x < -lambd, x + bias, ops.where(x > lambd, x - bias, 0))."""
    x = cx.arg(0)
    dtype = cx.in_type(0).dtype.to_numpy()
    lambd, bias = cx.attr("lambd", 0.5), cx.attr("bias", 0.0)
    lo, hi = cx.lit(cx.number(-lambd, np.float64)), cx.lit(cx.number(lambd, np.float64))
    # Integer inputs compare with the float thresholds but keep their dtype.
    b = cx.lit(cx.number(bias, dtype))
    return f"ops.where({x} < {lo}, {x} + {b}, ops.where({x} > {hi}, {x} - {b}, ops.zeros_like({x})))"


@emits("onnx.Swish", since=24)
def swish(op: Op, cx: EmitContext) -> str:
    """onnx.Swish -> x * ops.sigmoid(alpha * x)."""
    x = cx.arg(0)
    alpha = cx.number(cx.attr("alpha", 1.0), np.float32)
    return f"{x} * ops.sigmoid({x})" if alpha == 1.0 else f"{x} * ops.sigmoid({cx.lit(alpha)} * {x})"


@emits("onnx.SwiGLU", since=28)
def swi_glu(op: Op, cx: EmitContext) -> str:
    """onnx.SwiGLU -> a * ops.sigmoid(alpha * a) * b (Swish of the gate times the value)."""
    a, b = cx.arg(0), cx.arg(1)
    alpha = cx.number(cx.attr("alpha", 1.0), np.float32)
    gate = f"ops.sigmoid({a})" if alpha == 1.0 else f"ops.sigmoid({cx.lit(alpha)} * {a})"
    return f"{a} * {gate} * {b}"
