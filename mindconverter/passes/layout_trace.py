"""Where the elements of a view come from: layout-op chains run on arrays of element codes.

Exporters write one data movement in many ways (`unflatten/unsqueeze/transpose/squeeze` then `Gather`,
or `Split`, or `Slice`; `view` then `transpose`, or `reshape` after `permute`). Instead of matching each
spelling, a pattern follows the chain of layout ops (Reshape, Transpose, (Un)Squeeze, Flatten, Identity,
Gather/Slice/Split with constant indices, and Mul/Div by a scalar constant, which only scale) and runs
it on an array whose elements are their own positions (codes): the result says, for each element of
the view, which source element it holds. Symbolic dims are given concrete sizes for this; patterns
run it for two sets of sizes (`ENVS`), so a chain that only holds for some sizes does not pass.
"""

from __future__ import annotations

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.ir.symbolic import evaluate, free_symbols
from mindconverter.ir.types import Unknown
from mindconverter.passes.fusion_helpers import split_const
from mindconverter.passes.pattern import Rewriter

#: Ops that only move (or, for Mul/Div by a scalar, scale) the data of their first operand.
MOVES = frozenset({"onnx.Reshape", "onnx.Transpose", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Flatten",
                   "onnx.Identity", "onnx.Gather", "onnx.Slice", "onnx.Split"})
SCALES = frozenset({"onnx.Mul", "onnx.Div"})
#: Sizes given to the symbols in turn (distinct primes, then other sizes), so dims that differ stay apart.
_SIZES = ((3, 5, 7, 11, 13, 17, 19, 23), (4, 6, 9, 10, 14, 15, 21, 22))


def source(v: Value, rw: Rewriter, scales: bool = True) -> tuple[Value, float] | None:
    """For v produced by a layout op (or a scale, when `scales`): (the value it moves, the scale factor), else None."""
    op = v.op
    if op is None:
        return None
    if op.name in MOVES:
        indices = [x for x in op.operands[1:] if x is not None]
        if op.name in ("onnx.Gather", "onnx.Slice", "onnx.Split") and not all(_sized(x, rw) for x in indices):
            return None  # indices computed at run time from data
        return op.operands[0], 1.0
    if scales and op.name in SCALES:
        found = split_const(op, rw)
        if found is None or found[0].type != v.type or (op.name == "onnx.Div" and op.operands[1] is found[0]):
            return None
        return found[0], (found[1] if op.name == "onnx.Mul" else 1.0 / found[1])
    return None


def _sized(v: Value, rw: Rewriter) -> bool:
    """Whether `v` is known, or computed from sizes only (mc.dims): its value follows from the symbol sizes."""
    return rw.known(v) is not None or (v.op is not None and v.op.name == "mc.dims")


def indices(v: Value, env: dict[str, int], rw: Rewriter) -> np.ndarray:
    """The value of a known or mc.dims operand for the symbol sizes `env` (mc.dims reads the sizes of its operands)."""
    known = rw.known(v)
    if known is not None:
        return np.asarray(known)
    from mindconverter.ir.dims_op import Dims

    spec = Dims.of(v.op)
    sizes = dict(env)
    for name, (i, axis) in spec.sources([x.type if x is not None else None for x in v.op.operands]).items():
        sizes[name] = evaluate(v.op.operands[i].type.dims[axis], env)
    return np.array([evaluate(d, sizes) for d in spec.entries()], dtype=np.int64).reshape(() if spec.scalar else -1)


def reads_sizes(op: Op) -> bool:
    """Whether `op` computes integers only (mc.dims, Shape...): a user of a value that reads its sizes, not its data."""
    return all(not r.type.dtype.is_float for r in op.results)


def back(v: Value, rw: Rewriter, scales: bool = True) -> tuple[list[Value], float]:
    """The chain of values ending at `v`, from the furthest one a layout op moved (first) to v (last), and its scale."""
    chain, factor = [v], 1.0
    while (found := source(chain[0], rw, scales)) is not None:
        chain.insert(0, found[0])
        factor *= found[1]
    return chain, factor


def forward(v: Value, rw: Rewriter) -> list[Value]:
    """The chain from v through its single users while they are single-result layout ops moving it: [v, ...]."""
    chain = [v]
    while True:
        user = rw.only_user(chain[-1])
        if user is None or user.name not in MOVES or len(user.results) != 1 or user.operands[0] is not chain[-1]:
            return chain
        if source(user.result, rw) is None:
            return chain
        chain.append(user.result)


