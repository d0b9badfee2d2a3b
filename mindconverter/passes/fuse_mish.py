"""fuse-mish: x * tanh(softplus(x)) becomes mc.mish (nn.Mish)."""

from __future__ import annotations

from typing import Any

from mindconverter.ir.core import Op
from mindconverter.passes.fusion_helpers import split
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


@register_pattern("fuse-mish", root="onnx.Mul")
class FuseMish:
    """Replace Mul(x, Tanh(Softplus(x))) (either order) by mc.mish(x): torch's nn.Mish below opset 18.

    1. The Softplus must read the same value as the Mul; the Tanh and the Softplus have no other user.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        found = split(op, "onnx.Tanh", rw)
        if found is None:
            return "no operand is a Tanh"
        tanh, x = found
        softplus = rw.producer(tanh.operands[0], "onnx.Softplus")
        if softplus is None:
            return "the Tanh does not read a Softplus"
        if softplus.operands[0] is not x:
            return "the Softplus reads another value than the Mul"
        if rw.only_user(tanh.result) is not op or rw.only_user(softplus.result) is not tanh:
            return "the Tanh or Softplus result has other users"
        m.update(x=x, ops=[softplus, tanh, op])
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        new = rw.create(op, "mc.mish", [m["x"]], fused_loc(*m["ops"]))
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=m["ops"][:-1])
