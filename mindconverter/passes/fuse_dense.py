"""fuse-dense: MatMul by a weight (+ bias Add), and Gemm with a weight, become mc.dense (nn.Dense)."""

from __future__ import annotations

from typing import Any

from mindconverter.ir.core import Op, Value
from mindconverter.ir.types import DType
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern


def _weight_reason(w: Value | None, rw: Rewriter) -> str | None:
    if not rw.is_known(w):
        return "the weight is computed at run time"
    if w.type.dtype != DType.F32:
        return f"the weight is {w.type.dtype.value}, nn.Dense keeps float32 weights"
    if w.type.rank != 2:
        return f"the weight has rank {w.type.rank}, not 2"
    return None


def _bias_reason(bias: Value, out: int, rw: Rewriter) -> str | None:
    """Why `bias` cannot be an nn.Dense bias of `out` features (a known (out,) vector)."""
    if not rw.is_known(bias):
        return "the added operand is computed at run time"
    if not bias.type.dtype.is_float or bias.type.dims != (out,):
        return f"the added operand is {bias.type}, not a ({out},) vector"
    return None


def _matmul_reason(mm: Op, rw: Rewriter) -> str | None:
    x, w = mm.operands
    reason = _weight_reason(w, rw)
    if reason:
        return reason
    if x.type.rank is None or x.type.rank < 2:
        return f"the input has rank {x.type.rank}; nn.Dense needs at least 2"
    if rw.is_known(x):
        return "the input is a constant (folding handles it)"
    return None


@register_pattern("fuse-dense", root=("onnx.Add", "onnx.Gemm", "onnx.MatMul"))
class FuseDense:
    """Replace x @ W + b (MatMul + Add), Gemm(x, W, b) and a bare x @ W by mc.dense(x, W[, b]).

    1. W must be a float32 rank-2 weight known at conversion time, b a known (out,) vector.
    2. The MatMul result feeding the Add must have no other user; x must have rank >= 2.
    3. Gemm fuses only with transA = 0, alpha = 1 and beta = 1 (or no C); transB sets the weight layout.
    4. A MatMul by a weight without a bias Add is a layer without bias (torch `nn.Linear(bias=False)`,
       Keras `Dense(use_bias=False)`): nn.Dense(..., has_bias=False). A MatMul whose only user is a
       fusable bias Add is left to the Add.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name == "onnx.Gemm":
            return self._check_gemm(op, m, rw)
        if op.name == "onnx.MatMul":
            return self._check_matmul(op, m, rw)
        return self._check_add(op, m, rw)

    def _check_matmul(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        reason = _matmul_reason(op, rw)
        if reason:
            return reason
        add = rw.only_user(op.result)
        if add is not None and add.name == "onnx.Add":
            bias = add.operands[1] if add.operands[0] is op.result else add.operands[0]
            if _bias_reason(bias, op.operands[1].type.dims[1], rw) is None:
                return "its bias Add makes it a Dense with a bias"
        m.update(x=op.operands[0], w=op.operands[1], b=None, transpose_w=False, ops=[op])
        return None

    def _check_add(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        for i in (0, 1):
            mm = rw.producer(op.operands[i], "onnx.MatMul")
            if mm is None:
                continue
            reason = _matmul_reason(mm, rw)
            if reason:
                return f"MatMul: {reason}"
            if rw.only_user(mm.result) is not op:
                return "the MatMul result has other users"
            out = mm.operands[1].type.dims[1]
            reason = _bias_reason(op.operands[1 - i], out, rw)
            if reason:
                return reason
            m.update(x=mm.operands[0], w=mm.operands[1], b=op.operands[1 - i], transpose_w=False, ops=[op, mm])
            return None
        return "no operand is a MatMul"

    def _check_gemm(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.attr("transA", 0):
            return "transA = 1"
        if op.attr("alpha", 1.0) != 1.0:
            return f"alpha = {op.attr('alpha')}, not 1"
        x, w = op.operands[0], op.operands[1]
        bias = op.operands[2] if len(op.operands) > 2 else None
        reason = _weight_reason(w, rw)
        if reason:
            return reason
        trans_b = bool(op.attr("transB", 0))
        out = w.type.dims[0 if trans_b else 1]
        if bias is not None:
            if op.attr("beta", 1.0) != 1.0:
                return f"beta = {op.attr('beta')}, not 1"
            reason = _bias_reason(bias, out, rw)
            if reason:
                return reason
        m.update(x=x, w=w, b=bias, transpose_w=trans_b, ops=[op])
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        ops = m["ops"]
        # At the root: every operand (the bias constant too) is defined before it.
        dense = rw.create(op, "mc.dense", [m["x"], m["w"], m["b"]] if m["b"] is not None else [m["x"], m["w"]],
                          fused_loc(*in_program_order(ops)), transpose_w=m["transpose_w"])
        dense.result.name = op.result.name
        rw.replace(op, [dense.result], matched=[o for o in ops if o is not op])
