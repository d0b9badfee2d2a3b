"""Constraints on test sizes read from the IR: which symbol sizes make a model's dims meaningful.

Every dim computed from the symbols stays >= 0 (>= 1 for convolution and pooling results),
broadcast operands agree, MatMul contraction dims match, a Reshape keeps its element count, and a
table read with `Range` indices has a row for the last one (see runtime_check/sizes.py).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from mindconverter.ir.core import Module, Op
from mindconverter.ir.types import Dim, Sym, SymExpr, Unknown

#: Ops whose operands broadcast against each other (numpy rules).
_BROADCAST = {
    "onnx." + n for n in (
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less",
        "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "PRelu",
    )
}
_POSITIVE_RESULT = re.compile(r"^onnx\.(Conv|ConvTranspose|\w*Pool)$")


# -- constraints --------------------------------------------------------------------------------------


_LAMBDA_NAMESPACE = {"FloorDiv": lambda a, b: a // b, "Mod": lambda a, b: a % b, "Max": max, "Min": min}


def _compile(d: Dim) -> tuple[Callable[[Mapping[str, int]], int], frozenset[str]]:
    """A fast function of the sizes computing `d` (sympy's lambdify), and the symbols it reads."""
    from mindconverter.ir import symbolic

    if isinstance(d, int):
        return (lambda env, v=d: v), frozenset()
    names = sorted(symbolic.free_symbols(d))
    expr = symbolic.to_sympy(d)
    import sympy

    fn = sympy.lambdify([symbolic.symbol(n) for n in names], expr, modules=[_LAMBDA_NAMESPACE, "math"])
    return (lambda env: int(fn(*(env[n] for n in names)))), frozenset(names)


@attrs.define
class Constraint:
    """A condition on the sizes read from one op of the IR; `test(env)` is True when it holds."""

    test: Callable[[Mapping[str, int]], bool]
    symbols: frozenset[str]
    what: str
    #: A symbol this constraint ties to one static size, and that size.
    ties: tuple[str, int] | None = None


def _where(op: Op) -> str:
    return f"'{op.name}'" + (f" loc(\"{op.loc_name}\")" if op.loc else "")


def _symbolic(d: Dim | None) -> bool:
    return isinstance(d, (Sym, SymExpr))


def collect_constraints(module: Module, names: Iterable[str]) -> list[Constraint]:
    """What the IR's types require of the sizes of `names` (see the module docstring)."""
    from mindconverter.ir import symbolic

    known = frozenset(names)
    out: list[Constraint] = []
    seen: set[Any] = set()

    def usable(*dims: Dim | None) -> bool:
        return (all(d is not None and not isinstance(d, Unknown) for d in dims) and any(_symbolic(d) for d in dims)
                and all(symbolic.free_symbols(d) <= known for d in dims))  # type: ignore[arg-type]

    def fresh(key: Any) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    for op in module.main.walk():
        least = 1 if _POSITIVE_RESULT.match(op.name) else 0
        for r in op.results:
            for d in r.type.dims or ():
                if usable(d) and fresh(("min", d, least)):
                    fn, syms = _compile(d)
                    out.append(Constraint(lambda env, fn=fn, least=least: fn(env) >= least, syms,
                                          f"{_where(op)} has a dim {d} that must be >= {least}"))
        operands = [v for v in op.operands if v is not None and v.type.dims is not None]
        if op.name in _BROADCAST and len(operands) >= 2:
            rank = max(len(v.type.dims) for v in operands)
            for axis in range(1, rank + 1):
                dims = [v.type.dims[-axis] for v in operands if len(v.type.dims) >= axis]
                for a, b in itertools.combinations(dims, 2):
                    if a != b and 1 not in (a, b) and usable(a, b) and fresh(("bcast", a, b)):
                        out.append(_equal_or_one(op, a, b))
        if op.name == "onnx.MatMul" and len(operands) == 2 and all(len(v.type.dims) >= 2 for v in operands):
            a, b = operands[0].type.dims[-1], operands[1].type.dims[-2]
            if a != b and usable(a, b) and fresh(("eq", a, b)):
                out.append(_equal(op, a, b, "contraction dims"))
        rows = _indexed_rows(op, module)
        if rows is not None:
            last, table = rows
            if usable(last, table) and fresh(("index", last, table)):
                out.append(_below(op, last, table))
        if op.name == "onnx.Reshape" and op.operands and op.results:
            din, dout = op.operands[0].type.dims, op.results[0].type.dims
            if din is not None and dout is not None and not any(isinstance(d, Unknown) for d in (*din, *dout)):
                pin, pout = symbolic.product(din), symbolic.product(dout)
                if pin != pout and usable(pin, pout) and fresh(("eq", pin, pout)):
                    out.append(_equal(op, pin, pout, "element counts"))
    return out


#: Ops that read rows of a table by index: op name -> (table operand, indices operand, axis attribute or None for 0).
_INDEXING = {"onnx.Gather": (0, 1, "axis"), "mc.embedding": (1, 0, None)}
#: Ops through which index values pass unchanged (Expand and Tile only repeat them).
_SAME_VALUES = ("onnx.Cast", "onnx.Unsqueeze", "onnx.Squeeze", "onnx.Reshape", "onnx.Flatten", "onnx.Identity",
                "onnx.Expand", "onnx.Tile")


def _indexed_rows(op: Op, module: Module) -> tuple[Dim, Dim] | None:
    """(last index read, table size) when `op` reads a table with indices `Range(start, n, delta)` (position ids).

    `arange(sequence)` indexing a 64-row position table needs sequence <= 64: the IR's types say
    the Range has `n` elements; constant start >= 0 and delta > 0 make the last index start + delta * (n - 1).
    """
    from mindconverter.ir import symbolic
    from mindconverter.ir.core import const_array

    spec = _INDEXING.get(op.name)
    if spec is None or len(op.operands) <= max(spec[0], spec[1]):
        return None
    table, indices = op.operands[spec[0]], op.operands[spec[1]]
    axis = int(op.attr(spec[2], 0)) if spec[2] else 0
    if table is None or indices is None or table.type.dims is None or not -len(table.type.dims) <= axis < len(table.type.dims):
        return None
    v = indices
    for _ in range(16):  # a short chain of value-preserving ops
        if v.op is None or v.op.name not in _SAME_VALUES:
            break
        v = v.op.operands[0]
    if v.op is None or v.op.name != "onnx.Range" or not v.type.dims or len(v.op.operands) < 3:
        return None
    start, delta = (const_array(x, module.weights) if x is not None else None for x in (v.op.operands[0], v.op.operands[2]))
    if start is None or delta is None or start.size != 1 or delta.size != 1:
        return None
    start, delta = int(start.reshape(-1)[0]), int(delta.reshape(-1)[0])
    if start < 0 or delta <= 0:
        return None
    last = symbolic.add(start, symbolic.mul(delta, symbolic.sub(v.type.dims[0], 1)))
    return last, table.type.dims[axis]


def _below(op: Op, last: Dim, table: Dim) -> Constraint:
    fl, sl = _compile(last)
    ft, st = _compile(table)
    return Constraint(lambda env: fl(env) < ft(env), sl | st, f"{_where(op)} reads row {last} of a table of {table} rows")


def _equal_or_one(op: Op, a: Dim, b: Dim) -> Constraint:
    fa, sa = _compile(a)
    fb, sb = _compile(b)
    ties = None
    if isinstance(a, Sym) and isinstance(b, int) and b != 1:
        ties = (a.name, b)
    elif isinstance(b, Sym) and isinstance(a, int) and a != 1:
        ties = (b.name, a)

    def test(env: Mapping[str, int]) -> bool:
        x, y = fa(env), fb(env)
        return x == y or x == 1 or y == 1

    return Constraint(test, sa | sb, f"{_where(op)} broadcasts {a} against {b}", ties)


def _equal(op: Op, a: Dim, b: Dim, what: str) -> Constraint:
    fa, sa = _compile(a)
    fb, sb = _compile(b)
    ties = (a.name, b) if isinstance(a, Sym) and isinstance(b, int) else (b.name, a) if isinstance(b, Sym) and isinstance(a, int) else None
    return Constraint(lambda env: fa(env) == fb(env), sa | sb, f"{_where(op)} needs equal {what}: {a} and {b}", ties)


def violated(constraints: Iterable[Constraint], env: Mapping[str, int]) -> Constraint | None:
    """The first constraint `env` breaks (None: all hold; constraints reading other symbols are skipped)."""
    for c in constraints:
        if not c.symbols <= env.keys():
            continue
        try:
            ok = c.test(env)
        except (ZeroDivisionError, ValueError, TypeError, OverflowError):
            ok = False
        if not ok:
            return c
    return None


