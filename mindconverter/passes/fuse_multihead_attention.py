"""fuse-multihead-attention: torch's nn.MultiheadAttention block, in-projection through out_proj, becomes mc.multihead_attention."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.ir.scopes import MHA_DROPOUT_ATTR, Path, torch_path
from mindconverter.ir.symbolic import equal
from mindconverter.passes import layout_trace as lt
from mindconverter.passes.fuse_attention import _dropout_ratio
from mindconverter.passes.mha_proof import Proof, prove
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern


@attrs.define
class Projection:
    """One of q, k, v: x @ W^T + b, its input chain (from its source) and the chain from its result to the heads.

    `ops` compute it: an mc.dense, or the MatMul and Add fuse-dense left (their weight and bias moved by
    layout ops from known tensors: F.multi_head_attention_forward slicing in_proj_weight); `weight` and
    `bias` are the chains from the known tensors (the last value is the MatMul operand, (in, out)).
    """

    data: Value
    ops: list[Op]
    weight: list[Value]
    bias: list[Value] | None
    inputs: list[Value] = attrs.field(factory=list)
    heads: list[Value] = attrs.field(factory=list)

    @property
    def width(self) -> int:
        return self.ops[-1].result.type.dims[-1]

    def matrix(self, rw: Rewriter) -> np.ndarray:
        """The weight as (out, in)."""
        w = _known(self.weight, rw)
        dense = self.ops[0]
        return w if dense.name == "mc.dense" and dense.attr("transpose_w", True) else w.T

    def bias_array(self, rw: Rewriter) -> np.ndarray | None:
        return None if self.bias is None else _known(self.bias, rw)


def _known(chain: list[Value], rw: Rewriter) -> np.ndarray:
    return lt.run(chain, np.asarray(rw.known(chain[0])), {}, rw)


def _known_chain(v: Value | None, rw: Rewriter) -> list[Value] | None:
    """The layout chain moving a known tensor into `v` (static shapes), or None."""
    if v is None:
        return None
    chain, _ = lt.back(v, rw, scales=False)
    if rw.known(chain[0]) is None or not all(x.type.is_static for x in chain):
        return None
    return chain


def _linear(result: Value, rw: Rewriter) -> Projection | str:
    """`result` = [Add(b)](mc.dense(x, W[, b]) | MatMul(x, W)), with W and b known tensors (moved by layout ops)."""
    op, bias, ops = result.op, None, []
    if op is not None and op.name == "onnx.Add":
        for i in (0, 1):
            mm = op.operands[i].op
            if mm is not None and mm.name in ("onnx.MatMul", "mc.dense") and rw.only_user(mm.result) is op:
                bias, ops, op = _known_chain(op.operands[1 - i], rw), [op], mm
                if bias is None or bias[-1].type.rank != 1:
                    return "the projection bias is not a known vector"
                break
    if op is None or op.name not in ("onnx.MatMul", "mc.dense"):
        return f"the heads are not moved from a projection (found {op.name if op else 'an argument'})"
    own_bias = op.operands[2] if op.name == "mc.dense" and len(op.operands) > 2 else None
    if own_bias is not None:
        if bias is not None:
            return "the projection adds two biases"
        bias = _known_chain(own_bias, rw)
        if bias is None:
            return "the projection bias is computed at run time"
    weight = _known_chain(op.operands[1], rw)
    if weight is None or weight[-1].type.rank != 2:
        return "the projection weight is not a known matrix"
    return Projection(op.operands[0], [op, *ops], weight, bias)


def _projection(v: Value, rw: Rewriter) -> tuple[Projection, float] | str:
    """The projection whose result the layout ops leading to `v` move (with the scalar factors on the way)."""
    heads, factor = lt.back(v, rw)
    p = _linear(heads[0], rw)
    if isinstance(p, str):
        return p
    p.heads = heads
    p.inputs, _ = lt.back(p.data, rw, scales=False)
    return p, factor


def _out_proj(v: Value, rw: Rewriter) -> Projection | str:
    """The projection (out_proj) whose only input is the moved attention output `v`."""
    user = rw.only_user(v)
    if user is not None and user.name == "onnx.MatMul":
        add = rw.only_user(user.result)
        user = add if add is not None and add.name == "onnx.Add" else user
    if user is None or user.name not in ("mc.dense", "onnx.MatMul", "onnx.Add"):
        return "the attention output is not moved into a projection (out_proj)"
    out = _linear(user.result, rw)
    if isinstance(out, str):
        return f"out_proj: {out}"
    if out.data is not v:
        return "the attention output is not the input of out_proj"
    return out


def _scores(softmax: Op, rw: Rewriter) -> dict[str, Any] | str:
    """Softmax(MatMul(q, k) [* or / scalars] [+ mask], last axis): the MatMul, the factor, the mask and the ops."""
    rank = softmax.result.type.rank
    if softmax.attr("axis", -1) not in (-1, (rank or 0) - 1):
        return f"the Softmax is over axis {softmax.attr('axis', -1)}, not the last one"
    v, user, factor, mask, ops = softmax.operands[0], softmax, 1.0, None, []
    while True:
        if rw.only_user(v) is not user or v.op is None:
            return "the scores have other users"
        op = v.op
        if op.name == "onnx.MatMul":
            return {"qk": op, "factor": factor, "mask": mask, "ops": [*ops, op]}
        if op.name == "onnx.Add" and mask is None:
            if factor != 1.0:  # the scale after the mask scales the mask too
                return f"the scores are scaled by {factor:.6g} after the mask is added"
            i = next((i for i in (0, 1) if lt.back(op.operands[i], rw)[0][0].op is not None
                      and lt.back(op.operands[i], rw)[0][0].op.name == "onnx.MatMul"), None)
            if i is None:
                return "the Add before the Softmax adds nothing to a (scaled) MatMul"
            mask, v = op.operands[1 - i], op.operands[i]
        elif (found := lt.source(v, rw)) is not None and op.name in lt.SCALES:
            v, factor = found[0], factor * found[1]
        else:
            return f"the scores come from {op.name}, not a (scaled, masked) MatMul"
        ops.append(op)
        user = op


def _probabilities(softmax: Op, rw: Rewriter) -> tuple[Op, float, list[Op]] | str:
    """The MatMul(probs, v) using the Softmax (through an inference Dropout): (it, the dropout ratio, the ops)."""
    user = rw.only_user(softmax.result)
    ops, dropout = [], 0.0
    if user is not None and user.name == "onnx.Dropout":
        ratio = _dropout_ratio(user, rw)
        if isinstance(ratio, str):
            return ratio
        dropout, ops = ratio, [user]
        user = rw.only_user(user.result)
    if user is None or user.name != "onnx.MatMul" or user.operands[0] is not (ops[-1].result if ops else softmax.result):
        return "the attention probabilities are not only multiplied with v (the weights are used: need_weights)"
    return user, dropout, [*ops, user]


def _mask(mask: Value | None, scores: Value, rw: Rewriter) -> str | None:
    """Why `mask` is not a constant (target, source) mask (leading dims of 1 only) without a fully masked row, or None.

    nn.MultiheadAttention's CPU softmax gives wrong numbers for every row once one row of the scores is all
    -inf (torch gives that row zeros or NaN, the others right): a mask computed at run time cannot be checked.
    """
    if mask is None:
        return None
    array = rw.known(mask)
    if array is None:
        return "the mask is computed at run time (only a constant mask can be checked for fully masked rows)"
    if (~np.isfinite(np.asarray(array))).all(axis=-1).any():
        return "the mask masks a whole row (MindSpore's nn.MultiheadAttention would get every row wrong)"
    md, sd = mask.type.dims, scores.type.dims
    if md is None or len(md) < 2 or len(md) > len(sd):
        return f"the mask is {mask.type}, not a (target, source) mask"
    if any(d != 1 for d in md[:-2]) or not all(equal(a, b) for a, b in zip(md[-2:], sd[-2:], strict=True)):
        return f"the mask is {mask.type}: only a (target, source) mask is fused (a key padding mask is per batch)"
    if not mask.type.dtype.is_float:
        return f"the mask is {mask.type}, not an additive float mask"
    return None


@register_pattern("fuse-multihead-attention", root="onnx.Softmax")
class FuseMultiheadAttention:
    """Replace torch's nn.MultiheadAttention block by mc.multihead_attention(query, key, value, weights[, mask]).

    Matched from the Softmax of the scores: softmax(q_h @ k_h^T * scale [+ mask]) [Dropout] @ v_h, where q_h,
    k_h and v_h are moved by layout ops (Reshape, Transpose, (Un)Squeeze, Gather/Slice/Split of constant
    indices, as F.multi_head_attention_forward exports its packed or separate in-projection) from the
    results of mc.dense projections of the query, key and value, and the attention output is moved back
    into rows of (batch, target) for the out_proj mc.dense, whose result is moved back into the query's
    layout (seq first, or batch first).

    1. Every move is proved by running it on element codes for two sets of sizes of the symbolic dims
       (passes/layout_trace.py): each head reads head_dim consecutive columns of its projection, and the
       rows of one batch entry in sequence order; the heads and batch entries of q, k and v agree, cover
       batch x heads once, and the out_proj rows are (batch, target) pairs with the heads in order.
    2. The scale (scalar Mul/Div on q, on k and on the scores) is head_dim ** -0.5.
    3. The mask, when there is one, is a float (target, source) mask (leading dims of 1): key padding
       masks and per-head masks are left unfused.
    4. The attention probabilities feed only the Dropout (inference mode) and the MatMul with v: returned
       attention weights (need_weights) leave the block unfused; so does any other outside use of a value
       inside the block.
    5. q, k and v projections read embed_dim features (kdim/vdim equal to embed_dim) and out_proj is
       (embed_dim, embed_dim).
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        scores = _scores(op, rw)
        if isinstance(scores, str):
            return scores
        probs = _probabilities(op, rw)
        if isinstance(probs, str):
            return probs
        pv, dropout, p_ops = probs
        reason = _mask(scores["mask"], op.operands[0], rw)
        if reason:
            return reason
        parts, factor = {}, scores["factor"]
        for name, v in (("q", scores["qk"].operands[0]), ("k", scores["qk"].operands[1]), ("v", pv.operands[1])):
            found = _projection(v, rw)
            if isinstance(found, str):
                return f"{name}: {found}"
            if name == "v" and found[1] != 1.0:  # it would scale the output, not the scores
                return f"v is scaled by {found[1]:.6g}"
            parts[name], factor = found[0], factor * found[1]
        moved = lt.forward(pv.result, rw)
        out = _out_proj(moved[-1], rw)
        if isinstance(out, str):
            return out
        core = {o for p in parts.values() for o in p.ops + _ops(p.heads) + _ops(p.weight) + _ops(p.bias or [])}
        core |= {op, *scores["ops"], *p_ops, *_ops(moved), *out.ops, *_ops(out.weight), *_ops(out.bias or [])}
        scope = _one_source(core, parts)  # the layout moves at its ends may be a neighbour's, merged with its own
        if isinstance(scope, str):
            return scope
        proof = prove(parts, moved, lt.forward(out.ops[-1].result, rw), out, rw)
        if isinstance(proof, str):
            return proof
        if not math.isclose(factor, 1.0 / math.sqrt(proof.head_dim), rel_tol=1e-5):
            return f"the scores are scaled by {factor:.6g}, not head_dim ** -0.5 = {1 / math.sqrt(proof.head_dim):.6g}"
        ops = set(core)
        ops |= {o for chain in [*proof.inputs.values(), proof.output] for o in _ops(chain)}
        ops -= _shared_moves(list(proof.inputs.values()), ops, rw)
        _add_size_helpers(ops, rw)
        outside = _used_outside(ops, proof.output[-1], rw)
        if outside:
            return outside
        dropout = _module_dropout(rw.module.attrs, scope, dropout)
        m.update(parts=parts, proof=proof, mask=scores["mask"], dropout=dropout, out=out, ops=ops, core=core)
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        from mindconverter.passes.mha_weights import stacked_operands

        proof: Proof = m["proof"]
        parts = m["parts"]
        ordered = in_program_order(m["ops"])
        b = rw.builder(op)
        weights = stacked_operands(b, parts, proof, m["out"], rw)
        mask = m["mask"]
        if mask is not None and mask.type.rank > 2:
            axes = b.const(np.arange(mask.type.rank - 2, dtype=np.int64), rw.weights)
            mask = b.op1("onnx.Squeeze", [mask, axes], mask.type.with_dims(mask.type.dims[-2:]), mask.op.loc if mask.op else ())
        end = proof.output[-1]
        operands = [proof.sources["q"], proof.sources["k"], proof.sources["v"], *weights[:4], mask, *weights[4:]]
        # The block's own ops name it first (the moves at its ends may be a neighbour's: the member is named by the loc).
        loc = fused_loc(*sorted((o for o in ordered if not lt.reads_sizes(o)), key=lambda o: o not in m["core"]))
        new = rw.create(op, "mc.multihead_attention", operands, loc,
                        num_heads=proof.num_heads, batch_first=proof.batch_first, dropout=m["dropout"])
        result = new.result
        if proof.transposed:  # the exporter merged the block's last transpose with the next one
            result = rw.builder(op).op1("onnx.Transpose", [result], end.type, new.loc, perm=[1, 0, 2])
        result.name = end.name
        params = [chain[0].op for p in [*parts.values(), m["out"]] for chain in (p.weight, p.bias) if chain and chain[0].op]
        params += [x.op for o in ordered for x in o.operands if x is not None and x.op is not None and x.op.name == "ir.const"]
        rw.replace(end.op, [result], matched=[o for o in params + ordered if o is not end.op])


