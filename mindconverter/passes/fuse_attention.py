"""fuse-attention: multi-head scaled dot-product attention (head reshapes, q @ k^T, scale, masks, softmax, @ v) becomes mc.attention."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.ir.dialect import create
from mindconverter.ir.types import DType
from mindconverter.passes.attention_shapes import (
    copies_dims_from,
    feeds,
    rebuilt_target,
    same_dim,
    settle_size_reads,
    target_of,
    target_reason,
)
from mindconverter.passes.fusion_helpers import scalar, split_const
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern

_HEADS_FIRST = [0, 2, 1, 3]  # (B, S, H, Dh) <-> (B, H, S, Dh)
_KEY_T = [0, 2, 3, 1]  # (B, S, H, Dh) -> (B, H, Dh, S)
_LAST_TWO = [0, 1, 3, 2]


def _split_heads(v: Value, perm: list[int], user: Op, rw: Rewriter) -> tuple[Value, int, int, list[Op]] | str:
    """v = Transpose(Reshape(x, (B, S, H, Dh)), perm), used only by `user`: (x, H, Dh, ops)."""
    tr = rw.producer(v, "onnx.Transpose")
    if tr is None or not feeds(tr.result, user, rw):
        return "not a single-use Transpose"
    ops = [tr]
    got = list(tr.attr("perm") or [])
    if got == _LAST_TWO and perm == _KEY_T:  # k.transpose(1, 2).transpose(-2, -1), not merged
        inner = rw.producer(tr.operands[0], "onnx.Transpose")
        if inner is None or not feeds(inner.result, tr, rw):
            return "not a single-use Transpose of the heads"
        tr, got, perm = inner, list(inner.attr("perm") or []), _HEADS_FIRST
        ops.append(inner)
    if got != perm:
        return f"Transpose perm {got}, not {perm}"
    reshape = rw.producer(tr.operands[0], "onnx.Reshape")
    if reshape is None or not feeds(reshape.result, tr, rw):
        return "the Transpose input is not a single-use Reshape"
    x = reshape.operands[0]
    xd, rd = x.type.dims, reshape.result.type.dims
    if xd is None or rd is None or len(xd) != 3 or len(rd) != 4:
        return f"the Reshape is {x.type} -> {reshape.result.type}, not (B, S, D) -> (B, S, H, Dh)"
    h, dh = rd[2], rd[3]
    if not (isinstance(h, int) and isinstance(dh, int) and xd[2] == h * dh):
        return f"the Reshape is {x.type} -> {reshape.result.type}, not (B, S, H * Dh) -> (B, S, H, Dh)"
    if not (same_dim(xd[0], rd[0]) and same_dim(xd[1], rd[1])):
        return f"the Reshape is {x.type} -> {reshape.result.type}: batch and sequence dims change"
    reason = target_reason(reshape, (xd[0], xd[1], h, dh), rw)
    if reason:
        return f"the Reshape {reason}"
    return x, h, dh, [*ops, reshape]


def _scaled(v: Value, user: Op, rw: Rewriter) -> tuple[Value, float, list[Op]]:
    """Peel single-use Mul/Div by scalar constants off `v`: (the unscaled value, the product of the factors, ops)."""
    factor, ops = 1.0, []
    while v.op is not None and v.op.name in ("onnx.Mul", "onnx.Div") and feeds(v, user, rw):
        op = v.op
        found = split_const(op, rw)
        if found is None or (op.name == "onnx.Div" and op.operands[1] is found[0]) or found[0].type != v.type:
            break
        factor *= found[1] if op.name == "onnx.Mul" else 1.0 / found[1]
        ops.append(op)
        v, user = found[0], op
    return v, factor, ops


def _fill_split(where: Op, rw: Rewriter) -> tuple[Value, float, bool] | None:
    """For Where(c, fill, s) or Where(c, s, fill) with a scalar constant fill: (s, fill, whether c marks the filled places)."""
    for i, filled in ((1, True), (2, False)):
        fill = scalar(where.operands[i], rw)
        if fill is not None:
            return where.operands[3 - i], fill, filled
    return None


def _is_scores(v: Value, user: Op, rw: Rewriter) -> bool:
    """Whether `v` is q @ k^T, possibly scaled and masked by a Where (the scores side of an Add)."""
    v, _, ops = _scaled(v, user, rw)
    where = rw.producer(v, "onnx.Where")
    if where is not None and (found := _fill_split(where, rw)) is not None:
        v, _, _ = _scaled(found[0], where, rw)
    return rw.producer(v, "onnx.MatMul") is not None


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


def _probabilities(pv: Op, rw: Rewriter) -> tuple[Op, float, list[Op]] | str:
    """P in P @ Vh = [Dropout](Softmax(S, axis=-1)): (the Softmax, the dropout ratio, ops)."""
    probs, dropout, user, ops = rw.producer(pv.operands[0], "onnx.Dropout"), 0.0, pv, []
    if probs is not None:
        ratio = _dropout_ratio(probs, rw)
        if isinstance(ratio, str):
            return ratio
        if not feeds(probs.result, pv, rw):
            return "the attention probabilities have other users"
        dropout, user = ratio, probs
        ops.append(probs)
    softmax = rw.producer(user.operands[0], "onnx.Softmax")
    if softmax is None:
        return "the probabilities multiplying v are not a Softmax"
    if not feeds(softmax.result, user, rw):
        return "the Softmax result has other users"
    axis = softmax.attr("axis", -1)
    if axis not in (-1, 3):
        return f"the Softmax is over axis {axis}, not the last one"
    return softmax, dropout, [*ops, softmax]


def _masked(v: Value, user: Op, rw: Rewriter) -> tuple[Value, dict[str, Any], list[Op]] | str:
    """Peel `Where(c, fill, s)` (or `Where(c, s, fill)`) and the scale factors after it: (s, facts, ops).

    The facts are `fill` (the fill as the scaling after the Where leaves it, computed in the scores'
    dtype, op by op as the source does) and `where` (c, whether c marks the filled places, the Where).
    """
    top, _, after = _scaled(v, user, rw)
    where = rw.producer(top, "onnx.Where")
    if where is None or not feeds(top, (after or [user])[-1], rw):
        return v, {}, []
    found = _fill_split(where, rw)
    if found is None:
        return "the Where before the Softmax fills with no scalar constant"
    scores, fill, filled = found
    cond = where.operands[0]
    if where.result.type != scores.type:
        return "the masked fill broadcasts the scores to a bigger shape"
    if cond.type.dtype != DType.BOOL or cond.type.rank is None or cond.type.rank > 4:
        return f"the masked-fill condition is {cond.type}, not a bool mask broadcastable to (B, H, T, S)"
    dtype = scores.type.dtype.to_numpy()
    value = dtype.type(fill)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for op in reversed(after):
            c = dtype.type(split_const(op, rw)[1])
            value = value * c if op.name == "onnx.Mul" else value / c
    return scores, {"fill": float(str(value)), "where": (cond, filled, where)}, [*after, where]


def _scores(softmax: Op, rw: Rewriter) -> tuple[Op, dict[str, Any], list[Op]] | str:
    """S in Softmax(S) = [Add(mask)]([Where(c, fill)](q @ k^T [scaled]) [scaled]): (the MatMul, facts, ops)."""
    scores, facts, user, ops = softmax.operands[0], {"mask": None, "scale": 1.0}, softmax, []
    add = rw.producer(scores, "onnx.Add")
    if add is not None and feeds(add.result, softmax, rw):
        for i in (0, 1):  # the scores are the operand that is a (scaled, masked) MatMul
            if _is_scores(add.operands[i], add, rw):
                scores, facts["mask"], user = add.operands[i], add.operands[1 - i], add
                break
        else:
            return "the Add before the Softmax adds nothing to a (scaled) MatMul"
        if add.operands[0].type != add.result.type and add.operands[1].type != add.result.type:
            return "the mask broadcasts the scores to a bigger shape"
        if facts["mask"].type.rank is None or facts["mask"].type.rank > 4:
            return f"the mask is {facts['mask'].type}, not broadcastable to (B, H, T, S)"
        ops.append(add)
    masked = _masked(scores, user, rw)
    if isinstance(masked, str):
        return masked
    scores, found, masking = masked
    facts.update(found)
    ops += masking
    user = masking[-1] if masking else user
    scores, facts["scale"], scaling = _scaled(scores, user, rw)
    ops += scaling
    qk = rw.producer(scores, "onnx.MatMul")
    if qk is None:
        return "the scores are not a MatMul (of the scaled heads)"
    if not feeds(qk.result, (scaling or [user])[-1], rw):
        return "the scores have other users"
    for op in masking[:-1]:  # the factors after the Where scale the scores too
        facts["scale"] *= split_const(op, rw)[1] if op.name == "onnx.Mul" else 1.0 / split_const(op, rw)[1]
    return qk, facts, [*ops, qk]


def _heads(qk: Op, pv: Op, rw: Rewriter) -> tuple[dict[str, Any], list[Op]] | str:
    """q, k and v split into heads below q @ k^T (each maybe scaled) and P @ v: (facts, ops)."""
    qh, q_scale, q_ops = _scaled(qk.operands[0], qk, rw)
    kt, k_scale, k_ops = _scaled(qk.operands[1], qk, rw)
    found, ops = {}, [*q_ops, *k_ops]
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
    return {"q": q, "k": k, "v": v, "heads": hq, "head_size": dv, "scale": q_scale * k_scale}, ops


def _merged_heads(op: Op, rw: Rewriter) -> tuple[Op, list[Op], bool] | str:
    """op = Reshape(Transpose(P @ Vh, (0, 2, 1, 3)), target): (the MatMul, ops, whether the target is not (B, T, H * Dh)).

    A target other than (B, T, H * Dh) (simplify-reshapes merged the next Reshape into it: (B * T, D)) stays, as a
    Reshape of the fused result; it must not copy (0) the dims the heads are merged from.
    """
    tr = rw.producer(op.operands[0], "onnx.Transpose")
    if tr is None or list(tr.attr("perm") or []) != _HEADS_FIRST:
        return "the input is not a Transpose with perm (0, 2, 1, 3)"
    if not feeds(tr.result, op, rw):
        return "the Transpose result has other users"
    td, rd = tr.result.type.dims, op.result.type.dims
    if td is None or rd is None or len(td) != 4 or not (isinstance(td[2], int) and isinstance(td[3], int)):
        return f"the Reshape is {tr.result.type} -> {op.result.type}, not (B, T, H, Dh) -> (B, T, H * Dh)"
    merged = (td[0], td[1], td[2] * td[3])
    if len(rd) == 3 and all(same_dim(a, b) for a, b in zip(rd, merged, strict=True)):
        reason = target_reason(op, merged, rw)
        if reason:
            return reason
        reshaped = False
    else:
        target = target_of(op, rw)
        if target is None or copies_dims_from(op, target, 2) or rebuilt_target(target, op.operands[0]) is None:
            return f"the Reshape is {tr.result.type} -> {op.result.type}, not (B, T, H, Dh) -> (B, T, H * Dh)"
        reshaped = True
    pv = rw.producer(tr.operands[0], "onnx.MatMul")
    if pv is None:
        return "the transposed heads are not a MatMul"
    if not feeds(pv.result, tr, rw):
        return "the attention output has other users"
    return pv, [op, tr, pv], reshaped


@register_pattern("fuse-attention", root="onnx.Reshape")
class FuseAttention:
    """Replace multi-head scaled dot-product attention by mc.attention(q, k, v[, mask][, fill_mask]) {num_heads, scale, dropout, fill}.

    Matched from the Reshape merging the heads, (B, T, D) = Reshape(Transpose(P @ Vh, (0, 2, 1, 3))), where
    P = [Dropout](Softmax(S, axis=-1)), S = [Add(mask)]([Where(c, fill)](Qh @ Kt scaled)), and the heads are split by
    Qh = Transpose(Reshape(q, (B, T, H, Dh)), (0, 2, 1, 3)), Vh likewise and Kt = Transpose(Reshape(k), (0, 2, 3, 1))
    (or (0, 2, 1, 3) then (0, 1, 3, 2)).

    1. The scale is any product of scalar Mul/Div constants on Qh, on Kt and on the scores (1 without any):
       `/ sqrt(d)` on the scores, and `* d ** -0.25` on both q and k as F.scaled_dot_product_attention exports.
    2. The mask is the other operand of an Add on the scaled scores; it must not broadcast the scores bigger.
    3. A Where filling the scores with a scalar constant (`masked_fill(c, -inf)`, `torch.where(c, s, finfo.min)`, any
       fill) below that Add becomes `fill_mask` (c, or Not(c) when c marks the kept places) and `fill` (as the
       factors after the Where scale it): exact, fully masked rows included.
    4. The Dropout must be in inference mode (no mask output used) with a constant ratio: it becomes `dropout`.
    5. Reshape targets are constants or computed at run time, provably (B, T, H, Dh) and (B, T, H * Dh) by their
       symbolic contents (ir.shape_values; 0 = copy and -1 allowed). A merging target of another shape stays as
       a Reshape of the result. q, k and v split into the same number of heads, q and k with the same head size.
    6. Every intermediate value has one user, the next op of the pattern, besides ops reading only its sizes;
       those die with the match or, for an mc.dims, read the same sizes from q, k or v.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        merged = _merged_heads(op, rw)
        if isinstance(merged, str):
            return merged
        pv, ops, reshaped = merged
        probs = _probabilities(pv, rw)
        if isinstance(probs, str):
            return probs
        softmax, dropout, found = probs
        scores = _scores(softmax, rw)
        if isinstance(scores, str):
            return scores
        qk, facts, more = scores
        heads = _heads(qk, pv, rw)
        if isinstance(heads, str):
            return heads
        facts.update(heads[0], scale=facts["scale"] * heads[0]["scale"], dropout=dropout)
        ops += found + more + heads[1]
        merging = op.operands[0].type.dims[2:]
        if tuple(merging) != (facts["heads"], facts["head_size"]):
            return f"the merged heads are {merging[0]}x{merging[1]}, not the {facts['heads']}x{facts['head_size']} of v"
        where = facts.get("where")
        kept = [facts["q"], facts["k"], facts["v"], facts["mask"], _mask_source(where, rw)]
        settled = settle_size_reads(op, ops, kept, rw)
        if isinstance(settled, str):
            return settled
        m.update(facts, ops=ops, dying=settled[0], moves=settled[1], reshaped=reshaped)
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        def in_order(ops: list[Op]) -> list[Op]:
            return in_program_order(ops)

        for reader, i, w in m["moves"]:
            rw.uses.set_operand(reader, i, w)
        loc = fused_loc(*in_order(m["ops"]))
        fill_mask = _fill_mask(m.get("where"), op, rw)
        operands = [m["q"], m["k"], m["v"], m["mask"], fill_mask]
        while operands[-1] is None:
            operands.pop()
        attrs = {"num_heads": m["heads"], "scale": float(str(np.float32(m["scale"]))), "dropout": m["dropout"]}
        if fill_mask is not None:
            attrs["fill"] = m["fill"]
        # Before the root: q, k, v and the masks are all defined before the ops that use them.
        result = rw.create(op, "mc.attention", operands, loc, **attrs).result
        if m["reshaped"]:
            result = _reshaped(result, op, rw)
        result.name = op.result.name
        rw.replace(op, [result], matched=[o for o in in_order(m["ops"] + m["dying"]) if o is not op])


