"""fuse-attention: multi-head scaled dot-product attention (head reshapes, q @ k^T, scale, mask, softmax, @ v) becomes mc.attention."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.ir.types import Unknown
from mindconverter.passes.fusion_helpers import scalar, split_const
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern

_HEADS_FIRST = [0, 2, 1, 3]  # (B, S, H, Dh) <-> (B, H, S, Dh)
_KEY_T = [0, 2, 3, 1]  # (B, S, H, Dh) -> (B, H, Dh, S)
_LAST_TWO = [0, 1, 3, 2]


def _same_dim(a: Any, b: Any) -> bool:
    """Whether two dims are the same size: equal ints, or the same symbol."""
    return a == b and not isinstance(a, Unknown)


def _shape_reason(reshape: Op, want: tuple[Any, ...], rw: Rewriter) -> str | None:
    """Why `reshape`'s target is not a constant giving `want` from its input (0 = copy, -1 = inferred), or None."""
    target = rw.known(reshape.operands[1])
    if target is None:
        return "its target shape is computed at run time"
    target = [int(d) for d in np.asarray(target).reshape(-1)]
    dims = reshape.operands[0].type.dims
    if len(target) != len(want) or target.count(-1) > 1:
        return f"its target shape is {target}"
    for i, (t, w) in enumerate(zip(target, want, strict=True)):
        if t == -1 or (t == 0 and not reshape.attr("allowzero", 0) and i < len(dims) and _same_dim(dims[i], w)):
            continue
        if t != w:
            return f"its target shape is {target}"
    return None


def _split_heads(v: Value, perm: list[int], user: Op, rw: Rewriter) -> tuple[Value, int, int, list[Op]] | str:
    """v = Transpose(Reshape(x, (B, S, H, Dh)), perm), single-use: (x, H, Dh, ops)."""
    tr = rw.producer(v, "onnx.Transpose")
    if tr is None or rw.only_user(tr.result) is not user:
        return "not a single-use Transpose"
    ops = [tr]
    got = list(tr.attr("perm") or [])
    if got == _LAST_TWO and perm == _KEY_T:  # k.transpose(1, 2).transpose(-2, -1), not merged
        inner = rw.producer(tr.operands[0], "onnx.Transpose")
        if inner is None or rw.only_user(inner.result) is not tr:
            return "not a single-use Transpose of the heads"
        tr, got, perm = inner, list(inner.attr("perm") or []), _HEADS_FIRST
        ops.append(inner)
    if got != perm:
        return f"Transpose perm {got}, not {perm}"
    reshape = rw.producer(tr.operands[0], "onnx.Reshape")
    if reshape is None or rw.only_user(reshape.result) is not tr:
        return "the Transpose input is not a single-use Reshape"
    x = reshape.operands[0]
    xd, rd = x.type.dims, reshape.result.type.dims
    if xd is None or rd is None or len(xd) != 3 or len(rd) != 4:
        return f"the Reshape is {x.type} -> {reshape.result.type}, not (B, S, D) -> (B, S, H, Dh)"
    h, dh = rd[2], rd[3]
    if not (isinstance(h, int) and isinstance(dh, int) and xd[2] == h * dh):
        return f"the Reshape is {x.type} -> {reshape.result.type}, not (B, S, H * Dh) -> (B, S, H, Dh)"
    if not (_same_dim(xd[0], rd[0]) and _same_dim(xd[1], rd[1])):
        return f"the Reshape is {x.type} -> {reshape.result.type}: batch and sequence dims change"
    reason = _shape_reason(reshape, (xd[0], xd[1], h, dh), rw)
    if reason:
        return f"the Reshape {reason}"
    return x, h, dh, [*ops, reshape]


