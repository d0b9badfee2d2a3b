"""simplify-reshapes: chains of Transposes, and of Reshapes, become one op (or none); a squeezed one-element part of a
Split (torch's `unbind`) becomes a Gather of its index (`qkv[:, :, 0]`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op
from mindconverter.passes.fusion_helpers import known_axes
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


def _squeezed_axes(op: Op, rw: Rewriter) -> list[int] | None:
    """The axes of a Squeeze (attribute before opset 13, constant input after), non-negative; None when unknown."""
    axes = known_axes(op, rw)
    rank = op.operands[0].type.rank
    return None if axes is None or rank is None else sorted(int(a) % rank for a in axes)


@register_pattern("simplify-reshapes", root=("onnx.Transpose", "onnx.Reshape", "onnx.Squeeze"))
class SimplifyReshapes:
    """Replace Transpose(Transpose(x, p), q) by one Transpose (none when the permutations cancel), Reshape(Reshape(x, s), t)
    by Reshape(x, t), and Squeeze(Split(x, axis)[i], axis) of a one-element part by Gather(x, offset of part i, axis).

    1. The inner op's result must have no other user.
    2. Reshapes merge only when t is a constant without 0 (0 copies a dim of the inner result) and allowzero = 0.
    3. The parts of the Split before part i have static sizes along the axis (the offset is known).
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name == "onnx.Squeeze":
            return self._check_unbind(op, m, rw)
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

    def _check_unbind(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        part = op.operands[0]
        split = rw.producer(part, "onnx.Split")
        if split is None or rw.only_user(part) is not op:
            return "the input is not a part of a Split used only here"
        axis = int(split.attr("axis", 0)) % part.type.rank if part.type.rank else None
        if axis is None or _squeezed_axes(op, rw) != [axis] or part.type.dims[axis] != 1:
            return "the Squeeze does not remove the one-element split axis"
        index = split.results.index(part)
        sizes = [r.type.dims[axis] if r.type.dims is not None else None for r in split.results[:index]]
        if not all(isinstance(s, int) for s in sizes):
            return "the parts before it have sizes known only at run time"
        m.update(inner=split, axis=axis, offset=sum(sizes))
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        inner = m["inner"]
        if op.name == "onnx.Squeeze":
            b = rw.builder(op)
            index = b.const(np.array(m["offset"], np.int64), rw.weights)
            new = b.op1("onnx.Gather", [inner.operands[0], index], op.result.type, fused_loc(inner, op), axis=m["axis"])
            new.name = op.result.name
            rw.replace(op, [new], matched=[inner])
            return
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
