"""Tensor plumbing: onnx.Identity/Cast/Concat/Gather/Slice/Pad -> Python indexing and ops.* functions."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType

# ONNX TensorProto.DataType codes (the `to` attribute of Cast); the backend does not import onnx.
_ONNX_DTYPES = {
    1: DType.F32, 2: DType.U8, 3: DType.I8, 4: DType.U16, 5: DType.I16, 6: DType.I32, 7: DType.I64,
    9: DType.BOOL, 10: DType.F16, 11: DType.F64, 12: DType.U32, 13: DType.U64, 16: DType.BF16,
}


@emits("onnx.Identity")
def identity(op: Op, cx: EmitContext) -> str:
    """onnx.Identity -> the input itself."""
    return cx.arg(0)


@emits("onnx.Cast", since=6)
def cast(op: Op, cx: EmitContext) -> str:
    """onnx.Cast -> ops.cast(x, dtype) (float -> int truncates toward zero in both)."""
    to = cx.attr("to")
    if to not in _ONNX_DTYPES:
        cx.fail(f"Cast to ONNX type {to} has no MindSpore tensor type")
    target = _ONNX_DTYPES[to]
    if cx.in_type(0).dtype == target:
        return cx.arg(0)
    return f"ops.cast({cx.arg(0)}, {cx.dtype(target)})"


@emits("onnx.Concat", since=4)
def concat(op: Op, cx: EmitContext) -> str:
    """onnx.Concat -> ops.concat((a, b, ...), axis)."""
    args = cx.args()
    if len(args) == 1:
        return args[0]
    return f"ops.concat(({', '.join(args)}), axis={cx.attr('axis')})"


def _normalise(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


@emits("onnx.Gather", since=1)
def gather(op: Op, cx: EmitContext) -> str:
    """onnx.Gather -> x[:, i] for a constant scalar index, else ops.gather(x, indices, axis)."""
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("Gather needs the rank of its data input")
    axis = _normalise(cx.attr("axis", 0), rank)
    x = cx.arg(0)
    indices = cx.const(1)
    dims = cx.in_type(0).dims
    size = dims[axis] if isinstance(dims[axis], int) else None
    if indices is not None and size is not None:
        # Constant negative indices are resolved now; x[:, -1] with a tensor index fails in
        # GRAPH mode (mindspore-cpu-ops.md, trap 13).
        indices = np.where(indices < 0, indices + size, indices)
        if indices.ndim == 0:
            return f"{x}[{', '.join([':'] * axis + [str(int(indices))])}]"
        return f"ops.gather({x}, {cx.tensor(indices, hint='indices')}, {axis})"
    return f"ops.gather({x}, {cx.arg(1)}, {axis})"


_BIG = 2**31 - 1  # ONNX exporters write INT64_MAX / INT_MAX for "to the end"


def _slice_text(start: int, end: int, step: int, size: int | None) -> str | None:
    """Python slice text selecting what ONNX Slice selects along one axis.

    Python's slice clamping is ONNX's (negative values count from the end; start clamps to
    [0, size] or [0, size-1], end to [0, size] or [-1, size-1] for negative steps), so the values
    carry over; with a static size they are also simplified (`0:9223372036854775807` -> `:`).
    """
    if size is not None:
        r = range(size)[slice(start, end, step)]
        if len(r) == 0:
            return None
        first, last = r[0], r[-1]
        if step > 0:
            lo = "" if first == 0 else str(first)
            hi = "" if last + step >= size else str(last + 1)
        else:
            lo = "" if first == size - 1 else str(first)
            hi = "" if last + step < 0 else str(last - 1)
    else:
        if step > 0:
            lo = "" if start == 0 or start <= -_BIG else str(start)
            hi = "" if end >= _BIG else str(end)
        else:
            lo = "" if start >= _BIG else str(start)
            hi = "" if end <= -_BIG else str(end)
    text = f"{lo}:{hi}"
    return text if step == 1 else f"{text}:{step}"


@emits("onnx.Slice", since=10)
def slice_(op: Op, cx: EmitContext) -> str:
    """onnx.Slice (constant starts/ends/axes/steps) -> Python slicing x[:, 1:3]."""
    dims = cx.in_type(0).dims
    if dims is None:
        cx.fail("Slice needs the rank of its data input")
    rank = len(dims)
    starts = [int(v) for v in cx.const_list(1, "starts")]
    ends = [int(v) for v in cx.const_list(2, "ends")]
    axes = [int(v) for v in cx.const_list(3, "axes")] if cx.has(3) else list(range(len(starts)))
    steps = [int(v) for v in cx.const_list(4, "steps")] if cx.has(4) else [1] * len(starts)
    items = [":"] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _normalise(axis, rank)
        size = dims[axis] if isinstance(dims[axis], int) else None
        if step == 0:
            cx.fail(f"Slice steps must not be 0, got {steps}")
        text = _slice_text(start, end, step, size)
        if text is None:
            cx.fail(f"Slice {start}:{end}:{step} on axis {axis} selects no elements; MindSpore cannot index an empty range")
        items[axis] = text
    while items and items[-1] == ":":
        items.pop()
    if not items:
        return cx.arg(0)
    return f"{cx.arg(0)}[{', '.join(items)}]"


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@emits("onnx.Pad", since=11)
def pad(op: Op, cx: EmitContext) -> str:
    """onnx.Pad (opset >= 11: pads, constant_value and axes as inputs) -> ops.pad(x, padding, mode, value)."""
    mode = cx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        cx.fail(f"Pad mode must be constant, reflect, edge or wrap, got {mode!r}")
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("Pad needs the rank of its input")
    pads = [int(p) for p in cx.const_list(1, "pads")]
    axes = [int(a) for a in cx.const_list(3, "axes")] if cx.has(3) else list(range(rank))
    axes = [_normalise(a, rank) for a in axes]
    begins, ends = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begins[axis], ends[axis] = pads[i], pads[i + len(axes)]
    padded = [d for d in range(rank) if begins[d] or ends[d]]
    if not padded:
        return cx.arg(0)
    # ops.pad lists (begin, end) pairs from the last dim backwards, as far as the outermost padded dim.
    count = rank - padded[0]
    if mode != "constant":
        # reflect/replicate/circular pad the last 1-3 dims of a 2-D to 5-D input, leaving at least dim 0.
        if any(p < 0 for p in begins + ends):
            cx.fail(f"Pad mode {mode!r} with negative pads {pads} is not supported")
        if count > rank - 1 or count > 3:
            cx.fail(f"Pad mode {mode!r} can pad at most the last 3 dims of a tensor and never dim 0, got pads {pads}")
        if mode == "reflect" and rank > 4:
            cx.fail("Pad mode 'reflect' supports inputs of rank 4 at most in MindSpore")
        count = max(count, rank - 2)
    padding = tuple(v for d in reversed(range(rank - count, rank)) for v in (begins[d], ends[d]))
    args = [cx.arg(0), cx.lit(padding)]
    if mode != "constant":
        args.append(cx.lit(_PAD_MODES[mode]))
    elif cx.has(2):
        value = cx.const(2)
        if value is None:
            cx.fail("Pad's constant_value must be a constant, but it is computed at run time")
        if value.size and value.reshape(-1)[0] != 0:
            args.append(f"value={cx.lit(cx.number(value.reshape(-1)[0], value.dtype))}")
    return f"ops.pad({', '.join(args)})"
