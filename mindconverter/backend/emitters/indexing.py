"""Indexing: onnx.GatherElements/GatherND/ScatterElements/ScatterND/NonZero/OneHot/Compress/Det/ReverseSequence/MaxUnpool -> ops.*.

MindSpore's index ops do not all wrap negative indices the ONNX way, so indices that may be
negative are normalised first with `ops.where(i < 0, i + size, i)` when the sizes are static.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


def _axis(cx: EmitContext, default: int = 0) -> int:
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("the data input needs a known rank")
    axis = cx.attr("axis", default)
    return axis + rank if axis < 0 else axis


def _wrapped(cx: EmitContext, i: int, sizes: np.ndarray | int | None) -> str:
    """Indices input i with negative entries wrapped by `sizes` (a number, or a tensor broadcast over the last dim)."""
    known = cx.const(i)
    if known is not None and sizes is not None:
        return cx.tensor(np.where(known < 0, known + sizes, known).astype(known.dtype), hint="indices")
    idx = cx.arg(i)
    if known is not None and not (known < 0).any():
        return idx
    if sizes is None:
        return idx
    size = str(int(sizes)) if np.ndim(sizes) == 0 else cx.tensor(np.asarray(sizes, cx.in_type(i).dtype.to_numpy()), hint="sizes")
    return f"ops.where({idx} < 0, {idx} + {size}, {idx})"


def _dim(cx: EmitContext, axis: int) -> int | None:
    d = cx.in_type(0).dims[axis]
    return d if isinstance(d, int) else None


@emits("onnx.GatherElements", since=11)
def gather_elements(op: Op, cx: EmitContext) -> str:
    """onnx.GatherElements -> ops.gather_elements(x, axis, indices)."""
    axis = _axis(cx)
    return f"ops.gather_elements({cx.arg(0)}, {axis}, {_wrapped(cx, 1, _dim(cx, axis))})"


@emits("onnx.GatherND", since=11)
def gather_nd(op: Op, cx: EmitContext) -> str:
    """onnx.GatherND -> ops.gather_nd(x, indices) (batch_dims: the batch coordinates prepended to the indices)."""
    dims, idx_dims = cx.in_type(0).dims, cx.in_type(1).dims
    batch_dims = int(cx.attr("batch_dims", 0))
    if batch_dims:
        if idx_dims is None or not all(isinstance(d, int) for d in idx_dims) or dims is None:
            cx.fail("GatherND with batch_dims needs static index shapes")
        if cx.const(1) is None and cx.in_type(1).dtype.to_numpy() != np.int64:
            cx.fail("GatherND with batch_dims needs int64 indices")
        # Batch coordinates of every index tuple, so one gather_nd over the whole tensor does it.
        lead = np.indices(idx_dims[:-1], dtype=np.int64)[:batch_dims]
        coords = cx.tensor(np.moveaxis(lead, 0, -1), hint="batch_coords")
        return f"ops.gather_nd({cx.arg(0)}, ops.concat(({coords}, {cx.arg(1)}), -1))"
    sizes = None
    if dims is not None and idx_dims is not None and isinstance(idx_dims[-1], int):
        head = dims[: idx_dims[-1]]
        if all(isinstance(d, int) for d in head):
            sizes = np.array(head, np.int64)
    return f"ops.gather_nd({cx.arg(0)}, {_wrapped(cx, 1, sizes)})"


def _scatter_elements(cx: EmitContext, reduction: str) -> str:
    if reduction in ("mul", "max", "min"):
        return _scatter_elements_as_nd(cx, reduction)
    if reduction not in ("none", "add"):
        cx.fail(f"ScatterElements reduction must be none, add, mul, max or min, got {reduction!r}")
    axis = _axis(cx)
    args = f"{cx.arg(0)}, {_wrapped(cx, 1, _dim(cx, axis))}, {cx.arg(2)}, {axis}"
    return f"ops.tensor_scatter_elements({args})" if reduction == "none" else f'ops.tensor_scatter_elements({args}, "add")'


def _scatter_elements_as_nd(cx: EmitContext, reduction: str) -> str:
    """ScatterElements with mul/max/min -> ops.tensor_scatter_mul/max/min with full coordinates per update.

    ops.tensor_scatter_elements only reduces with add; the ND scatters reduce with the others. Each
    update's coordinate is its own position, with the index replacing the position along `axis`.
    """
    axis = _axis(cx)
    shape = cx.in_type(1).dims
    if shape is None or not all(isinstance(d, int) for d in shape):
        cx.fail(f"ScatterElements reduction {reduction!r} needs static index shapes, got {cx.in_type(1)}")
    grids = np.indices(shape, dtype=cx.in_type(1).dtype.to_numpy())
    idx = _wrapped(cx, 1, _dim(cx, axis))
    coords = [idx if k == axis else cx.tensor(grids[k], hint=f"coords{k}") for k in range(len(shape))]
    return f"ops.tensor_scatter_{reduction}({cx.arg(0)}, ops.stack(({', '.join(coords)},), -1), {cx.arg(2)})"


@emits("onnx.ScatterElements", since=11)
def scatter_elements(op: Op, cx: EmitContext) -> str:
    """onnx.ScatterElements -> ops.tensor_scatter_elements(x, indices, updates, axis[, "add"]) (mul/max/min: ops.tensor_scatter_*)."""
    return _scatter_elements(cx, cx.attr("reduction", "none"))


@emits("onnx.Scatter", since=9, until=10)
def scatter(op: Op, cx: EmitContext) -> str:
    """onnx.Scatter (opsets 9-10, ScatterElements' old name) -> ops.tensor_scatter_elements(x, indices, updates, axis)."""
    return _scatter_elements(cx, "none")


_SCATTER_ND = {"none": "tensor_scatter_update", "add": "tensor_scatter_add", "mul": "tensor_scatter_mul",
               "max": "tensor_scatter_max", "min": "tensor_scatter_min"}


@emits("onnx.ScatterND", since=11)
def scatter_nd(op: Op, cx: EmitContext) -> str:
    """onnx.ScatterND -> ops.tensor_scatter_update (reduction add/mul/max/min: ops.tensor_scatter_add/mul/max/min)."""
    reduction = cx.attr("reduction", "none")
    if reduction not in _SCATTER_ND:
        cx.fail(f"ScatterND reduction must be none, add, mul, max or min, got {reduction!r}")
    return f"ops.{_SCATTER_ND[reduction]}({cx.arg(0)}, {cx.arg(1)}, {cx.arg(2)})"


@emits("onnx.NonZero", since=9)
def non_zero(op: Op, cx: EmitContext) -> str:
    """onnx.NonZero -> ops.transpose(ops.nonzero(x), (1, 0)) (ONNX lists one row per dim)."""
    if not cx.in_type(0).rank:
        cx.fail("NonZero of a scalar is not supported")
    return f"ops.transpose(ops.nonzero({cx.arg(0)}), (1, 0))"


@emits("onnx.OneHot", since=9)
def one_hot(op: Op, cx: EmitContext) -> str:
    """onnx.OneHot -> ops.one_hot(indices, depth, on, off, axis), negative indices wrapped first."""
    depth = cx.scalar(1)
    if depth is None:
        known = cx.const(1)
        depth = known.reshape(-1)[0] if known is not None and known.size == 1 else None
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("OneHot needs the rank of its indices")
    axis = cx.attr("axis", -1)
    axis = axis + rank + 1 if axis < 0 else axis
    if depth is None:
        out = cx.out_type().dims
        depth = out[axis] if out is not None and isinstance(out[axis], int) else None
    if depth is None:
        sized = cx.shape_operand(1)  # a size read off a tensor (`x.shape[1]`)
        if sized is None or len(sized) != 1:
            cx.fail("OneHot depth must be a constant or a size of a tensor, but it is computed at run time")
        depth = sized[0]
    else:
        depth = int(depth)
    idx = cx.arg(0)
    if cx.in_type(0).dtype != DType.I64:
        idx = f"ops.cast({idx}, ms.int64)"  # ONNX allows float indices; they truncate
    # ops.one_hot gives an all-off row for a negative index, which ONNX wraps (trap 13).
    known = cx.const(0)
    if known is None or (known < 0).any():
        idx = f"ops.where({idx} < 0, {idx} + {depth}, {idx})"
    values = cx.arg(2)
    axis_arg = "" if axis == rank else f", {axis}"
    return f"ops.one_hot({idx}, {depth}, {values}[1], {values}[0]{axis_arg})"


@emits("onnx.Compress", since=11)
def compress(op: Op, cx: EmitContext) -> str:
    """onnx.Compress -> ops.gather(x, positions where condition is true, axis) (x flattened without an axis)."""
    x = cx.arg(0)
    where = f"ops.nonzero({cx.arg(1)}).reshape(-1)"
    if cx.attr("axis") is None:
        return f"ops.gather({x}.reshape(-1), {where}, 0)"
    return f"ops.gather({x}, {where}, {_axis(cx)})"


@emits("onnx.Det", since=11)
def det(op: Op, cx: EmitContext) -> str:
    """onnx.Det -> ops.det(x)."""
    return f"ops.det({cx.arg(0)})"


@emits("onnx.ReverseSequence", since=10)
def reverse_sequence(op: Op, cx: EmitContext) -> str:
    """onnx.ReverseSequence -> ops.gather_elements along the time axis with source index len-1-t where t < len, else t."""
    rank = cx.in_type(0).rank
    if rank is None or rank < 2:
        cx.fail("ReverseSequence needs an input of known rank >= 2")
    batch_axis, time_axis = int(cx.attr("batch_axis", 1)), int(cx.attr("time_axis", 0))
    x = cx.arg(0)
    dims = cx.in_type(0).dims
    t_shape, b_shape = [1] * rank, [1] * rank
    b_shape[batch_axis] = -1
    if isinstance(dims[time_axis], int):
        t_shape[time_axis] = dims[time_axis]
        steps = cx.tensor(np.arange(dims[time_axis], dtype=np.int64).reshape(t_shape), hint="steps")
    else:
        t_shape[time_axis] = -1
        steps = f"ops.arange({x}.shape[{time_axis}], dtype=ms.int64).reshape({cx.lit(tuple(t_shape))})"
    lens = cx.arg(1)
    if cx.in_type(1).dtype != DType.I64:
        lens = f"ops.cast({lens}, ms.int64)"
    lens = f"{lens}.reshape({cx.lit(tuple(b_shape))})"
    src = f"ops.broadcast_to(ops.where({steps} < {lens}, {lens} - 1 - {steps}, {steps}), {x}.shape)"
    if cx.in_type(0).dtype == DType.BF16:  # no bfloat16 gather kernel on CPU: gather in float32
        return f"ops.cast(ops.gather_elements(ops.cast({x}, ms.float32), {time_axis}, {src}), ms.bfloat16)"
    return f"ops.gather_elements({x}, {time_axis}, {src})"


@emits("onnx.MaxUnpool", since=9)
def max_unpool(op: Op, cx: EmitContext) -> str:
    """onnx.MaxUnpool -> X's values scattered at the flat indices I of a zero tensor: ops.tensor_scatter_update, then reshape.

    The indices address the default (inferred) output; a larger output_shape pads it with zeros at the end.
    """
    in_shape = cx.in_shape(0)
    known = cx.const(2)  # ONNX shape inference leaves the output shape unknown even for a constant output_shape
    shape = tuple(int(d) for d in known.reshape(-1)) if known is not None else cx.out_shape()
    kernel = list(cx.attr("kernel_shape") or [])
    k = len(kernel)
    if k != len(in_shape) - 2 or len(shape) != len(in_shape):
        cx.fail("MaxUnpool needs kernel_shape for every spatial dim")
    strides = list(cx.attr("strides") or [1] * k)
    pads = list(cx.attr("pads") or [0] * (2 * k))
    inferred = list(in_shape[:2]) + [(in_shape[d + 2] - 1) * strides[d] - pads[d] - pads[k + d] + kernel[d] for d in range(k)]
    if any(o < n for o, n in zip(shape, inferred, strict=True)) or tuple(shape[:2]) != tuple(inferred[:2]):
        cx.fail(f"MaxUnpool output_shape {shape} is smaller than the unpooled shape {inferred}")
    dtype = cx.dtype(cx.in_type(0).dtype)
    idx = cx.arg(1)
    if cx.in_type(1).dtype != DType.I64:
        idx = f"ops.cast({idx}, ms.int64)"
    zeros = f"ops.zeros(({int(np.prod(inferred, dtype=np.int64))},), {dtype})"
    out = f"ops.tensor_scatter_update({zeros}, {idx}.reshape(-1, 1), {cx.arg(0)}.reshape(-1)).reshape({cx.lit(tuple(inferred))})"
    if tuple(shape) != tuple(inferred):
        padding = []
        for d in reversed(range(2, len(shape))):
            padding += [0, shape[d] - inferred[d]]
        out = f"ops.pad({out}, {cx.lit(tuple(padding))})"
    return out
