"""fuse-hard-activations: decomposed HardSigmoid / HardSwish (Clip of x/6 + 0.5, x * relu6(x + 3) / 6) become the ONNX ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.passes.fusion_helpers import near, split_const
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


def _clip_bounds(clip: Op, rw: Rewriter) -> tuple[float, float] | None:
    if clip.name != "onnx.Clip" or len(clip.operands) < 3:
        return None
    lo, hi = (rw.known(v) for v in clip.operands[1:3])
    if lo is None or hi is None or lo.size != 1 or hi.size != 1:
        return None
    return float(lo.reshape(-1)[0]), float(hi.reshape(-1)[0])


def _relu6_of_x_plus_3(v: Value, rw: Rewriter) -> tuple[Value, list[Op]] | None:
    """v = Clip(x + 3, 0, 6): (x, matched ops)."""
    clip = v.op
    if clip is None or _clip_bounds(clip, rw) != (0.0, 6.0):
        return None
    add = rw.producer(clip.operands[0], "onnx.Add")
    if add is None or rw.only_user(add.result) is not clip:
        return None
    found = split_const(add, rw)
    if found is None or not near(found[1], 3.0):
        return None
    return found[0], [add, clip]


@register_pattern("fuse-hard-activations", root=("onnx.Div", "onnx.Mul", "onnx.Clip"))
class FuseHardActivations:
    """Replace x * Clip(x + 3, 0, 6) / 6 by HardSwish(x), and Clip(x + 3, 0, 6) / 6 or Clip(x / 6 + 0.5, 0, 1) by HardSigmoid(x).

    1. Intermediate values must have one user; constants match to a relative 1e-4.
    2. Division by 6 may be written as multiplication by 1/6.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name == "onnx.Clip":
            return self._clip_sigmoid(op, m, rw)
        found = split_const(op, rw)
        if found is None:
            return "no constant 6 or 1/6"
        inner, c = found
        if not ((op.name == "onnx.Div" and near(c, 6.0) and op.operands[0] is inner)
                or (op.name == "onnx.Mul" and near(c, 1 / 6))):
            return "not a division by 6"
        prod = inner.op
        if prod is None or rw.only_user(inner) is not op:
            return "the divided value is not single-use"
        if prod.name == "onnx.Mul":  # x * relu6(x + 3)
            for i in (0, 1):
                r = _relu6_of_x_plus_3(prod.operands[i], rw)
                if r is not None and r[0] is prod.operands[1 - i] and rw.only_user(prod.operands[i]) is prod:
                    m.update(kind="onnx.HardSwish", x=r[0], ops=[*r[1], prod, op], attrs={})
                    return None
            return "the product is not x * relu6(x + 3)"
        r = _relu6_of_x_plus_3(inner, rw)
        if r is None:
            return "the divided value is not relu6(x + 3)"
        m.update(kind="onnx.HardSigmoid", x=r[0], ops=[*r[1], op], attrs={"alpha": 1 / 6, "beta": 0.5})
        return None

    def _clip_sigmoid(self, clip: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if _clip_bounds(clip, rw) != (0.0, 1.0):
            return "the Clip is not to [0, 1]"
        add = rw.producer(clip.operands[0], "onnx.Add")
        if add is None or rw.only_user(add.result) is not clip:
            return "the clipped value is not a single-use Add"
        found = split_const(add, rw)
        if found is None or found[0].op is None:
            return "no constant is added"
        beta = found[1]
        scaled = found[0].op
        sc = split_const(scaled, rw)
        if sc is None or rw.only_user(scaled.result) is not add:
            return "the added value is not x scaled by a constant"
        if scaled.name == "onnx.Mul":
            alpha = sc[1]
        elif scaled.name == "onnx.Div" and scaled.operands[0] is sc[0]:
            alpha = 1 / sc[1]
        else:
            return "the added value is not x scaled by a constant"
        m.update(kind="onnx.HardSigmoid", x=sc[0], ops=[scaled, add, clip], attrs={"alpha": alpha, "beta": beta})
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        attrs = {k: float(str(np.float32(v))) for k, v in m["attrs"].items()}  # ONNX float attributes are float32
        new = rw.builder(op).op1(m["kind"], [m["x"]], op.result.type, fused_loc(*m["ops"]), **attrs)
        new.name = op.result.name
        rw.replace(op, [new], matched=[o for o in m["ops"] if o is not op])
