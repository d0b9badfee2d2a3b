"""Tensor plumbing: onnx.Identity/Cast/Concat/Gather/Slice/Pad -> Python indexing and ops.* functions."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.runtime_shapes import PAD_MODES, pad_call, runtime_pad, runtime_slice, sized_pad
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
    """onnx.Concat -> ops.concat((a, b, ...), axis); a cell's concat of all its inputs when the cell takes them
    as `*features` (mc.cell's `varargs`, set by structure-modules) -> ops.concat(features, axis)."""
    region = op.parent
    cell = region.parent if region is not None else None
    if isinstance(cell, Op) and cell.attrs.get("varargs") and list(op.operands) == list(region.args):
        return f"ops.concat({cell.attrs['varargs']}, axis={cx.attr('axis')})"
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


def _slice_text(start: int, end: int, step: int, size: int | None) -> str:
    """Python slice text selecting what ONNX Slice selects along one axis.

    Python's slice clamping is ONNX's (negative values count from the end; start clamps to
    [0, size] or [0, size-1], end to [0, size] or [-1, size-1] for negative steps), so the values
    carry over; with a static size they are also simplified (`0:9223372036854775807` -> `:`).
    """
    if size is not None:
        r = range(size)[slice(start, end, step)]
        if len(r) == 0:
            return "0:0"  # an empty range: MindSpore slices to an empty tensor in both modes
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
    """onnx.Slice -> Python slicing x[:, 1:3]; starts/ends may be sizes read off tensors (x[:, 1:x.shape[1] - 1])."""
    dims = cx.in_type(0).dims
    if dims is None:
        cx.fail("Slice needs the rank of its data input")
    rank = len(dims)
    starts, ends = cx.shape_operand(1), cx.shape_operand(2)
    axes = cx.shape_operand(3) if cx.has(3) else None
    steps = cx.shape_operand(4) if cx.has(4) else None
    if any(got is None and cx.has(i) for i, got in ((1, starts), (2, ends), (3, axes), (4, steps))):
        return runtime_slice(cx)
    for name, got in (("axes", axes), ("steps", steps)):
        if got is not None and not all(map(cx.is_literal, got)):
            cx.fail(f"Slice {name} must be constants, got {got}")
    if len(starts) != len(ends):
        cx.fail(f"Slice has {len(starts)} starts but {len(ends)} ends")
    axes_ = [int(a) for a in axes] if axes is not None else list(range(len(starts)))
    steps_ = [int(a) for a in steps] if steps is not None else [1] * len(starts)
    items = [":"] * rank
    for start, end, axis, step in zip(starts, ends, axes_, steps_, strict=True):
        axis = _normalise(axis, rank)
        size = dims[axis] if isinstance(dims[axis], int) else None
        if step == 0:
            cx.fail(f"Slice steps must not be 0, got {steps_}")
        if cx.is_literal(start) and cx.is_literal(end):
            text = _slice_text(int(start), int(end), step, size)
        else:
            text = _runtime_slice_text(start, end, step, cx.is_literal)
        items[axis] = text
    while items and items[-1] == ":":
        items.pop()
    if not items:
        return cx.arg(0)
    return f"{cx.arg(0)}[{', '.join(items)}]"


def _runtime_slice_text(start: str, end: str, step: int, literal) -> str:  # noqa: ANN001
    """Python slice text for bounds some of which are sizes known at run time (Python clamps as ONNX does)."""
    def bound(expr: str, default_if: int | None) -> str:
        if literal(expr) and default_if is not None and (int(expr) >= _BIG if default_if > 0 else int(expr) <= -_BIG):
            return ""
        return expr

    if step > 0:
        lo = "" if start == "0" else bound(start, -1)
        hi = bound(end, 1)
    else:
        lo = bound(start, 1)
        hi = bound(end, -1)
    text = f"{lo}:{hi}"
    return text if step == 1 else f"{text}:{step}"


@emits("onnx.Pad", since=11)
def pad(op: Op, cx: EmitContext) -> str:
    """onnx.Pad (opset >= 11: pads, constant_value and axes as inputs) -> ops.pad(x, padding, mode, value)."""
    mode = cx.attr("mode", "constant")
    if mode not in PAD_MODES:
        cx.fail(f"Pad mode must be constant, reflect, edge or wrap, got {mode!r}")
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("Pad needs the rank of its input")
    sizes = cx.shape_operand(1)
    if sizes is None or cx.has(3) and cx.shape_operand(3) is None:
        return runtime_pad(cx, mode, rank)
    if not all(map(cx.is_literal, sizes)):
        return sized_pad(cx, mode, rank, sizes)
    pads = [int(p) for p in sizes]
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
    return pad_call(cx, cx.lit(padding), mode)


@emits("onnx.CastLike", since=15)
def cast_like(op: Op, cx: EmitContext) -> str:
    """onnx.CastLike -> ops.cast(x, dtype of the second input)."""
    target = cx.in_type(1).dtype
    if cx.in_type(0).dtype == target:
        return cx.arg(0)
    return f"ops.cast({cx.arg(0)}, {cx.dtype(target)})"


def _static_dims(cx: EmitContext, i: int, what: str) -> tuple[int, ...]:
    dims = cx.in_type(i).dims
    if dims is None or not all(isinstance(d, int) for d in dims):
        cx.fail(f"{what} needs a static input shape, got {cx.in_type(i)}")
    return tuple(dims)


@emits("onnx.Split", since=1)
def split(op: Op, cx: EmitContext) -> str | tuple[str, ...]:
    """onnx.Split (split as attribute, input or num_outputs) -> one slice x[:, a:b] per output."""
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("Split needs the rank of its input")
    axis = _normalise(cx.attr("axis", 0), rank)
    n = len(op.results)
    sizes = [r.type.dims[axis] if r.type.dims is not None else None for r in op.results]
    if not all(isinstance(s, int) for s in sizes):
        given = cx.attr("split")
        if given is None and cx.has(1):
            given = cx.shape_operand(1)
            if given is None:
                cx.fail("split (input 1) must be a constant or sizes of tensors, but it is computed at run time")
            if not all(map(cx.is_literal, given)):
                return _sized_split(cx, axis, given, n)
        dim = cx.in_type(0).dims[axis]
        if given is not None:
            sizes = [int(s) for s in given]
        elif isinstance(dim, int):
            # Equal parts; with num_outputs (opset 18) the last part may be smaller.
            part = -(-dim // n)
            sizes = [min(part, dim - i * part) for i in range(n)]
        else:
            cx.fail(f"Split of a dynamic dim {axis} needs constant split sizes")
    if any(s < 0 for s in sizes):
        cx.fail(f"Split into parts {sizes}: sizes must not be negative")
    if n == 1:
        return cx.arg(0)
    # One slice per output: the writer takes one expression per result.
    x, lead = cx.arg(0), ":, " * axis
    starts = np.cumsum([0, *sizes])
    return tuple(f"{x}[{lead}{lo or ''}:{hi}]" for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True))


def _sized_split(cx: EmitContext, axis: int, sizes: list[str], n: int) -> str | tuple[str, ...]:
    """Split into parts some of whose sizes are read off tensors: one slice per output, bounds as running sums."""
    if len(sizes) != n:
        cx.fail(f"Split has {len(sizes)} sizes for {n} outputs")
    if n == 1:
        return cx.arg(0)
    x, lead = cx.arg(0), ":, " * axis
    out, start = [], ""
    for i, s in enumerate(sizes):
        end = s if not start else f"{start} + {s}"
        out.append(f"{x}[{lead}{start}:{end if i < n - 1 else ''}]")
        start = end
    return tuple(out)


@emits("onnx.Expand", since=8)
def expand(op: Op, cx: EmitContext) -> str:
    """onnx.Expand -> ops.broadcast_to(x, output shape); a run-time shape adds ops.zeros(shape) (bidirectional)."""
    out = cx.out_type()
    x = cx.arg(0)
    dtype = cx.in_type(0).dtype
    if out.is_static:
        if tuple(out.shape) == tuple(cx.in_type(0).dims or ()):
            return x
        # Broadcasting to the final output shape is always valid, while ONNX's shape may be
        # smaller than x's (bidirectional, mindspore-cpu-ops.md trap 14).
        return f"ops.broadcast_to({x}, {cx.lit(tuple(out.shape))})"
    sizes = cx.shape_operand(1)
    in_dims = cx.in_type(0).dims
    if sizes is not None and in_dims is not None and out.dims is not None and len(sizes) == len(out.dims):
        # Bidirectional broadcasting: a 1 in the shape keeps x's dim (-1 in ops.broadcast_to).
        offset = len(sizes) - len(in_dims)
        items = []
        for j, s in enumerate(sizes):
            if isinstance(out.dims[j], int):
                items.append(str(out.dims[j]))
            elif s == "1" and j >= offset:
                items.append("-1")
            else:
                items.append(s)
        return f"ops.broadcast_to({x}, {'(' + items[0] + ',)' if len(items) == 1 else '(' + ', '.join(items) + ')'})"
    shape = cx.arg(1)
    if dtype == DType.BOOL:
        return f"ops.logical_or({x}, ops.zeros({shape}, ms.bool_))"
    return f"{x} + ops.zeros({shape}, {cx.dtype(dtype)})"


@emits("onnx.Tile", since=6)
def tile(op: Op, cx: EmitContext) -> str:
    """onnx.Tile -> ops.tile(x, repeats); run-time repeats are read off the static input and output shapes."""
    repeats = cx.shape_operand(1)
    if repeats is not None and not all(map(cx.is_literal, repeats)):
        return f"ops.tile({cx.arg(0)}, ({', '.join(repeats)}{',' if len(repeats) == 1 else ''}))"
    if repeats is not None:
        reps = [int(r) for r in repeats]
    else:
        dims = _static_dims(cx, 0, "Tile with run-time repeats")
        out = cx.out_type()
        if not out.is_static:
            cx.fail("Tile with run-time repeats needs a static output shape")
        reps = [o // d for o, d in zip(out.shape, dims, strict=True)]
    if all(r == 1 for r in reps):
        return cx.arg(0)
    if any(r <= 0 for r in reps):
        cx.fail(f"Tile repeats {reps}: MindSpore cannot make empty tensors")
    return f"ops.tile({cx.arg(0)}, {cx.lit(tuple(reps))})"


@emits("onnx.Range", since=11)
def range_(op: Op, cx: EmitContext) -> str:
    """onnx.Range -> ops.range(start, limit, delta), cast to the inputs' dtype."""
    dtype = cx.out_type().dtype
    known = [cx.scalar(i) for i in range(3)]
    if all(v is not None for v in known):
        start, limit, delta = known
        if delta == 0:
            cx.fail("Range delta must not be 0")
        values = np.arange(start, limit, delta).astype(dtype.to_numpy())
        if values.size == 0:
            cx.fail(f"Range({start}, {limit}, {delta}) is empty; MindSpore cannot make empty tensors")
        return cx.tensor(values, hint="range")
    sized = [cx.shape_operand(i) for i in range(3)]
    if all(v is not None for v in sized):  # bounds are sizes read off tensors: Python ints
        start, limit, delta = (v[0] for v in sized)
        args = f"{limit}" if (start, delta) == ("0", "1") else f"{start}, {limit}" if delta == "1" else f"{start}, {limit}, {delta}"
        return f"ops.arange({args}, dtype={cx.dtype(dtype)})"
    expr = f"ops.range({cx.arg(0)}, {cx.arg(1)}, {cx.arg(2)})"
    # ops.range returns int64 for every integer input type.
    return expr if dtype in (DType.I64, DType.F32) else f"ops.cast({expr}, {cx.dtype(dtype)})"


@emits("onnx.Trilu", since=14)
def trilu(op: Op, cx: EmitContext) -> str:
    """onnx.Trilu -> ops.triu / ops.tril(x, k); a run-time k keeps x where (col - row) compares with k."""
    upper = bool(cx.attr("upper", 1))
    x = cx.arg(0)
    dims = cx.in_type(0).dims
    if dims is not None and any(d == 0 for d in dims):
        # An empty input is its own result: there is nothing to mask (a (0, n) mask does not broadcast in ops.where).
        return x
    known = cx.const(1) if cx.has(1) else np.zeros(1, np.int64)
    k = known.reshape(-1)[0] if known is not None and known.size == 1 else None
    if k is not None:
        return f"ops.{'triu' if upper else 'tril'}({x}, {int(k)})"
    dims = _static_dims(cx, 0, "Trilu with a run-time k")
    if len(dims) < 2:
        cx.fail("Trilu needs an input of rank 2 or more")
    rows, cols = dims[-2:]
    offset = np.arange(cols, dtype=np.int64)[None, :] - np.arange(rows, dtype=np.int64)[:, None]
    diag = cx.tensor(offset, hint="diagonal_offset")
    keep = f"{diag} >= {cx.arg(1)}" if upper else f"{diag} <= {cx.arg(1)}"
    return f"ops.where({keep}, {x}, ops.zeros_like({x}))"


@emits("onnx.Size", since=1)
def size(op: Op, cx: EmitContext) -> str:
    """onnx.Size -> the element count as a constant int64 scalar (static shapes), else ops.size."""
    dims = cx.in_type(0).dims
    if dims is not None and all(isinstance(d, int) for d in dims):
        return cx.tensor(np.array(int(np.prod(dims, dtype=np.int64)), np.int64), hint="size")
    return f"ops.scalar_to_tensor(ops.size({cx.arg(0)}), ms.int64)"


@emits("onnx.EyeLike", since=9)
def eye_like(op: Op, cx: EmitContext) -> str:
    """onnx.EyeLike -> ops.eye(rows, cols, dtype) (k = 0), else a constant shifted identity."""
    rows, cols = _static_dims(cx, 0, "EyeLike")
    k = int(cx.attr("k", 0))
    dtype = cx.out_type().dtype
    if k == 0:
        return f"ops.eye({rows}, {cols}, {cx.dtype(dtype)})"
    return cx.tensor(np.eye(rows, cols, k, dtype=dtype.to_numpy()), hint="eye")


@emits("onnx.DepthToSpace", since=11)
def depth_to_space(op: Op, cx: EmitContext) -> str:
    """onnx.DepthToSpace -> ops.DepthToSpace(bs) (DCR); CRD: nn.PixelShuffle(bs) for a module of its own, else ops.pixel_shuffle."""
    bs = int(cx.attr("blocksize"))
    if cx.in_type(0).rank != 4:
        cx.fail(f"DepthToSpace needs a 4-D input, got {cx.in_type(0)}")
    if cx.attr("mode", "DCR") == "CRD":
        # nn.PixelShuffle / ops.pixel_shuffle order channels as ONNX's CRD (mindspore-cpu-ops.md, trap 18).
        member = cx.shared_layer("nn.PixelShuffle", bs)  # torch's `self.pixel_shuffle = nn.PixelShuffle(2)`
        return f"ops.pixel_shuffle({cx.arg(0)}, {bs})" if member is None else f"{member}({cx.arg(0)})"
    return f"{cx.layer('ops.DepthToSpace', bs)}({cx.arg(0)})"


@emits("onnx.SpaceToDepth", since=1)
def space_to_depth(op: Op, cx: EmitContext) -> str:
    """onnx.SpaceToDepth -> ops.SpaceToDepth(bs) (DCR); CRD mode -> ops.reshape / ops.transpose."""
    if cx.in_type(0).rank != 4:
        cx.fail(f"SpaceToDepth needs a 4-D input, got {cx.in_type(0)}")
    bs = int(cx.attr("blocksize"))
    if cx.attr("mode", "DCR") != "CRD":
        return f"{cx.layer('ops.SpaceToDepth', bs)}({cx.arg(0)})"
    n, c, h, w = _static_dims(cx, 0, "SpaceToDepth in CRD mode")
    blocks = f"ops.reshape({cx.arg(0)}, {cx.lit((n, c, h // bs, bs, w // bs, bs))})"
    return f"ops.reshape(ops.transpose({blocks}, (0, 1, 3, 5, 2, 4)), {cx.lit((n, c * bs * bs, h // bs, w // bs))})"
