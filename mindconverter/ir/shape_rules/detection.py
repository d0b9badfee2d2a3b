"""Shape rules of data-dependent and task-specific ops: NonMaxSuppression, Compress, Unique, RoiAlign, losses...

Sizes that depend on the data (how many boxes survive, how many elements are unique) are unknown.
"""

from __future__ import annotations

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, shape_rule
from mindconverter.ir.symbolic import add, mul, product, sub
from mindconverter.ir.types import UNKNOWN, DType, TensorType


@shape_rule("onnx.NonMaxSuppression")
def non_max_suppression(op: Op, cx: ShapeContext) -> Results:
    """(selected, 3) i64 triples (batch, class, box); how many are selected is known at run time only."""
    return [TensorType(DType.I64, (UNKNOWN, 3))]


@shape_rule("onnx.Compress")
def compress(op: Op, cx: ShapeContext) -> Results:
    """The input with an unknown size along `axis` (flattened to 1-D without an axis)."""
    x = cx.type(0)
    axis = op.attr("axis")
    if axis is None or x.dims is None:
        return [x.with_dims((UNKNOWN,))] if axis is None else [x]
    a = cx.axis(int(axis), len(x.dims))
    return [x.with_dims(tuple(UNKNOWN if i == a else d for i, d in enumerate(x.dims)))]


@shape_rule("onnx.Unique")
def unique(op: Op, cx: ShapeContext) -> Results:
    """Y has an unknown count along `axis` (1-D without one); indices and counts have that count, inverse_indices one per input slice."""
    x = cx.type(0)
    axis = op.attr("axis")
    count = TensorType(DType.I64, (UNKNOWN,))
    if x.dims is None:
        return [x.with_dims(None), count, count, count][: len(op.results)]
    if axis is None:
        y, along = x.with_dims((UNKNOWN,)), product(x.dims)
    else:
        a = cx.axis(int(axis), len(x.dims))
        y, along = x.with_dims(tuple(UNKNOWN if i == a else d for i, d in enumerate(x.dims))), x.dims[a]
    return [y, count, TensorType(DType.I64, (along,)), count][: len(op.results)]


@shape_rule("onnx.RoiAlign")
def roi_align(op: Op, cx: ShapeContext) -> Results:
    """(num_rois, C, output_height, output_width)."""
    x, rois = cx.type(0), cx.type(1)
    c = x.dims[1] if x.dims is not None else UNKNOWN
    n = rois.dims[0] if rois.dims is not None else UNKNOWN
    return [x.with_dims((n, c, int(op.attr("output_height", 1)), int(op.attr("output_width", 1))))]


@shape_rule("onnx.MaxUnpool")
def max_unpool(op: Op, cx: ShapeContext) -> Results:
    """`output_shape` when given, else (in - 1) * stride - pads + kernel per spatial dim."""
    x = cx.type(0)
    given = cx.contents(2)
    if given is not None:
        return [x.with_dims(tuple(given))]
    if x.dims is None:
        return [x]
    if cx.has(2):  # given at run time
        return [x.with_dims((*x.dims[:2], *(UNKNOWN,) * (len(x.dims) - 2)))]
    kernel = list(op.attr("kernel_shape"))
    n = len(kernel)
    strides = list(op.attr("strides") or [1] * n)
    pads = list(op.attr("pads") or [0] * (2 * n))
    spatial = [add(sub(mul(sub(x.dims[2 + i], 1), strides[i]), pads[i] + pads[i + n]), kernel[i]) for i in range(n)]
    return [x.with_dims((*x.dims[:2], *spatial))]


@shape_rule("onnx.CenterCropPad")
def center_crop_pad(op: Op, cx: ShapeContext) -> Results:
    """The input with the sizes of `shape` on `axes` (all by default)."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    sizes = cx.contents(1)
    axes = [cx.axis(int(a), len(x.dims)) for a in op.attr("axes") or range(len(x.dims))]
    if sizes is None or len(sizes) != len(axes):
        return [x.with_dims(tuple(UNKNOWN if i in axes else d for i, d in enumerate(x.dims)))]
    new = dict(zip(axes, sizes, strict=True))
    return [x.with_dims(tuple(new.get(i, d) for i, d in enumerate(x.dims)))]


@shape_rule("onnx.AffineGrid")
def affine_grid(op: Op, cx: ShapeContext) -> Results:
    """(N, H, W, 2) for size (N, C, H, W); (N, D, H, W, 3) for (N, C, D, H, W)."""
    theta = cx.type(0)
    size = cx.contents(1)
    if size is None:
        n = cx.type(1).dims[0] if cx.type(1).dims else None
        return [theta.with_dims(None if type(n) is not int else (UNKNOWN,) * (n - 1) + (n - 2,))]
    return [theta.with_dims((size[0], *size[2:], len(size) - 2))]


@shape_rule("onnx.NegativeLogLikelihoodLoss", "onnx.SoftmaxCrossEntropyLoss")
def loss(op: Op, cx: ShapeContext) -> Results:
    """The loss per target element with reduction='none', else a scalar; SoftmaxCrossEntropyLoss's log_prob like the scores."""
    scores, target = cx.type(0), cx.type(1)
    reduced = op.attr("reduction", "mean") != "none"
    out = [scores.with_dims(() if reduced else target.dims)]
    return (out + [scores])[: len(op.results)]
