"""Shape rules of normalizations with more than one result: BatchNormalization, LayerNormalization."""

from __future__ import annotations

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, shape_rule
from mindconverter.ir.types import DType, TensorType


@shape_rule("onnx.BatchNormalization")
def batch_norm(op: Op, cx: ShapeContext) -> Results:
    """Y like X; in training mode the running mean and variance like the scale."""
    x = cx.type(0)
    return [x] + [cx.type(3)] * (len(op.results) - 1)


@shape_rule("onnx.LayerNormalization")
def layer_norm(op: Op, cx: ShapeContext) -> Results:
    """Y like X; Mean and InvStdDev keep X's dims before `axis` and are 1 from it on (of `stash_type`)."""
    x = cx.type(0)
    if len(op.results) == 1:
        return [x]
    if x.dims is None:
        return [x] + [TensorType(DType.F32, None)] * (len(op.results) - 1)
    axis = cx.axis(int(op.attr("axis", -1)), len(x.dims))
    stash = DType.F32 if op.attr("stash_type", 1) == 1 else x.dtype
    stats = TensorType(stash, tuple(d if i < axis else 1 for i, d in enumerate(x.dims)))
    return [x] + [stats] * (len(op.results) - 1)