def _ops(chain: list[Value]) -> list[Op]:
    """The ops producing the values of a chain after its first (the ones moving it)."""
    return [v.op for v in chain[1:]]


def _one_source(ops: set[Op], parts: dict[str, Projection]) -> Path | str:
    """The module path of the block's nn.MultiheadAttention (() without scopes), or why it is not one module.

    torch's F.multi_head_attention_forward computes the whole block in the module's own scope (`/attn/MatMul`,
    `/attn/Gemm`: no sub-modules); attention written with q, k, v and output Linear layers (BERT) spans
    sub-modules and stays for fuse-attention. Without scopes, q, k and v must come from one packed weight.
    """
    paths = {torch_path(name) for o in ops for name in o.loc if name.startswith("/")}
    if len(paths) > 1:
        return f"the block spans the modules {sorted('.'.join(p) for p in paths)[:3]}, not one nn.MultiheadAttention"
    if not paths and len({parts[n].weight[0] for n in "qkv"}) != 1:
        return "q, k and v are projected by separate weights in a graph without module scopes"
    return next(iter(paths), ())


def _module_dropout(attrs: dict[str, Any], scope: Path, found: float) -> float:
    """The attention dropout p of the block: its module's, when the torch frontend recorded it (the module
    attribute MHA_DROPOUT_ATTR, [path, p] pairs: eval exports drop that dropout), else the Dropout's `found`."""
    for path, p in attrs.get(MHA_DROPOUT_ATTR, []):
        if tuple(x for x in str(path).split(".") if x) == scope and 0.0 <= float(p) < 1.0:
            return float(p)
    return found


