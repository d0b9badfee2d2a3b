"""simplify-reshapes: chains of Transposes, and of Reshapes, become one op (or none)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


@register_pattern("simplify-reshapes", root=("onnx.Transpose", "onnx.Reshape"))
class SimplifyReshapes:
    """Replace Transpose(Transpose(x, p), q) by one Transpose (none when the permutations cancel), and Reshape(Reshape(x, s), t) by Reshape(x, t).

    1. The inner op's result must have no other user.
    2. Reshapes merge only when t is a constant without 0 (0 copies a dim of the inner result) and allowzero = 0.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        inner = rw.producer(op.operands[0], op.name)
        if inner is None:
            return f"the input is not a {op.op_type}"
        if rw.only_user(inner.result) is not op:
            return f"the inner {op.op_type} has other users"
        if op.name == "onnx.Transpose":
            p, q = inner.attr("perm"), op.attr("perm")
            if p is None or q is None:
                return "a permutation is implicit (reversed dims)"
            m.update(inner=inner, perm=[int(p[i]) for i in q])
            return None
        shape = rw.known(op.operands[1])
        if shape is None:
            return "the outer shape is computed at run time"
        if np.any(shape.reshape(-1) == 0) or op.attr("allowzero", 0) or inner.attr("allowzero", 0):
            return "the outer shape copies dims (0) or allowzero is set"
        m.update(inner=inner)
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        inner = m["inner"]
        x = inner.operands[0]
        loc = fused_loc(inner, op)
        if op.name == "onnx.Transpose":
            if m["perm"] == list(range(len(m["perm"]))):
                rw.replace(op, [x], matched=[inner])
                return
            new = rw.builder(op).op1("onnx.Transpose", [x], op.result.type, loc, perm=m["perm"])
        else:
            new = rw.builder(op).op1("onnx.Reshape", [x, op.operands[1]], op.result.type, loc, **op.attrs)
        new.name = op.result.name
        rw.replace(op, [new], matched=[inner])
