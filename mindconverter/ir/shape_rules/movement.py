"""Shape rules of ops that move data or make shapes: Reshape, Slice, Gather, Concat, Pad, Resize, Range...

Their shape operands (Reshape's shape, Slice's starts and ends, Pad's pads...) are read with
`cx.contents(i)`, so a target shape computed from `Shape(x)` at run time gives symbolic dims.
"""

from __future__ import annotations

import math

from mindconverter.ir.core import Dense, Op
from mindconverter.ir.shape_rules import Results, ShapeContext, ShapeError, broadcast, like, shape_rule
from mindconverter.ir.symbolic import add, ceildiv, dmin, equal, floordiv, mul, product, sub
from mindconverter.ir.types import UNKNOWN, Dim, DType, TensorType, Unknown

#: Slice bounds at or beyond this magnitude mean "to the end" (exporters write INT_MAX or INT64_MAX).
_HUGE = 2**31 - 1


def _unknowns(n: int) -> tuple[Dim, ...]:
    return (UNKNOWN,) * n


def _length(cx: ShapeContext, i: int) -> int | None:
    """The static length of 1-D operand `i` (how many entries a shape operand has), or None."""
    if not cx.has(i):
        return None
    dims = cx.type(i).dims
    return dims[0] if dims is not None and len(dims) == 1 and type(dims[0]) is int else None


def _axes(cx: ShapeContext, attr_name: str, input_index: int) -> list[int] | None:
    """Axes from the attribute (older opsets) or from the input (newer ones); None when unknown or absent."""
    value = cx.op.attr(attr_name)
    if value is not None:
        return [int(a) for a in value]
    return cx.ints(input_index) if cx.has(input_index) else None


# -- reshaping ----------------------------------------------------------------------------------


@shape_rule("onnx.Reshape")
def reshape(op: Op, cx: ShapeContext) -> Results:
    """The target shape: 0 copies the input dim (unless allowzero), -1 is what is left of the elements."""
    x = cx.type(0)
    target = cx.contents(1)
    if target is None:
        n = _length(cx, 1)
        return [x.with_dims(None if n is None else _unknowns(n))]
    allowzero = bool(op.attr("allowzero", 0))
    out: list[Dim] = []
    for i, t in enumerate(target):
        if type(t) is int and t == 0 and not allowzero:
            out.append(x.dims[i] if x.dims is not None and i < len(x.dims) else UNKNOWN)
        elif type(t) is int and t < -1:
            raise ShapeError(f"'{op.name}' target shape {list(target)} has a negative size other than -1")
        else:
            out.append(t)
    holes = [i for i, d in enumerate(out) if type(d) is int and d == -1]
    if len(holes) > 1:
        raise ShapeError(f"'{op.name}' target shape {list(target)} has more than one -1")
    total = product(x.dims) if x.dims is not None else UNKNOWN
    known = product(d for i, d in enumerate(out) if i not in holes)
    if holes:
        if type(total) is int and type(known) is int and (known == 0 or total % known):
            raise ShapeError(f"'{op.name}' cannot reshape {x} into {list(target)}")
        out[holes[0]] = floordiv(total, known) if not isinstance(known, Unknown) and known != 0 else UNKNOWN
    elif type(total) is int and type(known) is int and total != known:
        raise ShapeError(f"'{op.name}' cannot reshape {x} ({total} elements) into {list(target)}")
    return [x.with_dims(tuple(out))]


@shape_rule("onnx.Flatten")
def flatten(op: Op, cx: ShapeContext) -> Results:
    """(d0..d_{axis-1}, d_axis..) -> (product, product)."""
    x = cx.type(0)
    if x.dims is None:
        return [x.with_dims(_unknowns(2))]
    axis = int(op.attr("axis", 1))
    axis = cx.axis(axis, len(x.dims) + 1) if axis >= 0 else cx.axis(axis, len(x.dims))  # axis may equal the rank
    return [x.with_dims((product(x.dims[:axis]), product(x.dims[axis:])))]