def _scaled(v: Value, user: Op, rw: Rewriter) -> tuple[Value, float, list[Op]]:
    """Peel single-use Mul/Div by scalar constants off `v`: (the unscaled value, the product of the factors, ops)."""
    factor, ops = 1.0, []
    while v.op is not None and v.op.name in ("onnx.Mul", "onnx.Div") and rw.only_user(v) is user:
        op = v.op
        found = split_const(op, rw)
        if found is None or (op.name == "onnx.Div" and op.operands[1] is found[0]) or found[0].type != v.type:
            break
        factor *= found[1] if op.name == "onnx.Mul" else 1.0 / found[1]
        ops.append(op)
        v, user = found[0], op
    return v, factor, ops


def _dropout_ratio(op: Op, rw: Rewriter) -> float | str:
    """The ratio of an inference-mode Dropout with a constant ratio, else why not."""
    if len(op.results) > 1 and rw.users(op.results[1]):
        return "the Dropout mask output is used"
    if len(op.operands) > 2 and op.operands[2] is not None:
        training = rw.known(op.operands[2])
        if training is None or bool(np.asarray(training).reshape(-1)[0]):
            return "the Dropout runs in training mode (or its mode is computed at run time)"
    if len(op.operands) < 2 or op.operands[1] is None:
        return 0.5  # the ONNX default ratio
    ratio = scalar(op.operands[1], rw)
    if ratio is None or not 0.0 <= ratio < 1.0:
        return "the Dropout ratio is not a constant in [0, 1)"
    return ratio


