"""Arithmetic: onnx.Add/Sub/Mul/Div/Sum -> Python operators on tensors, onnx.MatMul/Gemm -> ops.matmul / nn.Dense."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


def operand(cx: EmitContext, i: int, other: int) -> str:
    """Input i as a Python number when it is a one-element constant that does not widen the result, else cx.arg(i).

    `x * 0.5` reads better than a one-element member tensor, and MindSpore keeps the tensor's dtype.
    """
    value = cx.const(i)
    other_rank = cx.in_type(other).rank
    if value is not None and value.size == 1 and value.dtype.kind in "fiu" and other_rank is not None and value.ndim <= other_rank:
        return cx.lit(cx.number(value.reshape(()).item(), value.dtype))
    return cx.arg(i)


def _binary(cx: EmitContext, symbol: str) -> str:
    a, b = operand(cx, 0, 1), operand(cx, 1, 0)
    if b.startswith("-") and symbol in "+-":  # a negative literal: x + -1.0 -> x - 1.0
        return f"{a} {'-' if symbol == '+' else '+'} {b[1:]}"
    return f"{a} {symbol} {b}"


@emits("onnx.Add", since=7)
def add(op: Op, cx: EmitContext) -> str:
    """onnx.Add -> a + b (numpy broadcasting, like ONNX)."""
    return _binary(cx, "+")


@emits("onnx.Sub", since=7)
def sub(op: Op, cx: EmitContext) -> str:
    """onnx.Sub -> a - b."""
    return _binary(cx, "-")


@emits("onnx.Mul", since=7)
def mul(op: Op, cx: EmitContext) -> str:
    """onnx.Mul -> a * b."""
    return _binary(cx, "*")


@emits("onnx.Div", since=7)
def div(op: Op, cx: EmitContext) -> str:
    """onnx.Div -> a / b for floats, ops.div(a, b, rounding_mode="trunc") for integers."""
    if cx.in_type(0).dtype.is_int:
        # ONNX integer division truncates; a / b (and plain ops.div) would return float32.
        return f'ops.div({operand(cx, 0, 1)}, {operand(cx, 1, 0)}, rounding_mode="trunc")'
    return _binary(cx, "/")


@emits("onnx.Sum", since=8)
def sum_(op: Op, cx: EmitContext) -> str:
    """onnx.Sum -> a + b + c ... (broadcasting)."""
    return " + ".join(cx.args())


@emits("onnx.MatMul")
def matmul(op: Op, cx: EmitContext) -> str:
    """onnx.MatMul -> ops.matmul(a, b) (numpy matmul semantics: batch broadcasting, 1-D operands)."""
    if cx.in_type(0).dtype == DType.BF16:  # the CPU matmul kernels have no bfloat16: multiply in float32
        a, b = (f"ops.cast({cx.arg(i)}, ms.float32)" for i in (0, 1))
        return f"ops.cast(ops.matmul({a}, {b}), ms.bfloat16)"
    return f"ops.matmul({cx.arg(0)}, {cx.arg(1)})"


def _dense_bias(cx: EmitContext, out: int) -> np.ndarray | None:
    """Gemm's C as an (out,) bias when it is a constant broadcasting along the rows only, else None."""
    c = cx.const(2)
    if c is None or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1) or (c.ndim >= 1 and c.shape[-1] not in (1, out)):
        return None
    return c


@emits("onnx.Gemm", since=7)
def gemm(op: Op, cx: EmitContext) -> str:
    """onnx.Gemm -> nn.Dense(in, out) for x @ W^T + b with a weight W, else alpha * ops.matmul(A', B') + beta * C."""
    alpha, beta = cx.attr("alpha", 1.0), cx.attr("beta", 1.0)
    trans_a, trans_b = cx.attr("transA", 0), cx.attr("transB", 0)
    if cx.in_type(0).rank != 2:
        cx.fail(f"Gemm needs a 2-D A, got {cx.in_type(0)}")
    b_known = cx.const(1) is not None and cx.in_type(1).dtype.is_float
    if b_known and not trans_a and alpha == 1.0:
        w = cx.weight(1)
        if not trans_b:
            w = w.map(lambda a: a.T)  # nn.Dense keeps its weight as (out, in)
        out, in_ = w.shape
        c = _dense_bias(cx, out) if cx.has(2) and beta == 1.0 else None
        if not cx.has(2) or c is not None:
            weights = {"weight": w}
            if c is not None:
                weights["bias"] = cx.weight(2).map(lambda a: np.broadcast_to(a.reshape(-1), (out,)))
            kwargs = {} if c is not None else {"has_bias": False}
            layer = cx.layer("nn.Dense", in_, out, weights=weights, **kwargs)
            return f"{layer}({cx.arg(0)})"
    a = cx.arg(0) + (".T" if trans_a else "")
    b = cx.arg(1) + (".T" if trans_b else "")
    expr = f"ops.matmul({a}, {b})"
    if alpha != 1.0:
        expr = f"{cx.lit(alpha)} * {expr}"
    if cx.has(2) and beta != 0.0:
        c = operand(cx, 2, 0)
        expr += f" + {c}" if beta == 1.0 else f" + {cx.lit(beta)} * {c}"
    return expr