@shape_rule("onnx.Transpose")
def transpose(op: Op, cx: ShapeContext) -> Results:
    """Dims in `perm` order (reversed by default)."""
    x = cx.type(0)
    if x.dims is None:
        perm = op.attr("perm")
        return [x.with_dims(None if perm is None else _unknowns(len(perm)))]
    perm = op.attr("perm") or list(reversed(range(len(x.dims))))
    if sorted(perm) != list(range(len(x.dims))):
        raise ShapeError(f"'{op.name}' perm {list(perm)} is not a permutation of {len(x.dims)} dims")
    return [x.with_dims(tuple(x.dims[p] for p in perm))]


@shape_rule("onnx.Squeeze")
def squeeze(op: Op, cx: ShapeContext) -> Results:
    """Drop the dims at `axes`, or every dim of size 1 (symbolic dims are taken as not 1)."""
    x = cx.type(0)
    axes = _axes(cx, "axes", 1)
    if x.dims is None:
        return [x]
    if axes is None and cx.has(1):
        return [x.with_dims(None)]
    if axes is None:
        if any(isinstance(d, Unknown) for d in x.dims):
            return [x.with_dims(None)]
        return [x.with_dims(tuple(d for d in x.dims if d != 1))]
    drop = {cx.axis(a, len(x.dims)) for a in axes}
    for a in drop:
        if type(x.dims[a]) is int and x.dims[a] != 1:
            raise ShapeError(f"'{op.name}' squeezes axis {a} of {x}, which is not 1")
    return [x.with_dims(tuple(d for i, d in enumerate(x.dims) if i not in drop))]


@shape_rule("onnx.Unsqueeze")
def unsqueeze(op: Op, cx: ShapeContext) -> Results:
    """Insert dims of size 1 at `axes` (of the result)."""
    x = cx.type(0)
    axes = _axes(cx, "axes", 1)
    if x.dims is None:
        return [x]
    if axes is None:
        n = _length(cx, 1)
        return [x.with_dims(None if n is None else _unknowns(len(x.dims) + n))]
    rank = len(x.dims) + len(axes)
    where = {cx.axis(a, rank) for a in axes}
    rest = iter(x.dims)
    return [x.with_dims(tuple(1 if i in where else next(rest) for i in range(rank)))]


@shape_rule("onnx.DepthToSpace")
def depth_to_space(op: Op, cx: ShapeContext) -> Results:
    """(N, C, H, W) -> (N, C/b^2, H*b, W*b)."""
    x = cx.type(0)
    if x.dims is None:
        return [x.with_dims(_unknowns(4))]
    b = int(op.attr("blocksize"))
    n, c, h, w = x.dims
    return [x.with_dims((n, floordiv(c, b * b), mul(h, b), mul(w, b)))]


@shape_rule("onnx.SpaceToDepth")
def space_to_depth(op: Op, cx: ShapeContext) -> Results:
    """(N, C, H, W) -> (N, C*b^2, H/b, W/b)."""
    x = cx.type(0)
    if x.dims is None:
        return [x.with_dims(_unknowns(4))]
    b = int(op.attr("blocksize"))
    n, c, h, w = x.dims
    return [x.with_dims((n, mul(c, b * b), floordiv(h, b), floordiv(w, b)))]


# -- joining and splitting -------------------------------------------------------------------------


@shape_rule("onnx.Concat")
def concat(op: Op, cx: ShapeContext) -> Results:
    """Sizes along `axis` add up; the other dims of all inputs are equal."""
    types = [v.type for v in op.operands if v is not None]
    known = [t for t in types if t.dims is not None]
    if not known:
        return [types[0]]
    rank = len(known[0].dims)
    axis = cx.axis(int(op.attr("axis")), rank)
    if len(known) < len(types):
        return [types[0].with_dims(tuple(UNKNOWN if i == axis else known[0].dims[i] for i in range(rank)))]
    if any(len(t.dims) != rank for t in known):
        raise ShapeError(f"inputs of '{op.name}' have different ranks: {', '.join(map(str, types))}")
    dims: list[Dim] = []
    for i in range(rank):
        column = [t.dims[i] for t in known]
        if i == axis:
            total: Dim = 0
            for d in column:
                total = add(total, d)
            dims.append(total)
        else:
            d = column[0]
            for other in column[1:]:
                d = cx.same(d, other, f"dims {i}")
            dims.append(d)
    return [types[0].with_dims(tuple(dims))]


