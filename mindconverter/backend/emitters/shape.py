"""Shape ops: onnx.Reshape/Flatten/Transpose/Squeeze/Unsqueeze/Shape/ConstantOfShape -> ops.reshape, ops.transpose, ..."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def shape_literal(items: list[str]) -> str:
    """A tuple literal from already-formatted items."""
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def rank_of(cx: EmitContext, i: int = 0) -> int:
    rank = cx.in_type(i).rank
    if rank is None:
        cx.fail(f"input {i} has an unknown rank")
    return rank


@emits("onnx.Reshape", since=5)
def reshape(op: Op, cx: EmitContext) -> str:
    """onnx.Reshape -> ops.reshape(x, shape) with a constant shape or sizes read off tensors (`x.shape[0]`); ONNX's 0 copies x's dim."""
    shape = cx.shape_operand(1)
    if shape is None:
        return _reshape_to_output(cx, "the target shape")
    x = cx.arg(0)
    dims = cx.in_type(0).dims
    items = []
    for i, s in enumerate(shape):
        if s != "0":
            items.append(s)
        elif cx.attr("allowzero", 0):
            cx.fail(f"Reshape with allowzero=1 and a 0 in shape {shape} makes an empty tensor")
        elif dims is not None and i < len(dims) and isinstance(dims[i], int):
            # ops.reshape has no "copy this dim": ONNX's 0 takes the input's size at the same position.
            items.append(str(dims[i]))
        elif dims is not None and i < len(dims):
            items.append(f"{x}.shape[{i}]")
        else:
            cx.fail(f"shape {shape} copies dim {i} of an input of rank {len(dims) if dims else 'unknown'}")
    runtime = [i for i, s in enumerate(items) if not cx.is_literal(s)]
    if len(runtime) == 1 and "-1" not in items:
        items[runtime[0]] = "-1"  # the one size known only at run time is what the others leave
    return f"ops.reshape({x}, {shape_literal(items)})"


def _reshape_to_output(cx: EmitContext, what: str) -> str:
    """ops.reshape(x, output shape) for a shape-only op whose parameter is computed at run time.

    The model declares (or shape inference derives) a static output shape, which is all a reshape needs.
    """
    out = cx.out_type()
    if not out.is_static:
        cx.fail(f"{what} (input 1) must be a constant, but it is computed at run time")
    return f"ops.reshape({cx.arg(0)}, {cx.lit(tuple(out.shape))})"


def flatten_expr(cx: EmitContext, x: str, axis: int) -> str:
    """`x` reshaped to 2-D [prod(dims[:axis]), prod(dims[axis:])], with static sizes where they are known."""
    dims = cx.in_type(0).dims
    head, tail = dims[:axis], dims[axis:]
    if all(isinstance(d, int) for d in head):
        return f"ops.reshape({x}, ({int(np.prod(head, dtype=np.int64))}, -1))"
    if all(isinstance(d, int) for d in tail):
        return f"ops.reshape({x}, (-1, {int(np.prod(tail, dtype=np.int64))}))"
    return cx.fail(f"cannot flatten a {cx.in_type(0)} input at axis {axis}: both sides have dynamic sizes")


@emits("onnx.Flatten", since=1)
def flatten(op: Op, cx: EmitContext) -> str:
    """onnx.Flatten -> ops.flatten(x) for axis=1, else ops.reshape(x, (outer, -1))."""
    rank = rank_of(cx)
    axis = cx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    x = cx.arg(0)
    if axis == 1 and rank >= 2:
        return f"ops.flatten({x})"
    # ops.flatten keeps dim 0, so any other axis is a reshape (mindspore-cpu-ops.md, trap 15).
    return flatten_expr(cx, x, axis)


@emits("onnx.Transpose")
def transpose(op: Op, cx: EmitContext) -> str:
    """onnx.Transpose -> ops.transpose(x, perm); perm defaults to reversing the dims."""
    rank = rank_of(cx)
    perm = cx.attr("perm") or list(reversed(range(rank)))
    if list(perm) == list(range(rank)):
        return cx.arg(0)
    return f"ops.transpose({cx.arg(0)}, {cx.lit(tuple(perm))})"


def _axes_arg(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else shape_literal([str(a) for a in axes])


def _squeeze(cx: EmitContext, axes: list[int] | None) -> str:
    x = cx.arg(0)
    if axes is None:
        return f"ops.squeeze({x})"  # no axes: every size-1 dim, as in ONNX
    rank = rank_of(cx)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    if not axes:
        return x
    return f"ops.squeeze({x}, {_axes_arg(axes)})"


def _const_axes(cx: EmitContext) -> list[int]:
    """The constant axes input (input 1) as a list; a rank-0 axes tensor is one axis."""
    return [int(a) for a in np.atleast_1d(cx.const_list(1, "axes"))]


@emits("onnx.Squeeze", since=13)
def squeeze(op: Op, cx: EmitContext) -> str:
    """onnx.Squeeze (opset >= 13, axes as an optional input) -> ops.squeeze(x, axes)."""
    if cx.has(1) and cx.const(1) is None:
        return _reshape_to_output(cx, "axes")
    return _squeeze(cx, _const_axes(cx) if cx.has(1) else None)


@emits("onnx.Squeeze", since=1, until=12)
def squeeze_attr(op: Op, cx: EmitContext) -> str:
    """onnx.Squeeze (opset < 13, axes as an attribute) -> ops.squeeze(x, axes)."""
    axes = cx.attr("axes")
    return _squeeze(cx, None if axes is None else list(axes))


def _unsqueeze(cx: EmitContext, axes: list[int]) -> str:
    out_rank = rank_of(cx) + len(axes)
    # Negative axes count from the end of the *output*; inserting in ascending order keeps each
    # later axis at its final position.
    expr = cx.arg(0)
    for a in sorted(a + out_rank if a < 0 else a for a in axes):
        expr = f"ops.expand_dims({expr}, {a})"
    return expr


@emits("onnx.Unsqueeze", since=13)
def unsqueeze(op: Op, cx: EmitContext) -> str:
    """onnx.Unsqueeze (opset >= 13, axes as an input) -> ops.expand_dims(x, axis), once per axis."""
    if cx.const(1) is None:
        return _reshape_to_output(cx, "axes")
    return _unsqueeze(cx, _const_axes(cx))


@emits("onnx.Unsqueeze", since=1, until=12)
def unsqueeze_attr(op: Op, cx: EmitContext) -> str:
    """onnx.Unsqueeze (opset < 13, axes as an attribute) -> ops.expand_dims(x, axis), once per axis."""
    return _unsqueeze(cx, list(cx.attr("axes")))


@emits("onnx.Shape")
def shape(op: Op, cx: EmitContext) -> str:
    """onnx.Shape -> a constant int64 tensor when the dims are static, else ops.dyn_shape(x)[start:end]."""
    rank = rank_of(cx)
    start, end = cx.attr("start", 0), cx.attr("end", rank)
    start, end = (max(0, min(rank, v + rank if v < 0 else v)) for v in (start, end))
    dims = cx.in_type(0).dims[start:end]
    x = cx.arg(0)
    if all(isinstance(d, int) for d in dims):
        return cx.tensor(np.array(dims, np.int64), hint=f"{x.removeprefix('self.')}_shape")
    part = "" if (start, end) == (0, rank) else f"[{start}:{end}]"
    return f"ops.dyn_shape({x}){part}"


@emits("onnx.ConstantOfShape", since=9)
def constant_of_shape(op: Op, cx: EmitContext) -> str:
    """onnx.ConstantOfShape -> ops.zeros / ops.ones / ops.full(shape, value, dtype=...) (dtype from the value attribute)."""
    value = cx.attr("value")
    array = np.zeros(1, np.float32) if value is None else np.asarray(value.array).reshape(-1)
    fill = array[0] if array.size else np.float32(0)
    dtype = cx.dtype(cx.out_type().dtype)
    known = cx.shape_operand(0)
    shape_expr = shape_literal(known) if known else "()" if known == [] else cx.arg(0)
    # ops.full without dtype infers int64 from an integral value (mindspore-cpu-ops.md, trap 19):
    # the dtype is always passed.
    if fill == 0:
        return f"ops.zeros({shape_expr}, {dtype})"
    if fill == 1:
        return f"ops.ones({shape_expr}, {dtype})"
    literal = cx.lit(cx.number(fill, array.dtype))
    if known is None:
        return f"ops.fill({dtype}, {shape_expr}, {literal})"
    return f"ops.full({shape_expr}, {literal}, dtype={dtype})"


@emits("onnx.CenterCropPad", since=18)
def center_crop_pad(op: Op, cx: EmitContext) -> str:
    """onnx.CenterCropPad -> x[b:e, ...] for the axes it crops, then ops.pad(..., constant 0) for those it grows.

    Static shapes only: the target sizes come from the shape input when it is a constant, else from the
    declared output shape. An odd difference puts the extra row at the end, for crops and pads alike.
    """
    dims = cx.in_shape(0)
    rank = len(dims)
    axes = [a + rank if a < 0 else a for a in (cx.attr("axes") or range(rank))]
    if cx.const(1) is not None:
        sizes = [int(s) for s in np.atleast_1d(cx.const_list(1, "shape"))]
    else:
        out = cx.out_type()
        if not out.is_static:
            cx.fail("the shape (input 1) is computed at run time and the output shape is not static")
        sizes = [out.shape[a] for a in axes]
    if len(sizes) != len(axes):
        cx.fail(f"CenterCropPad shape has {len(sizes)} sizes for {len(axes)} axes")
    target = list(dims)
    for a, s in zip(axes, sizes, strict=True):
        target[a] = s
    x = cx.arg(0)
    crops = [i for i in range(rank) if target[i] < dims[i]]
    if crops:
        items = []
        for i in range(crops[-1] + 1):
            start = (dims[i] - target[i]) // 2 if i in crops else 0
            items.append(f"{start}:{start + target[i]}" if i in crops else ":")
        x = f"{x}[{', '.join(items)}]"
    pads = [i for i in range(rank) if target[i] > dims[i]]
    if pads:
        # ops.pad lists (before, after) from the last dim back to the first padded one.
        widths = []
        for i in reversed(range(pads[0], rank)):
            before = (target[i] - dims[i]) // 2 if i in pads else 0
            widths += [before, target[i] - dims[i] - before if i in pads else 0]
        x = f"ops.pad({x}, {cx.lit(tuple(widths))})"
    return x
