"""Reductions: onnx.Reduce*, ArgMax/ArgMin, TopK, CumSum -> ops.sum/amax/... and ops primitives.

Reduce* ops take `axes` as an attribute before opset 18 (13 for ReduceSum) and as an optional
input since; one emitter per op handles both forms. Axes known at conversion time become Python
tuples; axes computed at run time go to the primitive (`ops.ReduceSum(keep_dims)(x, axes)`),
which takes them as a tensor in both PYNATIVE and GRAPH mode.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType

_MS_FLOAT = (DType.F16, DType.BF16, DType.F32, DType.F64)


def _axes(cx: EmitContext) -> tuple[int, ...] | str | None:
    """The reduced axes: a normalised tuple, a run-time tensor expression, or None for "none given"."""
    rank = cx.in_type(0).rank
    attr = cx.attr("axes")
    if attr is not None:
        axes = list(attr)
    elif cx.has(1):
        value = cx.const(1)
        if value is None:
            shape = cx.in_type(1).shape
            if shape and shape[0] == 0:
                return None
            return cx.arg(1)
        axes = [int(a) for a in value.reshape(-1)]
    else:
        return None
    if not axes:
        return None
    if rank is None:
        cx.fail("the input rank is unknown, so the reduced axes cannot be normalised")
    return tuple(sorted(a + rank if a < 0 else a for a in axes))


# ONNX op -> (element transform before, reduction, transform after); {x} is the operand.
# Reductions: (ops function for static axes, primitive for run-time axes).
_REDUCE = {
    "ReduceSum": ("{x}", ("sum", "ReduceSum"), "{x}"),
    "ReduceMean": ("{x}", ("mean", "ReduceMean"), "{x}"),
    "ReduceMax": ("{x}", ("amax", "ReduceMax"), "{x}"),
    "ReduceMin": ("{x}", ("amin", "ReduceMin"), "{x}"),
    "ReduceProd": ("{x}", ("prod", "ReduceProd"), "{x}"),
    "ReduceL1": ("ops.abs({x})", ("sum", "ReduceSum"), "{x}"),
    "ReduceL2": ("ops.square({x})", ("sum", "ReduceSum"), "ops.sqrt({x})"),
    "ReduceLogSum": ("{x}", ("sum", "ReduceSum"), "ops.log({x})"),
    "ReduceLogSumExp": ("ops.exp({x})", ("sum", "ReduceSum"), "ops.log({x})"),
    "ReduceSumSquare": ("ops.square({x})", ("sum", "ReduceSum"), "{x}"),
}
# Boolean max/min are any/all (ReduceMax has no bool kernel).
_BOOL = {"ReduceMax": ("any", "ReduceAny"), "ReduceMin": ("all", "ReduceAll")}


def reduce_expr(cx: EmitContext, onnx_op: str) -> str:
    """The expression for one Reduce* op (shared by all of them)."""
    pre, (fn, prim), post = _REDUCE[onnx_op]
    dtype = cx.in_type(0).dtype
    out_dtype = cx.out_type().dtype
    x = cx.arg(0)
    if dtype == DType.BOOL and onnx_op in _BOOL:
        fn, prim = _BOOL[onnx_op]
    # Integer results of float math (mean, sqrt, log) are computed in float64 and truncated, like numpy.
    floating = dtype.is_int and (onnx_op in ("ReduceMean", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"))
    if floating:
        x = f"ops.cast({x}, ms.float64)"
    keep = bool(cx.attr("keepdims", 1))
    axes = _axes(cx)
    empty = _empty_reduction(cx, onnx_op, axes)
    if empty is not None:
        return empty
    if axes is None and cx.attr("noop_with_empty_axes", 0):
        # No axes and noop: only the elementwise parts apply (ReduceSumSquare -> x * x).
        expr = post.format(x=pre.format(x=x))
    else:
        if onnx_op == "ReduceLogSumExp" and not isinstance(axes, str):
            # ops.logsumexp subtracts the maximum first, so large inputs do not overflow.
            rank = cx.in_type(0).rank
            dims = axes if axes is not None else tuple(range(rank or 0))
            if rank is None:
                cx.fail("the input rank is unknown")
            expr = f"ops.logsumexp({x}, {cx.lit(dims)}, {keep})"
        else:
            inner = pre.format(x=x)
            if isinstance(axes, str):
                reduced = f"ops.{prim}({keep})({inner}, {axes})"
            else:
                if axes is None:
                    rank = cx.in_type(0).rank
                    if rank is None:
                        cx.fail("the input rank is unknown")
                    axes = tuple(range(rank))
                reduced = f"ops.{fn}({inner}, {cx.lit(axes)}, {keep})"
            expr = post.format(x=reduced)
    if floating or (onnx_op == "ReduceMean" and dtype.is_int):
        expr = f"ops.cast({expr}, {cx.dtype(out_dtype)})"
    return expr


# The value of a reduction over zero elements (ONNX's "empty set" cases).
_EMPTY = {"ReduceSum": 0, "ReduceL1": 0, "ReduceL2": 0, "ReduceSumSquare": 0, "ReduceProd": 1,
          "ReduceMax": "-inf", "ReduceMin": "inf", "ReduceLogSum": "-inf", "ReduceLogSumExp": "-inf", "ReduceMean": "nan"}


def _empty_reduction(cx: EmitContext, onnx_op: str, axes) -> str | None:
    """ops.fill(dtype, shape, identity) when a reduced axis has size 0 (MindSpore leaves such results undefined)."""
    dims = cx.in_type(0).dims
    out = cx.out_type()
    if dims is None or not out.is_static:
        return None
    if isinstance(axes, str):
        # Axes known only at run time: still decidable when the input has no elements at all and the
        # output has some, since then every output element reduces over nothing.
        if not (cx.in_type(0).is_static and cx.in_type(0).num_elements == 0 and out.num_elements):
            return None
    else:
        reduced = range(len(dims)) if axes is None else axes
        if axes is None and cx.attr("noop_with_empty_axes", 0):
            return None
        if not any(dims[a] == 0 for a in reduced):
            return None
    value = _EMPTY[onnx_op]
    np_dtype = out.dtype.to_numpy()
    if isinstance(value, str):
        if out.dtype == DType.BOOL:
            value = value == "inf"  # all() of nothing is True, any() False
        elif np_dtype.kind in "iu":
            info = np.iinfo(np_dtype)
            value = {"inf": info.max, "-inf": info.min}.get(value, 0)
        else:
            value = float(value)
    return f"ops.fill({cx.dtype(out.dtype)}, {cx.lit(tuple(out.shape))}, {cx.lit(cx.number(value, np_dtype))})"


def _register(onnx_op: str) -> None:
    pre, (fn, _), post = _REDUCE[onnx_op]
    body = post.format(x=f"ops.{fn}({pre.format(x='x')}, axes, keepdims)")

    def emitter(op: Op, cx: EmitContext) -> str:
        return reduce_expr(cx, onnx_op)

    emitter.__name__ = onnx_op.lower()
    emitter.__doc__ = f"onnx.{onnx_op} -> {body} (axes as attribute or input)."
    emits(f"onnx.{onnx_op}", since=1)(emitter)


for _op in _REDUCE:
    _register(_op)


def _axis(cx: EmitContext, default: int = 0) -> int:
    rank = cx.in_type(0).rank
    axis = cx.attr("axis", default)
    if axis < 0:
        if rank is None:
            cx.fail("the input rank is unknown, so a negative axis cannot be normalised")
        axis += rank
    return axis


def _arg_reduce(cx: EmitContext, fn: str) -> str:
    axis = _axis(cx)
    keep = bool(cx.attr("keepdims", 1))
    x = cx.arg(0)
    if cx.in_type(0).dtype == DType.BOOL:
        x = f"ops.cast({x}, ms.int32)"
    if cx.attr("select_last_index", 0):
        size = cx.in_type(0).dims[axis]
        if not isinstance(size, int):
            cx.fail("select_last_index needs a static size along the axis")
        # The last extreme is the first one in the reversed tensor.
        return f"{size - 1} - ops.cast(ops.{fn}(ops.flip({x}, ({axis},)), {axis}, {keep}), ms.int64)"
    # ops.argmin returns int32 (ops.argmax int64); ONNX returns int64.
    return f"ops.cast(ops.{fn}({x}, {axis}, {keep}), ms.int64)"


@emits("onnx.ArgMax", since=1)
def arg_max(op: Op, cx: EmitContext) -> str:
    """onnx.ArgMax -> ops.argmax(x, axis, keepdims) as int64 (select_last_index: on the flipped input)."""
    return _arg_reduce(cx, "argmax")


@emits("onnx.ArgMin", since=1)
def arg_min(op: Op, cx: EmitContext) -> str:
    """onnx.ArgMin -> ops.argmin(x, axis, keepdims) as int64 (select_last_index: on the flipped input)."""
    return _arg_reduce(cx, "argmin")


_TOPK = '''class TopK(nn.Cell):
    """ONNX TopK: the k largest (or smallest) values along `axis` and their int64 indices."""

    def __init__(self, axis, largest):
        super().__init__()
        self.axis = axis
        self.largest = largest

    def construct(self, x, k):
        values, indices = ops.topk(x, k, self.axis, self.largest, True)
        return values, ops.cast(indices, ms.int64)'''

_TOPK_DYNAMIC = '''class TopKLastAxis(nn.Cell):
    """ONNX TopK with k computed at run time: ops.TopK on the last axis (moved there and back)."""

    def __init__(self, perm, largest):
        super().__init__()
        self.perm = perm
        self.largest = largest
        self.topk = ops.TopK(sorted=True)

    def construct(self, x, k):
        x = ops.transpose(x, self.perm)
        if not self.largest:
            x = -x
        values, indices = self.topk(x, k)
        if not self.largest:
            values = -values
        return ops.transpose(values, self.perm), ops.transpose(ops.cast(indices, ms.int64), self.perm)'''


@emits("onnx.TopK", since=10)
def top_k(op: Op, cx: EmitContext) -> str:
    """onnx.TopK (opset >= 10: k is an input) -> ops.topk(x, k, axis, largest, sorted=True), indices as int64."""
    axis = _axis(cx, -1)
    largest = bool(cx.attr("largest", 1))
    k = cx.shape_operand(1)  # a constant, or a size read off a tensor (`x.shape[1] // 2`)
    if k is not None and len(k) == 1:
        cls = cx.support_class("TopK", _TOPK)
        layer = cx.layer(cls, axis, largest, hint="topk")
        call = f"{layer}({cx.arg(0)}, {k[0]})"
        return f"{call}[0]", f"{call}[1]"
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("TopK with a run-time k needs the input rank")
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    cls = cx.support_class("TopKLastAxis", _TOPK_DYNAMIC)
    layer = cx.layer(cls, tuple(perm), largest, hint="topk")
    call = f"{layer}({cx.arg(0)}, {cx.arg(1)}.reshape(()))"
    # One expression per result (the writer assigns them one by one), so the call appears twice.
    return f"{call}[0]", f"{call}[1]"


@emits("onnx.CumSum", since=11)
def cum_sum(op: Op, cx: EmitContext) -> str:
    """onnx.CumSum -> ops.cumsum(x, axis), or ops.CumSum(exclusive, reverse)(x, axis)."""
    exclusive, reverse = bool(cx.attr("exclusive", 0)), bool(cx.attr("reverse", 0))
    axis_value = cx.scalar(1)
    if axis_value is None:
        value = cx.const(1)
        axis_value = int(value.reshape(-1)[0]) if value is not None and value.size == 1 else None
    axis = str(int(axis_value)) if axis_value is not None else f"{cx.arg(1)}.reshape(())"
    if not exclusive and not reverse and axis_value is not None:
        return f"ops.cumsum({cx.arg(0)}, {axis})"
    return f"ops.CumSum({exclusive}, {reverse})({cx.arg(0)}, {axis})"


@emits("onnx.CumProd", since=26)
def cum_prod(op: Op, cx: EmitContext) -> str:
    """onnx.CumProd -> ops.cumprod(x, axis), or ops.CumProd(exclusive, reverse)(x, axis)."""
    exclusive, reverse = bool(cx.attr("exclusive", 0)), bool(cx.attr("reverse", 0))
    value = cx.const(1)
    axis = str(int(value.reshape(-1)[0])) if value is not None and value.size == 1 else f"{cx.arg(1)}.reshape(())"
    if not exclusive and not reverse and value is not None:
        return f"ops.cumprod({cx.arg(0)}, {axis})"
    return f"ops.CumProd({exclusive}, {reverse})({cx.arg(0)}, {axis})"