@register_pattern("fuse-attention", root="onnx.Reshape")
class FuseAttention:
    """Replace multi-head scaled dot-product attention by mc.attention(q, k, v[, mask]) {num_heads, scale, dropout}.

    Matched from the Reshape merging the heads, (B, T, D) = Reshape(Transpose(P @ Vh, (0, 2, 1, 3))), where
    P = [Dropout](Softmax(S, axis=-1)), S = [Add(mask)](Qh @ Kt scaled), and the heads are split by
    Qh = Transpose(Reshape(q, (B, T, H, Dh)), (0, 2, 1, 3)), Vh likewise and Kt = Transpose(Reshape(k), (0, 2, 3, 1))
    (or (0, 2, 1, 3) then (0, 1, 3, 2)).

    1. The scale is any product of scalar Mul/Div constants on Qh, on Kt and on the scores (1 without any):
       `/ sqrt(d)` on the scores, and `* d ** -0.25` on both q and k as F.scaled_dot_product_attention exports.
    2. The mask is the other operand of an Add on the scaled scores; it must not broadcast the scores bigger.
    3. The Dropout must be in inference mode (no mask output used) with a constant ratio: it becomes `dropout`.
    4. Reshape targets are constants (0 = copy and -1 allowed); q, k and v split into the same number of heads,
       q and k with the same head size, and the merged width is heads * head size of v.
    5. Every intermediate value has exactly one user, the next op of the pattern.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        merged = self._merged_heads(op, rw)
        if isinstance(merged, str):
            return merged
        pv, ops = merged
        probs = rw.producer(pv.operands[0], "onnx.Dropout")
        dropout = 0.0
        if probs is not None:
            ratio = _dropout_ratio(probs, rw)
            if isinstance(ratio, str):
                return ratio
            if rw.only_user(probs.result) is not pv:
                return "the attention probabilities have other users"
            dropout, user = ratio, probs
            ops.append(probs)
        else:
            user = pv
        softmax = rw.producer(user.operands[0], "onnx.Softmax")
        if softmax is None:
            return "the probabilities multiplying v are not a Softmax"
        if rw.only_user(softmax.result) is not user:
            return "the Softmax result has other users"
        axis = softmax.attr("axis", -1)
        if axis not in (-1, 3):
            return f"the Softmax is over axis {axis}, not the last one"
        ops.append(softmax)
        scores, mask, user = softmax.operands[0], None, softmax
        add = rw.producer(scores, "onnx.Add")
        if add is not None and rw.only_user(add.result) is softmax:
            for i in (0, 1):  # the scores are the operand that is a (scaled) MatMul
                if rw.producer(_scaled(add.operands[i], add, rw)[0], "onnx.MatMul") is not None:
                    scores, mask, user = add.operands[i], add.operands[1 - i], add
                    break
            else:
                return "the Add before the Softmax adds nothing to a (scaled) MatMul"
            if add.operands[0].type != add.result.type and add.operands[1].type != add.result.type:
                return "the mask broadcasts the scores to a bigger shape"
            if mask.type.rank is None or mask.type.rank > 4:
                return f"the mask is {mask.type}, not broadcastable to (B, H, T, S)"
            ops.append(add)
        scores, scale, scaling = _scaled(scores, user, rw)
        ops += scaling
        qk = rw.producer(scores, "onnx.MatMul")
        if qk is None:
            return "the scores are not a MatMul (of the scaled heads)"
        if rw.only_user(qk.result) is not (scaling[-1] if scaling else user):
            return "the scores have other users"
        ops.append(qk)
        qh, q_scale, q_ops = _scaled(qk.operands[0], qk, rw)
        kt, k_scale, k_ops = _scaled(qk.operands[1], qk, rw)
        scale *= q_scale * k_scale
        found = {}
        for name, v, perm, user in (("q", qh, _HEADS_FIRST, (q_ops or [qk])[-1]), ("k", kt, _KEY_T, (k_ops or [qk])[-1]),
                                    ("v", pv.operands[1], _HEADS_FIRST, pv)):
            split = _split_heads(v, perm, user, rw)
            if isinstance(split, str):
                return f"{name} heads: {split}"
            found[name] = split
            ops += split[3]
        (q, hq, dq, _), (k, hk, dk, _), (v, hv, dv, _) = found["q"], found["k"], found["v"]
        if not hq == hk == hv or dq != dk:
            return f"q, k and v split into heads {hq}x{dq}, {hk}x{dk} and {hv}x{dv}"
        if op.result.type.dims[2] != hv * dv:
            return f"the merged width {op.result.type.dims[2]} is not heads * head size {hv} * {dv}"
        m.update(q=q, k=k, v=v, mask=mask, heads=hq, scale=float(str(np.float32(scale))), dropout=dropout,
                 ops=[*ops, *q_ops, *k_ops])
        return None

    def _merged_heads(self, op: Op, rw: Rewriter) -> tuple[Op, list[Op]] | str:
        """op = Reshape(Transpose(MatMul(P, Vh), (0, 2, 1, 3)), (B, T, H * Dh)): (the MatMul, matched ops)."""
        tr = rw.producer(op.operands[0], "onnx.Transpose")
        if tr is None or list(tr.attr("perm") or []) != _HEADS_FIRST:
            return "the input is not a Transpose with perm (0, 2, 1, 3)"
        if rw.only_user(tr.result) is not op:
            return "the Transpose result has other users"
        td, rd = tr.result.type.dims, op.result.type.dims
        if td is None or rd is None or len(td) != 4 or len(rd) != 3:
            return f"the Reshape is {tr.result.type} -> {op.result.type}, not (B, T, H, Dh) -> (B, T, H * Dh)"
        if not (isinstance(td[2], int) and isinstance(td[3], int) and rd[2] == td[2] * td[3]
                and _same_dim(td[0], rd[0]) and _same_dim(td[1], rd[1])):
            return f"the Reshape is {tr.result.type} -> {op.result.type}, not (B, T, H, Dh) -> (B, T, H * Dh)"
        reason = _shape_reason(op, rd, rw)
        if reason:
            return reason
        pv = rw.producer(tr.operands[0], "onnx.MatMul")
        if pv is None:
            return "the transposed heads are not a MatMul"
        if rw.only_user(pv.result) is not tr:
            return "the attention output has other users"
        return pv, [op, tr, pv]

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        ordered = sorted(m["ops"], key=lambda o: o.parent.ops.index(o))
        operands = [m["q"], m["k"], m["v"]] + ([m["mask"]] if m["mask"] is not None else [])
        # Before the root: q, k, v and the mask are all defined before the ops that use them.
        new = rw.create(op, "mc.attention", operands, fused_loc(*ordered),
                        num_heads=m["heads"], scale=m["scale"], dropout=m["dropout"])
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=[o for o in ordered if o is not op])