def envs(values: list[Value]) -> list[dict[str, int]]:
    """The symbol sizes to trace with: every symbol of the values' types, in two assignments.

    A symbol that a Reshape of the chains pins to one size (its element counts agree only at that size:
    torch's tracer bakes the export's size into `k.view(k.size(0), ...)` of a dynamic axis) gets that size.
    """
    names = sorted({n for v in values for d in (v.type.dims or ()) for n in free_symbols(d)})
    pins = _pins(values)
    free = [n for n in names if n not in pins]
    if len(free) > len(_SIZES[0]):
        return []
    if not free:  # static shapes: one run proves it
        return [pins]
    return [{**dict(zip(free, sizes, strict=False)), **pins} for sizes in _SIZES]


def _pins(values: list[Value]) -> dict[str, int]:
    """Symbols whose size the element counts of a Reshape fix (one positive integer solution)."""
    from mindconverter.ir.symbolic import product, to_sympy

    pins: dict[str, int] = {}
    for v in values:
        op = v.op
        if op is None or op.name != "onnx.Reshape" or v.type.dims is None or op.operands[0].type.dims is None:
            continue
        dims = [*op.operands[0].type.dims, *v.type.dims]
        if any(isinstance(d, Unknown) for d in dims) or all(type(d) is int for d in dims):
            continue  # static dims pin nothing (and need no sympy)
        import sympy

        a, b = to_sympy(product(op.operands[0].type.dims)), to_sympy(product(v.type.dims))
        diff = sympy.expand(a - b) if a is not None and b is not None else 0
        for s in sorted(getattr(diff, "free_symbols", ()), key=str):
            roots = [r for r in sympy.solve(diff, s) if r.is_Integer and r > 0]
            if len(roots) == 1:
                pins[s.name] = int(roots[0])
                break
    return pins


def shape(v: Value, env: dict[str, int]) -> tuple[int, ...] | None:
    """The concrete shape of v for the symbol sizes `env` (None when a dim is unknown)."""
    if v.type.dims is None or any(isinstance(d, Unknown) for d in v.type.dims):
        return None
    try:
        return tuple(evaluate(d, env) for d in v.type.dims)
    except (KeyError, ValueError):
        return None


def run(chain: list[Value], codes: np.ndarray, env: dict[str, int], rw: Rewriter) -> np.ndarray | None:
    """Run the layout ops of `chain` (from `back`/`forward`) on `codes` standing for chain[0]; None when they do not apply."""
    a = codes
    for v in chain[1:]:
        want = shape(v, env)
        if want is None:
            return None
        try:
            a = _apply(v, a, want, env, rw)
        except (ValueError, IndexError, KeyError):
            return None
        if a is None or a.shape != want:
            return None
    return a


def _apply(v: Value, a: np.ndarray, want: tuple[int, ...], env: dict[str, int], rw: Rewriter) -> np.ndarray | None:
    op: Op = v.op
    name = op.name
    if name in SCALES or name in ("onnx.Reshape", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Flatten", "onnx.Identity"):
        return a.reshape(want)  # row-major: each of these keeps the order of the elements
    if name == "onnx.Transpose":
        perm = op.attr("perm")
        return np.transpose(a, perm if perm is not None else None)
    axis = op.attr("axis", 0) % a.ndim
    if name == "onnx.Gather":
        return np.take(a, indices(op.operands[1], env, rw).astype(np.int64), axis=axis)
    if name == "onnx.Split":
        sizes = [shape(r, env) for r in op.results]
        if any(s is None for s in sizes):
            return None
        start = sum(s[axis] for s in sizes[:v.index])
        return np.take(a, np.arange(start, start + sizes[v.index][axis]), axis=axis)
    if name == "onnx.Slice":
        starts, ends, axes, steps = ([indices(x, env, rw).reshape(-1) if x is not None else None
                                      for x in (op.operands[1:] + [None] * 4)[:4]])
        axes = axes if axes is not None else np.arange(len(starts))
        steps = steps if steps is not None else np.ones(len(starts), dtype=np.int64)
        index = [slice(None)] * a.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            index[int(ax) % a.ndim] = slice(int(s), int(e), int(st))
        return a[tuple(index)]
    return None
