"""Activations: onnx.Relu, Sigmoid, Clip, Softmax, ... -> MindSpore functions or small layers.

Stateless activations become `ops.*` calls (no member needed); LeakyRelu keeps its slope in an
`nn.LeakyReLU` layer, as hand-written MindSpore code would.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.shape import flatten_expr
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


@emits("onnx.Relu")
def relu(op: Op, cx: EmitContext) -> str:
    """onnx.Relu -> ops.relu(x)."""
    return f"ops.relu({cx.arg(0)})"


@emits("onnx.LeakyRelu", since=6)
def leaky_relu(op: Op, cx: EmitContext) -> str:
    """onnx.LeakyRelu -> nn.LeakyReLU(alpha)."""
    # nn.LeakyReLU defaults to alpha=0.2 and ONNX to 0.01, so the slope is always written.
    layer = cx.layer("nn.LeakyReLU", alpha=cx.attr("alpha", 0.01))
    return f"{layer}({cx.arg(0)})"


@emits("onnx.Sigmoid", since=6)
def sigmoid(op: Op, cx: EmitContext) -> str:
    """onnx.Sigmoid -> ops.sigmoid(x)."""
    return f"ops.sigmoid({cx.arg(0)})"


@emits("onnx.Tanh", since=6)
def tanh(op: Op, cx: EmitContext) -> str:
    """onnx.Tanh -> ops.tanh(x)."""
    return f"ops.tanh({cx.arg(0)})"


@emits("onnx.HardSwish", since=14)
def hard_swish(op: Op, cx: EmitContext) -> str:
    """onnx.HardSwish -> ops.hardswish(x) (x * relu6(x + 3) / 6, the same formula)."""
    return f"ops.hardswish({cx.arg(0)})"


@emits("onnx.HardSigmoid", since=6)
def hard_sigmoid(op: Op, cx: EmitContext) -> str:
    """onnx.HardSigmoid -> ops.hardsigmoid(x) for alpha=1/6, else ops.clamp(alpha * x + beta, 0, 1)."""
    alpha, beta = cx.attr("alpha", 0.2), cx.attr("beta", 0.5)
    x = cx.arg(0)
    # ops.hardsigmoid hard-codes alpha=1/6 (PyTorch's); ONNX's default slope is 0.2.
    if np.float32(alpha) == np.float32(1 / 6) and beta == 0.5:
        return f"ops.hardsigmoid({x})"
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


@emits("onnx.Clip", since=11)
def clip(op: Op, cx: EmitContext) -> str:
    """onnx.Clip -> ops.clamp(x, min, max); either bound may be absent (opset >= 11: bounds are inputs)."""
    return _clamp(cx, _bound(cx, 1), _bound(cx, 2))


@emits("onnx.Clip", since=6, until=10)
def clip_attrs(op: Op, cx: EmitContext) -> str:
    """onnx.Clip (opset 6-10, bounds as attributes) -> ops.clamp(x, min, max)."""
    dtype = cx.in_type(0).dtype.to_numpy()
    low, high = cx.attr("min"), cx.attr("max")
    # The attributes default to the float range, which clamps nothing.
    low = None if low is None or np.isneginf(low) else cx.lit(cx.number(low, dtype))
    high = None if high is None or np.isposinf(high) else cx.lit(cx.number(high, dtype))
    return _clamp(cx, low, high)


@emits("onnx.Softmax", since=13)
def softmax(op: Op, cx: EmitContext) -> str:
    """onnx.Softmax (opset >= 13: one axis) -> ops.softmax(x, axis)."""
    axis = cx.attr("axis", -1)
    return f"ops.softmax({cx.arg(0)})" if axis == -1 else f"ops.softmax({cx.arg(0)}, axis={axis})"


@emits("onnx.Softmax", since=1, until=12)
def softmax_2d(op: Op, cx: EmitContext) -> str:
    """onnx.Softmax (opset < 13) -> ops.softmax over the input flattened to 2-D at `axis`, reshaped back."""
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("Softmax before opset 13 needs the input rank to flatten it at 'axis'")
    axis = cx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    x = cx.arg(0)
    # Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])]: when
    # axis is the last dim this is the usual softmax over that dim.
    if axis == rank - 1:
        return f"ops.softmax({x})"
    return f"ops.reshape(ops.softmax({flatten_expr(cx, x, axis)}), {x}.shape)"