def _shared_moves(chains: list[list[Value]], ops: set[Op], rw: Rewriter) -> set[Op]:
    """The moves of the input chains that outside ops also use, with the moves before them: not the block's own
    (the block reads the chain's source; they stay for their other users)."""
    shared: set[Op] = set()
    for chain in chains:
        moves = _ops(chain)  # moves[i] computes chain[i + 1]
        for i in range(len(chain) - 1, 0, -1):
            if any(u not in ops and not lt.reads_sizes(u) for u in rw.users(chain[i])):
                shared.update(moves[:i])
                break
    return shared


def _add_size_helpers(ops: set[Op], rw: Rewriter) -> None:
    """Add to the block the integer computations (reshape targets, slice bounds: mc.dims, Shape...) used only inside it."""
    pending = list(ops)
    while pending:
        for x in pending.pop().operands:
            p = x.op if x is not None else None
            if p is None or p in ops or p.name == "ir.param" or not lt.reads_sizes(p):
                continue
            if all(u in ops for r in p.results for u in rw.users(r)):
                ops.add(p)
                pending.append(p)


def _used_outside(ops: set[Op], end: Value, rw: Rewriter) -> str | None:
    """Why a value computed inside the block (other than its end) is used outside it, or None.

    Reading its sizes (mc.dims, Shape) is no use of its data: the value stays, computed once more.
    """
    for o in ops:
        for r in o.results:
            if r is end:
                continue
            stray = [u for u in rw.users(r) if u not in ops and not lt.reads_sizes(u)]
            if stray:
                return f"{o.name} {o.loc_name!r} inside the block is also used by {stray[0].name} {stray[0].loc_name!r}"
    return None