@shape_rule("onnx.Split")
def split(op: Op, cx: ShapeContext) -> Results:
    """Parts along `axis` of the sizes in `split`, else equal parts (the last one smaller with num_outputs)."""
    x = cx.type(0)
    n = len(op.results)
    if x.dims is None:
        return [x] * n
    axis = cx.axis(int(op.attr("axis", 0)), len(x.dims))
    d = x.dims[axis]
    sizes: list[Dim] | None
    given = op.attr("split")
    if given is not None:
        sizes = [int(s) for s in given]
    elif cx.has(1):
        c = cx.contents(1)
        sizes = list(c) if c is not None else None
    elif op.attr("num_outputs") is not None:
        part = ceildiv(d, n)
        sizes = [part] * (n - 1) + [sub(d, mul(part, n - 1))]
    else:
        if type(d) is int and d % n:
            raise ShapeError(f"'{op.name}' cannot split {d} into {n} equal parts")
        sizes = [floordiv(d, n)] * n
    if sizes is None:
        return [x.with_dims(tuple(UNKNOWN if i == axis else e for i, e in enumerate(x.dims)))] * n
    if len(sizes) != n:
        raise ShapeError(f"'{op.name}' has {n} results but {len(sizes)} split sizes")
    return [x.with_dims(tuple(s if i == axis else e for i, e in enumerate(x.dims))) for s in sizes]


# -- slicing and gathering -----------------------------------------------------------------------


def _bound(v: Dim, d: Dim, step: int, is_start: bool) -> Dim | None:
    """A slice bound made non-negative and clamped to the dim, as numpy does; None when it cannot be told."""
    if type(v) is int:
        if step > 0:
            if v >= _HUGE:
                return d
            if v <= -_HUGE:
                return 0
        else:
            if v >= _HUGE:
                return sub(d, 1)
            if v <= -_HUGE:
                return -1
        if v < 0:
            v = add(d, v)
        if type(v) is int and type(d) is int:
            return max(0, min(v, d)) if step > 0 else max(-1, min(v, d - 1))
        if type(v) is int and 0 <= v <= 1 and step > 0:
            return v  # a dim is at least 1: x[:, :1] has one row (sympy cannot tell min(1, (h + 1)//2))
        if isinstance(d, Unknown):
            return None
        return dmin(v, d) if step > 0 else v
    if isinstance(v, Unknown) or isinstance(d, Unknown):
        return None
    if equal(v, d) is True:
        return d if step > 0 else sub(d, 1)
    return dmin(v, d) if step > 0 else v


def slice_length(d: Dim, start: Dim, end: Dim, step: int) -> Dim:
    """How many elements `x[start:end:step]` has along a dim of size `d`."""
    if step == 0:
        raise ShapeError("slice step is 0")
    if type(d) is int and type(start) is int and type(end) is int:
        return len(range(*slice(start, end, step).indices(d)))
    s, e = _bound(start, d, step, True), _bound(end, d, step, False)
    if s is None or e is None:
        return UNKNOWN
    n = ceildiv(sub(e, s), step) if step > 0 else ceildiv(sub(s, e), -step)
    return max(n, 0) if type(n) is int else n


@shape_rule("onnx.Slice")
def slice_(op: Op, cx: ShapeContext) -> Results:
    """x[starts:ends:steps] on `axes`; bounds are clamped (INT_MAX means to the end)."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    if op.attr("starts") is not None:  # before opset 10: attributes
        starts, ends = list(op.attr("starts")), list(op.attr("ends"))
        axes: list[int] | None = list(op.attr("axes") or range(len(starts)))
        steps: list[int] | None = [1] * len(starts)
    else:
        c_starts, c_ends = cx.contents(1), cx.contents(2)
        starts = list(c_starts) if c_starts is not None else None
        ends = list(c_ends) if c_ends is not None else None
        axes = cx.ints(3) if cx.has(3) else (list(range(len(starts))) if starts is not None else None)
        steps = cx.ints(4) if cx.has(4) else ([1] * len(axes) if axes is not None else None)
    if axes is None:
        return [x.with_dims(_unknowns(len(x.dims)))]
    dims = list(x.dims)
    for j, a in enumerate(axes):
        a = cx.axis(a, len(dims))
        if starts is None or ends is None or steps is None:
            dims[a] = UNKNOWN
            continue
        dims[a] = slice_length(x.dims[a], starts[j], ends[j], steps[j])
    return [x.with_dims(tuple(dims))]


@shape_rule("onnx.Gather")
def gather(op: Op, cx: ShapeContext) -> Results:
    """data[..., indices, ...] at `axis`: the indices' dims replace that axis."""
    data, indices = cx.type(0), cx.type(1)
    if data.dims is None or indices.dims is None:
        return [data.with_dims(None)]
    axis = cx.axis(int(op.attr("axis", 0)), len(data.dims))
    return [data.with_dims((*data.dims[:axis], *indices.dims, *data.dims[axis + 1:]))]


