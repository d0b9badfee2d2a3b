"""fuse-gelu: the erf and tanh forms of GELU become mc.gelu (nn.GELU)."""

from __future__ import annotations

import math
from typing import Any

from mindconverter.ir.core import Op, Value
from mindconverter.passes.fusion_helpers import near, split, split_const
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern

_SQRT2 = math.sqrt(2.0)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _half_x_times(op: Op, rw: Rewriter) -> tuple[Value, Value, list[Op]] | str:
    """Root Mul as 0.5 * x * inner in either association: (x, inner, matched ops)."""
    found = split_const(op, rw)
    if found is not None and near(found[1], 0.5):  # (x * inner) * 0.5
        prod = found[0].op
        if prod is None or prod.name != "onnx.Mul" or rw.only_user(prod.result) is not op:
            return "0.5 multiplies something other than a single-use Mul"
        return prod.operands[0], prod.operands[1], [prod]
    for i in (0, 1):  # (x * 0.5) * inner
        half = rw.producer(op.operands[i], "onnx.Mul")
        inner = op.operands[1 - i]
        if half is None or rw.only_user(half.result) is not op:
            continue
        hc = split_const(half, rw)
        if hc is not None and near(hc[1], 0.5):
            return hc[0], inner, [half]
    return "not of the form 0.5 * x * (1 + ...)"


def _one_plus(v: Value, rw: Rewriter, user: Op) -> tuple[Op, Op] | str:
    """v = 1 + f(...): (the Add, the op f)."""
    add = rw.producer(v, "onnx.Add")
    if add is None or rw.only_user(add.result) is not user:
        return "no single-use 1 + ... term"
    found = split_const(add, rw)
    if found is None or not near(found[1], 1.0) or found[0].op is None:
        return "the Add does not add 1"
    return add, found[0].op


def _erf_arg_is(x: Value, erf: Op, rw: Rewriter) -> list[Op] | str:
    scaled = erf.operands[0].op
    if scaled is None or rw.only_user(scaled.result) is not erf:
        return "the Erf input is not a single-use scaling of x"
    found = split_const(scaled, rw)
    if found is None or found[0] is not x:
        return "the Erf input is not x scaled by a constant"
    ok = (scaled.name == "onnx.Div" and near(found[1], _SQRT2)) or (scaled.name == "onnx.Mul" and near(found[1], 1 / _SQRT2))
    if scaled.name == "onnx.Div" and scaled.operands[0] is not x:
        ok = False
    return [scaled] if ok else "the Erf input is not x / sqrt(2)"


def _tanh_arg_is(x: Value, tanh: Op, rw: Rewriter) -> list[Op] | str:
    """tanh(sqrt(2/pi) * (x + 0.044715 * x^3))."""
    scaled = rw.producer(tanh.operands[0], "onnx.Mul")
    if scaled is None or rw.only_user(scaled.result) is not tanh:
        return "the Tanh input is not a single-use Mul"
    found = split_const(scaled, rw)
    if found is None or not near(found[1], _SQRT_2_PI):
        return "the Tanh input is not scaled by sqrt(2/pi)"
    poly = rw.producer(found[0], "onnx.Add")
    if poly is None or rw.only_user(poly.result) is not scaled:
        return "no x + 0.044715 * x^3 term"
    cubic_mul = None
    for i in (0, 1):
        if poly.operands[1 - i] is x:
            cubic_mul = rw.producer(poly.operands[i], "onnx.Mul")
    if cubic_mul is None or rw.only_user(cubic_mul.result) is not poly:
        return "no x + 0.044715 * x^3 term"
    c = split_const(cubic_mul, rw)
    if c is None or not near(c[1], 0.044715):
        return "the cubic term is not scaled by 0.044715"
    cube = c[0].op
    matched = [scaled, poly, cubic_mul]
    if cube is not None and cube.name == "onnx.Pow" and cube.operands[0] is x:
        exp = split_const(cube, rw)
        if exp is None or not near(exp[1], 3.0):
            return "the power is not 3"
        return [*matched, cube]
    if cube is not None and cube.name == "onnx.Mul":
        sq = split(cube, "onnx.Mul", rw)
        if sq is not None and sq[1] is x and list(sq[0].operands) == [x, x]:
            return [*matched, cube, sq[0]]
    return "no x^3 term"


@register_pattern("fuse-gelu", root="onnx.Mul")
class FuseGelu:
    """Replace 0.5 * x * (1 + erf(x / sqrt(2))) by mc.gelu(x), and the tanh form by mc.gelu(x) {approximate = "tanh"}.

    1. Every intermediate value must have exactly one user (the next op of the pattern).
    2. Constants must match to a relative 1e-4 (0.5, 1, sqrt(2) or 1/sqrt(2), sqrt(2/pi), 0.044715, 3).
    3. onnx.Gelu (opset 20) is left to its own emitter.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        found = _half_x_times(op, rw)
        if isinstance(found, str):
            return found
        x, inner, matched = found
        for a, b in ((x, inner), (inner, x)):  # x * (1 + f) in either order
            term = _one_plus(b, rw, matched[0] if matched[0].name == "onnx.Mul" and b in matched[0].operands else op)
            if isinstance(term, str):
                continue
            add, f = term
            if f.name == "onnx.Erf":
                rest = _erf_arg_is(a, f, rw)
                approximate = "none"
            elif f.name == "onnx.Tanh":
                rest = _tanh_arg_is(a, f, rw)
                approximate = "tanh"
            else:
                continue
            if isinstance(rest, str):
                return rest
            if rw.only_user(f.result) is not add:
                return "the Erf/Tanh result has other users"
            m.update(x=a, approximate=approximate, ops=[*rest, f, add, *matched, op])
            return None
        return "no 1 + erf(...) or 1 + tanh(...) factor"

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        ordered = in_program_order(m["ops"])
        attrs = {"approximate": m["approximate"]}
        new = rw.create(op, "mc.gelu", [m["x"]], fused_loc(*ordered), **attrs)
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=[o for o in ordered if o is not op])
