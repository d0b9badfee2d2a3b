"""Shape rules of reductions: Reduce*, ArgMax/ArgMin, TopK."""

from __future__ import annotations

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, shape_rule
from mindconverter.ir.types import UNKNOWN, DType, TensorType

REDUCTIONS = (
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
    "ReduceSum", "ReduceSumSquare",
)


@shape_rule(*(f"onnx.{name}" for name in REDUCTIONS))
def reduction(op: Op, cx: ShapeContext) -> Results:
    """The reduced `axes` (attribute or input; all when absent) become 1, or go with keepdims=0."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    keep = bool(op.attr("keepdims", 1))
    axes = op.attr("axes")
    if axes is None and cx.has(1):
        axes = cx.ints(1)
        if axes is None:  # run-time axes: the rank is known only when the reduced dims are kept
            return [x.with_dims((UNKNOWN,) * len(x.dims) if keep else None)]
    if not axes:
        if op.attr("noop_with_empty_axes", 0):
            return [x]
        axes = range(len(x.dims))
    reduced = {cx.axis(int(a), len(x.dims)) for a in axes}
    if keep:
        return [x.with_dims(tuple(1 if i in reduced else d for i, d in enumerate(x.dims)))]
    return [x.with_dims(tuple(d for i, d in enumerate(x.dims) if i not in reduced))]


@shape_rule("onnx.ArgMax", "onnx.ArgMin")
def arg_reduction(op: Op, cx: ShapeContext) -> Results:
    """i64 indices along `axis`, which becomes 1 (or goes with keepdims=0)."""
    x = cx.type(0)
    if x.dims is None:
        return [TensorType(DType.I64, None)]
    axis = cx.axis(int(op.attr("axis", 0)), len(x.dims))
    if op.attr("keepdims", 1):
        return [TensorType(DType.I64, tuple(1 if i == axis else d for i, d in enumerate(x.dims)))]
    return [TensorType(DType.I64, tuple(d for i, d in enumerate(x.dims) if i != axis))]


@shape_rule("onnx.TopK")
def top_k(op: Op, cx: ShapeContext) -> Results:
    """Values and i64 indices: the input's dims with `k` along `axis`."""
    x = cx.type(0)
    if x.dims is None:
        return [x, TensorType(DType.I64, None)]
    axis = cx.axis(int(op.attr("axis", -1)), len(x.dims))
    k = cx.contents(1)
    size = k[0] if k is not None and len(k) == 1 else UNKNOWN
    dims = tuple(size if i == axis else d for i, d in enumerate(x.dims))
    return [x.with_dims(dims), TensorType(DType.I64, dims)]