def _mask_source(where: tuple[Value, bool, Op] | None, rw: Rewriter) -> Value | None:
    """The value the fill mask is made from: c when it marks the filled places, x for c = Not(x), else c (negated)."""
    if where is None:
        return None
    cond, filled, _ = where
    negated = rw.producer(cond, "onnx.Not")
    return cond if filled or negated is None else negated.operands[0]


def _fill_mask(where: tuple[Value, bool, Op] | None, root: Op, rw: Rewriter) -> Value | None:
    """The fill_mask operand: true where the scores are filled (the negated condition when it marks the kept places:
    a constant for a folded constant condition, as a static export's causal mask is, else a new Not)."""
    if where is None:
        return None
    cond, filled, op = where
    source = _mask_source(where, rw)
    if filled or source is not cond:
        return source
    known = rw.known(cond) if cond.op is not None and cond.op.name == "ir.const" else None  # a weight (ir.param) keeps its checkpoint entry
    if known is not None:
        return rw.builder(root).const(np.logical_not(known), rw.weights, op.loc)
    return rw.builder(root).op1("onnx.Not", [cond], cond.type, op.loc)


def _reshaped(result: Value, root: Op, rw: Rewriter) -> Value:
    """Reshape(result, the root's target) before the root, the target rebuilt from result's sizes unless a constant."""
    target = root.operands[1]
    b = rw.builder(root)
    if not rw.is_known(target):
        dims, symbolic = rebuilt_target(target_of(root, rw), root.operands[0])
        if symbolic:
            target = create(b, "mc.dims", [result], root.loc, dims=dims).result
        else:
            target = b.const(np.array(dims, dtype=np.int64), rw.weights, root.loc)
    return b.op1("onnx.Reshape", [result, target], root.result.type, root.loc, **root.attrs)
