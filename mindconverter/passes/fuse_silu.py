"""fuse-silu: x * sigmoid(x) becomes mc.silu (nn.SiLU)."""

from __future__ import annotations

from typing import Any

from mindconverter.ir.core import Op
from mindconverter.passes.fusion_helpers import split
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


@register_pattern("fuse-silu", root="onnx.Mul")
class FuseSilu:
    """Replace Mul(x, Sigmoid(x)) (either order) by mc.silu(x).

    1. The Sigmoid must read the same value as the Mul and have no other user.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        found = split(op, "onnx.Sigmoid", rw)
        if found is None:
            return "no operand is a Sigmoid"
        sig, x = found
        if sig.operands[0] is not x:
            return "the Sigmoid reads another value than the Mul"
        if rw.only_user(sig.result) is not op:
            return "the Sigmoid result has other users"
        m.update(x=x, ops=[sig, op])
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        new = rw.create(op, "mc.silu", [m["x"]], fused_loc(*m["ops"]))
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=m["ops"][:-1])