@shape_rule("onnx.GatherElements")
def gather_elements(op: Op, cx: ShapeContext) -> Results:
    """The indices' shape, the data's element type."""
    return [like(cx.type(1), cx.type(0).dtype)]


@shape_rule("onnx.GatherND")
def gather_nd(op: Op, cx: ShapeContext) -> Results:
    """indices[:-1] + data[batch_dims + indices[-1]:]."""
    data, indices = cx.type(0), cx.type(1)
    if data.dims is None or indices.dims is None or type(indices.dims[-1]) is not int:
        return [data.with_dims(None)]
    b = int(op.attr("batch_dims", 0))
    return [data.with_dims((*indices.dims[:-1], *data.dims[b + indices.dims[-1]:]))]


# -- growing --------------------------------------------------------------------------------------


@shape_rule("onnx.Expand")
def expand(op: Op, cx: ShapeContext) -> Results:
    """Broadcast of the input against the target shape."""
    x = cx.type(0)
    target = cx.contents(1)
    if target is None:
        n = _length(cx, 1)
        if n is None or x.dims is None:
            return [x.with_dims(None)]
        # An unknown target entry keeps the input's dim unless that dim is 1 (then it may grow).
        pad = (1,) * max(0, n - len(x.dims)) + x.dims
        return [x.with_dims(tuple(UNKNOWN if type(d) is int and d == 1 else d for d in pad))]
    if x.dims is None:
        return [x.with_dims(None)]
    return [x.with_dims(broadcast(cx, [x.dims, tuple(target)]))]


@shape_rule("onnx.Tile")
def tile(op: Op, cx: ShapeContext) -> Results:
    """Each dim times its repeat."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    repeats = cx.contents(1)
    if repeats is None:
        return [x.with_dims(_unknowns(len(x.dims)))]
    return [x.with_dims(tuple(mul(d, r) for d, r in zip(x.dims, repeats, strict=True)))]


@shape_rule("onnx.Pad")
def pad(op: Op, cx: ShapeContext) -> Results:
    """Each padded dim grows by its begin and end pads (negative pads crop)."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    pads = op.attr("pads")
    pads = list(pads) if pads is not None else (list(cx.contents(1)) if cx.contents(1) is not None else None)
    axes = cx.ints(3) if cx.has(3) else list(range(len(x.dims)))
    if axes is None or pads is None:
        return [x.with_dims(_unknowns(len(x.dims)))]
    n = len(axes)
    if len(pads) != 2 * n:
        raise ShapeError(f"'{op.name}' has {len(pads)} pads for {n} axes")
    dims = list(x.dims)
    for j, a in enumerate(axes):
        a = cx.axis(a, len(dims))
        dims[a] = add(add(dims[a], pads[j]), pads[j + n])
    return [x.with_dims(tuple(dims))]


