"""The symbolic contents of shape tensors: what a small int64 tensor holds, as dims.

Exporters compute shapes at run time: `Concat(Gather(Shape(x), 0), [12, 64])` is the tensor
`(?batch, 12, 64)`. `contents(v)` follows such chains (Shape, Size, Gather, Slice, Concat,
(Un)Squeeze, Reshape, Cast, integer arithmetic, Floor/Ceil of a float division, Equal/Where on
decidable conditions, small ConstantOfShape/Expand/Range, constants, and `mc.dims`) and returns one dim per
element: an int where the size is known, a `Sym`/`SymExpr` where it is symbolic, UNKNOWN where it
cannot be said. Passes use it to fold shape arithmetic away when every entry is an int, and to
replace the rest by readable run-time code.

`contents` is a pure function of the IR; pass a `cache` dict to share work between calls in one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mindconverter.ir import symbolic as S
from mindconverter.ir.core import Value, WeightStore, known_array
from mindconverter.ir.types import UNKNOWN, Dim, Unknown

#: Longest tensor followed: shape tensors are short; anything longer is data, not a shape.
MAX_ELEMENTS = 64
#: How deep a chain is followed before giving up (shape chains are short; this bounds the work).
MAX_DEPTH = 48

Contents = tuple[Dim, ...]
_MISSING = object()


def contents(v: Value | None, weights: WeightStore | None = None, cache: dict | None = None) -> Contents | None:
    """The elements of a rank-0/rank-1 integer (or integral float) tensor as dims; None when unknown.

    A rank-0 value gives a 1-tuple. Entries may be UNKNOWN when only some are known.
    """
    if v is None or v.type.dims is None or len(v.type.dims) > 1:
        return None
    return _contents(v, weights, {} if cache is None else cache, 0)


def all_known(c: Contents | None) -> bool:
    """Whether every entry is an int or a symbolic dim (no UNKNOWN)."""
    return c is not None and not any(isinstance(d, Unknown) for d in c)


def all_static(c: Contents | None) -> bool:
    """Whether every entry is an int: the tensor can be folded to a constant."""
    return c is not None and all(isinstance(d, int) for d in c)


def _contents(v: Value | None, weights: WeightStore | None, cache: dict, depth: int) -> Contents | None:
    """Contents of a rank 0-2 value, row-major (rank 2 only inside chains: torch's pads reversal)."""
    if v is None or v.type.dims is None or len(v.type.dims) > 2:
        return None
    if not all(isinstance(d, int) for d in v.type.dims[1:]):
        return None  # a matrix needs a static row length to be read row by row
    if v.type.dims and isinstance(v.type.dims[0], int) and S.product(v.type.dims) > MAX_ELEMENTS:
        return None  # data, not a shape
    key = id(v)
    hit = cache.get(key, _MISSING)
    if hit is not _MISSING:
        return hit
    cache[key] = None  # a cycle (malformed IR) reads as unknown
    result = None if depth > MAX_DEPTH else _compute(v, weights, cache, depth + 1)
    if result is not None and len(result) > MAX_ELEMENTS:
        result = None
    cache[key] = result
    return result


def _ints(array: np.ndarray) -> Contents | None:
    flat = np.asarray(array).reshape(-1)
    if flat.size > MAX_ELEMENTS:
        return None
    if flat.dtype.kind == "f":
        if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
            return None
    elif flat.dtype.kind not in "iub":
        return None
    return tuple(int(x) for x in flat)


def _compute(v: Value, weights: WeightStore | None, cache: dict, depth: int) -> Contents | None:
    op = v.op
    if op is None:
        return None
    if op.name == "onnx.Constant":
        value = op.attrs.get("value")
        return None if value is None else _ints(np.asarray(value.array))
    if op.name in ("ir.const", "ir.param"):
        array = known_array(v, weights)
        return None if array is None else _ints(array)

    def follow(x: Value | None) -> Contents | None:
        return _contents(x, weights, cache, depth)

    def arg(i: int) -> Contents | None:
        return follow(op.operands[i] if i < len(op.operands) else None)

    if any(_rank(x) == 2 for x in op.operands) and op.name not in _ROW_MAJOR_SAFE:
        return _matrix_op(op, arg)
    rule = _RULES.get(op.name)
    if rule is None and op.name in _BINARY:
        rule = _binary
    return None if rule is None else rule(op, arg, follow)


def _broadcast(*parts: Contents | None) -> list[Contents] | None:
    """The operands' contents stretched to one length (length-1 contents repeat), or None."""
    if any(p is None for p in parts):
        return None
    n = max(len(p) for p in parts)  # type: ignore[arg-type]
    if any(len(p) not in (1, n) for p in parts):  # type: ignore[arg-type]
        return None
    return [p * n if len(p) == 1 else p for p in parts]  # type: ignore[operator,arg-type]


def _elementwise(fn: Callable[[Dim, Dim], Dim], a: Contents | None, b: Contents | None) -> Contents | None:
    pair = _broadcast(a, b)
    if pair is None:
        return None
    try:
        return tuple(fn(x, y) for x, y in zip(*pair, strict=True))
    except (ValueError, ZeroDivisionError, TypeError):
        return None


def _shape(op, arg, follow) -> Contents | None:  # noqa: ANN001
    dims = op.operands[0].type.dims
    if dims is None:
        return None
    rank = len(dims)
    start, end = op.attrs.get("start", 0), op.attrs.get("end", rank)
    start, end = (max(0, min(rank, s + rank if s < 0 else s)) for s in (start, end))
    return tuple(dims[start:end])


def _size(op, arg, follow) -> Contents | None:  # noqa: ANN001
    dims = op.operands[0].type.dims
    return None if dims is None else (S.product(dims),)


def _same(op, arg, follow) -> Contents | None:  # noqa: ANN001
    if op.name == "onnx.Cast" and not _integral_cast(op):
        return None
    return arg(0)


def _concat(op, arg, follow) -> Contents | None:  # noqa: ANN001
    parts = [arg(i) for i in range(len(op.operands))]
    return None if any(p is None for p in parts) else tuple(d for p in parts for d in p)  # type: ignore[union-attr]


def _gather(op, arg, follow) -> Contents | None:  # noqa: ANN001
    data, idx = arg(0), arg(1)
    if data is None or not all_static(idx) or int(op.attrs.get("axis", 0)) != 0:
        return None
    n = len(data)
    picked = []
    for i in idx:  # type: ignore[union-attr]
        i = i + n if i < 0 else i
        if not 0 <= i < n:
            return None
        picked.append(data[i])
    return tuple(picked)


def _binary(op, arg, follow) -> Contents | None:  # noqa: ANN001
    fn = _BINARY[op.name]
    if op.name == "onnx.Div" and op.results[0].type.dtype.is_float:
        fn = _exact_div
    return _elementwise(fn, arg(0), arg(1))


def _floor_ceil(op, arg, follow) -> Contents | None:  # noqa: ANN001
    src = op.operands[0].op
    if src is not None and src.name == "onnx.Div":  # Cast(float) -> Div -> Floor/Ceil: integer division
        fn = S.floordiv if op.name == "onnx.Floor" else S.ceildiv
        result = _elementwise(fn, follow(src.operands[0]), follow(src.operands[1]))
        if result is not None:
            return result
    return arg(0)  # of an integral value: unchanged


def _neg(op, arg, follow) -> Contents | None:  # noqa: ANN001
    a = arg(0)
    return None if a is None else tuple(S.mul(d, -1) for d in a)


def _equal_dims(x: Dim, y: Dim) -> Dim:
    same = S.equal(x, y)
    if same is None and (isinstance(y, int) and y <= 0 or isinstance(x, int) and x <= 0):
        same = False  # symbols are positive sizes: never equal to 0 or -1
    return UNKNOWN if same is None else int(same)


def _equal(op, arg, follow) -> Contents | None:  # noqa: ANN001
    return _elementwise(_equal_dims, arg(0), arg(1))


def _where(op, arg, follow) -> Contents | None:  # noqa: ANN001
    parts = _broadcast(arg(0), arg(1), arg(2))
    if parts is None:
        return None
    return tuple(
        UNKNOWN if not isinstance(c, int) else (x if c else y) for c, x, y in zip(*parts, strict=True)
    )


def _repeat(a: Contents | None, shape: Contents | None) -> Contents | None:
    """A one-element content repeated to a static 1-D shape (ConstantOfShape, Expand of a scalar)."""
    if a is None or len(a) != 1 or not all_static(shape) or len(shape) > 1:  # type: ignore[arg-type]
        return None
    n = shape[0] if shape else 1  # type: ignore[index]
    return None if n > MAX_ELEMENTS else a * n


def _constant_of_shape(op, arg, follow) -> Contents | None:  # noqa: ANN001
    value = op.attrs.get("value")
    return _repeat(_ints(np.asarray(value.array)) if value is not None else (0,), arg(0))


def _expand(op, arg, follow) -> Contents | None:  # noqa: ANN001
    return _repeat(arg(0), arg(1))


def _range(op, arg, follow) -> Contents | None:  # noqa: ANN001
    start, limit, delta = arg(0), arg(1), arg(2)
    if not (all_static(start) and all_static(limit) and all_static(delta)) or delta[0] == 0:  # type: ignore[index]
        return None
    values = tuple(range(start[0], limit[0], delta[0]))  # type: ignore[index]
    return values if len(values) <= MAX_ELEMENTS else None


def _reduce(op, arg, follow) -> Contents | None:  # noqa: ANN001
    a = arg(0)
    if a is None or op.results[0].type.rank not in (0, 1):
        return None
    return (S.product(a) if op.name == "onnx.ReduceProd" else _sum(a),)


def _slice_op(op, arg, follow) -> Contents | None:  # noqa: ANN001
    return _slice(arg)


def _dims(op, arg, follow) -> Contents | None:  # noqa: ANN001
    """mc.dims: its entries; a symbol that `bind` reads by position is a run-time size the types do not name."""
    from mindconverter.ir.dims_op import Dims

    bound = {name for name, _, _ in op.attrs.get("bind", [])}
    return tuple(UNKNOWN if S.free_symbols(d) & bound else d for d in Dims.of(op).entries())


#: How each op's contents follow from its operands' (binary arithmetic: _BINARY).
_RULES: dict[str, Callable[..., Contents | None]] = {
    "onnx.Shape": _shape,
    "onnx.Size": _size,
    **dict.fromkeys(
        ("onnx.Identity", "onnx.Cast", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Reshape", "onnx.Flatten"), _same
    ),
    "onnx.Concat": _concat,
    "onnx.Gather": _gather,
    "onnx.Slice": _slice_op,
    "onnx.Floor": _floor_ceil,
    "onnx.Ceil": _floor_ceil,
    "onnx.Neg": _neg,
    "onnx.Equal": _equal,
    "onnx.Where": _where,
    "onnx.ConstantOfShape": _constant_of_shape,
    "onnx.Expand": _expand,
    "onnx.Range": _range,
    "onnx.ReduceProd": _reduce,
    "onnx.ReduceSum": _reduce,
    "mc.dims": _dims,
}


#: Ops whose contents are the same flat, row-major entries whatever the operands' rank.
_ROW_MAJOR_SAFE = {"onnx.Identity", "onnx.Cast", "onnx.Reshape", "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze",
                   "onnx.Shape", "onnx.Size"}


def _rank(v: Value | None) -> int | None:
    return None if v is None or v.type.dims is None else len(v.type.dims)


def _matrix_op(op, arg: Callable[[int], Contents | None]) -> Contents | None:  # noqa: ANN001
    """Transpose and row Slice of a small matrix: how torch exports F.pad's pads (reshape to pairs, flip rows)."""
    x = op.operands[0]
    if _rank(x) != 2 or not all(isinstance(d, int) for d in x.type.dims):
        return None
    rows, cols = x.type.dims
    data = arg(0)
    if data is None or len(data) != rows * cols:
        return None
    grid = [data[r * cols:(r + 1) * cols] for r in range(rows)]
    if op.name == "onnx.Transpose" and list(op.attrs.get("perm", [1, 0])) == [1, 0]:
        return tuple(grid[r][c] for c in range(cols) for r in range(rows))
    if op.name == "onnx.Slice":
        starts, ends, axes, steps = arg(1), arg(2), arg(3), arg(4)
        if not (all_static(starts) and all_static(ends)) or len(starts) != 1 or len(ends) != 1:  # type: ignore[arg-type]
            return None
        if axes is not None and (not all_static(axes) or list(axes) not in ([0], [-2])):
            return None  # only whole rows
        step = steps[0] if steps is not None and all_static(steps) and len(steps) == 1 else 1  # type: ignore[index]
        if step == 0 or (steps is not None and not all_static(steps)):
            return None
        picked = range(rows)[slice(max(-rows - 1, min(rows, starts[0])), max(-rows - 1, min(rows, ends[0])), step)]  # type: ignore[index]
        return tuple(d for r in picked for d in grid[r])
    return None


def _sum(dims: Contents) -> Dim:
    out: Dim = 0
    for d in dims:
        out = S.add(out, d)
    return out


def _integral_cast(op) -> bool:  # noqa: ANN001
    """A cast that keeps integer contents (to an int type, or to a float type from an int type)."""
    src = op.operands[0].type.dtype
    return op.results[0].type.dtype.is_int or (src.is_int and op.results[0].type.dtype.is_float)


def _exact_div(a: Dim, b: Dim) -> Dim:
    """Float division of integral values: only when it is exact (else a Floor/Ceil consumer handles it)."""
    q = S.floordiv(a, b)
    if S.equal(S.mul(q, b), a) is not True:
        raise ValueError("not an exact division")
    return q


def _slice(arg: Callable[[int], Contents | None]) -> Contents | None:
    data, starts, ends = arg(0), arg(1), arg(2)
    axes, steps = arg(3), arg(4)
    if data is None or not all_static(starts) or not all_static(ends):
        return None
    if axes is not None and (not all_static(axes) or list(axes) not in ([0], [-1])):
        return None
    step = 1
    if steps is not None:
        if not all_static(steps) or len(steps) != 1:
            return None
        step = steps[0]  # type: ignore[assignment]
    if len(starts) != 1 or len(ends) != 1 or step == 0:  # type: ignore[arg-type]
        return None
    n = len(data)
    start, end = starts[0], ends[0]  # type: ignore[index]
    # ONNX clamps like Python slicing does, with INT64 extremes meaning "to the end".
    return tuple(data[slice(max(-n - 1, min(n, start)), max(-n - 1, min(n, end)), step)])


_BINARY: dict[str, Callable[[Dim, Dim], Dim]] = {
    "onnx.Add": S.add,
    "onnx.Sub": S.sub,
    "onnx.Mul": S.mul,
    "onnx.Div": S.floordiv,  # integer division of sizes (positive: truncation = floor)
    "onnx.Mod": S.mod,
    "onnx.Min": S.dmin,
    "onnx.Max": S.dmax,
}

__all__ = ["MAX_ELEMENTS", "Contents", "all_known", "all_static", "contents"]
