"""`mc.dims`: an int64 shape tensor given by symbolic dims of its operands' shapes (sizes read at run time).

Declared apart from `ir/dialect.py` (the dialect's registry and the other ops); `mindconverter.ir`
imports it, so it is registered wherever the IR is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import field
from attrs.validators import instance_of

from mindconverter.ir.core import Builder, Op, Value, WeightStore
from mindconverter.ir.dialect import DialectOp, dialect_op
from mindconverter.ir.types import Dim, DType, Sym, SymExpr, TensorType


@dialect_op("mc.dims")
class Dims(DialectOp):
    """An int64 shape tensor computed from the sizes of its operands: `(batch, seq, 12, 64)`, `batch*seq`.

    Each entry of `dims` is an int or dim text (`"?batch"`, `"?(batch*seq)"`, `ir.symbolic.parse_dim`).
    A symbol is the size of the first operand dim that is exactly that symbol, or, when `bind` lists
    it as `[name, operand, axis]`, the run-time size of that dim (even one the type says is static:
    positions taken from a static export's sequence length). The operands are there only for their
    sizes; they make the dependency explicit, so outlining a sub-module keeps it. `scalar` gives a
    rank-0 result (one entry).
    """

    dims: list = field(validator=instance_of(list))
    bind: list = field(factory=list, validator=instance_of(list))
    scalar: bool = field(default=False, validator=instance_of(bool))
    variadic = True

    @dims.validator
    def _entries(self, attribute: Any, value: list) -> None:
        from mindconverter.ir.symbolic import parse_dim

        for d in value:
            if isinstance(d, bool) or not isinstance(d, (int, str)):
                raise ValueError(f"dims entries are ints or dim text, got {d!r}")
            if isinstance(d, str) and not isinstance(parse_dim(d), (Sym, SymExpr)):
                raise ValueError(f"dim text must be symbolic (?name or ?(expr)), got {d!r}")
        if self.scalar and len(value) != 1:
            raise ValueError(f"a scalar mc.dims has one entry, got {len(value)}")

    @bind.validator
    def _bindings(self, attribute: Any, value: list) -> None:
        for b in value:
            if not (isinstance(b, list) and len(b) == 3 and isinstance(b[0], str)
                    and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in b[1:])):
                raise ValueError(f"bind entries are [name, operand, axis], got {b!r}")

    def entries(self) -> list[Dim]:
        """The entries as dims (ints, symbols, expressions)."""
        from mindconverter.ir.symbolic import parse_dim

        return [d if isinstance(d, int) else parse_dim(d) for d in self.dims]

    def sources(self, types: list[TensorType | None]) -> dict[str, tuple[int, int]]:
        """Where each symbol's size is read: name -> (operand index, axis); ValueError for one that is nowhere."""
        from mindconverter.ir.symbolic import free_symbols

        found = {name: (i, axis) for name, i, axis in self.bind}
        for name in sorted(set().union(*(free_symbols(d) for d in self.entries()))):
            if name in found:
                i, axis = found[name]
                t = types[i] if i < len(types) else None
                if t is None or t.dims is None or axis >= len(t.dims):
                    raise ValueError(f"'{name}' is bound to dim {axis} of operand {i}, which has no such dim")
                continue
            for i, t in enumerate(types):
                if t is not None and t.dims is not None and Sym(name) in t.dims:
                    found[name] = (i, t.dims.index(Sym(name)))
                    break
            else:
                raise ValueError(f"no operand has the size '?{name}' as a dim")
        return found

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        self.sources(types)
        return [TensorType(DType.I64, () if self.scalar else (len(self.dims),))]

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        import sympy

        from mindconverter.ir.symbolic import FloorDiv, to_sympy

        sources = self.sources([v.type if v is not None else None for v in op.operands])
        one = TensorType(DType.I64, (1,))

        def const(n: int) -> Value:
            return b.const(np.array([n], dtype=np.int64), weights)

        def fold(name: str, args: list[Value]) -> Value:
            out = args[0]
            for a in args[1:]:
                out = b.op1(name, [out, a], one)
            return out

        def build(e: sympy.Expr) -> Value:
            if e.is_Integer:
                return const(int(e))
            if e.is_Symbol:
                i, axis = sources[e.name]
                return b.op1("onnx.Shape", [op.operands[i]], one, start=axis, end=axis + 1)
            if e.is_Add:
                return fold("onnx.Add", [build(a) for a in e.args])
            if e.is_Mul:
                return fold("onnx.Mul", [build(a) for a in e.args])
            if e.is_Pow and e.exp.is_Integer and e.exp > 0:
                return fold("onnx.Mul", [build(e.base)] * int(e.exp))
            if isinstance(e, FloorDiv):  # sizes are positive: ONNX's truncating Div is the floor
                return b.op1("onnx.Div", [build(e.args[0]), build(e.args[1])], one)
            if isinstance(e, sympy.Mod):
                return b.op1("onnx.Mod", [build(e.args[0]), build(e.args[1])], one)
            if isinstance(e, (sympy.Max, sympy.Min)):
                return b.op1("onnx.Max" if isinstance(e, sympy.Max) else "onnx.Min", [build(a) for a in e.args], one)
            raise ValueError(f"mc.dims cannot compute {e}")

        parts = [const(d) if isinstance(d, int) else build(to_sympy(d)) for d in self.entries()]
        out = parts[0] if len(parts) == 1 else b.op1("onnx.Concat", parts, op.result.type, axis=0)
        if self.scalar:
            out = b.op1("onnx.Reshape", [out, b.const(np.zeros(0, dtype=np.int64), weights)], op.result.type)
        return [out]