@shape_rule("onnx.Resize", "onnx.Upsample")
def resize(op: Op, cx: ShapeContext) -> Results:
    """The `sizes` given, or floor(dim * scale) for the `scales` given, on `axes` (all by default)."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    rank = len(x.dims)
    axes = [cx.axis(int(a), rank) for a in op.attr("axes") or range(rank)]
    scales_at = 1 if op.op_type == "Upsample" or cx.opset < 11 else 2
    sizes = cx.contents(3) if op.op_type == "Resize" and cx.opset >= 11 and cx.has(3) else None
    policy = op.attr("keep_aspect_ratio_policy", "stretch")
    dims = list(x.dims)
    if sizes is not None and len(sizes) == len(axes) and policy == "stretch":
        for a, s in zip(axes, sizes, strict=True):
            dims[a] = s
        return [x.with_dims(tuple(dims))]
    scales = op.attr("scales") if op.op_type == "Upsample" and op.attr("scales") else cx.floats(scales_at)
    if scales is None or len(scales) != len(axes) or sizes is not None:
        return [x.with_dims(tuple(UNKNOWN if i in axes else d for i, d in enumerate(dims)))]
    for a, s in zip(axes, scales, strict=True):
        dims[a] = _scaled(dims[a], float(s))
    return [x.with_dims(tuple(dims))]


def _scaled(d: Dim, s: float) -> Dim:
    if s == 1.0:
        return d
    if type(d) is int:
        return math.floor(d * s)  # as ONNX's shape inference computes it
    if s.is_integer():
        return mul(d, int(s))
    if (1 / s).is_integer():
        return floordiv(d, int(1 / s))
    return UNKNOWN


# -- making tensors -------------------------------------------------------------------------------


@shape_rule("onnx.Shape")
def shape(op: Op, cx: ShapeContext) -> Results:
    """The rank (or the `start:end` part of it) as an i64 vector."""
    x = cx.type(0)
    if x.dims is None:
        return [TensorType(DType.I64, (UNKNOWN,))]
    rank = len(x.dims)
    n = len(range(rank)[slice(op.attr("start", 0), op.attr("end", rank))])
    return [TensorType(DType.I64, (n,))]


@shape_rule("onnx.Size")
def size(op: Op, cx: ShapeContext) -> Results:
    """An i64 scalar."""
    return [TensorType(DType.I64, ())]


@shape_rule("onnx.ConstantOfShape")
def constant_of_shape(op: Op, cx: ShapeContext) -> Results:
    """The shape given by the input's contents, of `value`'s element type (f32 by default)."""
    value = op.attr("value")
    dtype = value.dtype if isinstance(value, Dense) else DType.F32
    dims = cx.contents(0)
    if dims is None:
        n = _length(cx, 0)
        return [TensorType(dtype, None if n is None else _unknowns(n))]
    return [TensorType(dtype, tuple(dims))]


@shape_rule("onnx.Range")
def range_(op: Op, cx: ShapeContext) -> Results:
    """max(ceil((limit - start) / delta), 0) elements of start's element type."""
    dtype = cx.type(0).dtype
    start, limit, delta = cx.contents(0), cx.contents(1), cx.contents(2)
    if any(c is None or len(c) != 1 for c in (start, limit, delta)):
        floats = [cx.floats(i) for i in range(3)]
        if all(f is not None and len(f) == 1 for f in floats):
            (s,), (e,), (d,) = floats  # type: ignore[misc]
            return [TensorType(dtype, (max(math.ceil((e - s) / d), 0),))]
        return [TensorType(dtype, (UNKNOWN,))]
    (s,), (e,), (d,) = start, limit, delta  # type: ignore[misc]
    if type(d) is not int or d == 0:
        return [TensorType(dtype, (UNKNOWN,))]
    n = ceildiv(sub(e, s), d) if d > 0 else ceildiv(sub(s, e), -d)
    return [TensorType(dtype, (max(n, 0) if type(n) is int else n,))]


@shape_rule("onnx.OneHot")
def one_hot(op: Op, cx: ShapeContext) -> Results:
    """The indices' dims with `depth` inserted at `axis`; the element type of `values`."""
    indices, values = cx.type(0), cx.type(2)
    if indices.dims is None:
        return [values.with_dims(None)]
    depth = cx.contents(1)
    if depth is None and cx.floats(1) is not None:
        depth = tuple(int(f) for f in cx.floats(1))  # type: ignore[union-attr]
    d = depth[0] if depth is not None and len(depth) == 1 else UNKNOWN
    rank = len(indices.dims) + 1
    axis = cx.axis(int(op.attr("axis", -1)), rank)
    dims = list(indices.dims)
    dims.insert(axis, d)
    return [values.with_dims(tuple(dims))]


@shape_rule("onnx.NonZero")
def non_zero(op: Op, cx: ShapeContext) -> Results:
    """(rank, count) i64: the count is only known at run time."""
    x = cx.type(0)
    return [TensorType(DType.I64, (len(x.dims) if x.dims is not None else UNKNOWN, UNKNOWN))]
