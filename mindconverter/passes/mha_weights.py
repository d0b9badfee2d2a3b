"""The weights of a fused nn.MultiheadAttention as torch keeps them: in_proj_weight (3E, E) stacking q, k, v, and out_proj.

A packed projection whose rows are already q, k, v in order (torch's self-attention) is used as it is;
otherwise (separate projections, a transposed export) the rows are gathered into one new weight that
keeps the source weight's name for the weight map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Builder, Value
from mindconverter.passes.mha_proof import Proof
from mindconverter.passes.pattern import Rewriter


def _origin(v: Value, rw: Rewriter) -> str:
    key = v.op.attrs.get("key", "") if v.op is not None else ""
    return rw.weights.origin.get(key, key)


def _direct(p: Any, chain: list[Value] | None) -> Value | None:
    """The known tensor itself when the projection uses it unmoved as (out, in) weight or bias, else None."""
    if chain is None or len(chain) != 1:
        return None
    dense = p.ops[0]
    return chain[0] if chain is p.bias or (dense.name == "mc.dense" and dense.attr("transpose_w", True)) else None


def _param(b: Builder, array: np.ndarray, source: Value | None, fallback: str, loc: tuple[str, ...], rw: Rewriter) -> Value:
    """A new weight named (and, in the weight map, sourced) after the known tensor it is computed from."""
    origin = _origin(source, rw) if source is not None else fallback
    return b.param(array, rw.weights, origin or fallback, loc, origin=origin or None)


def stacked_operands(b: Builder, parts: dict[str, Any], proof: Proof, out: Any, rw: Rewriter) -> list[Value | None]:
    """[in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias] operands for mc.multihead_attention, then
    q_proj_weight, k_proj_weight, v_proj_weight (in_proj_weight None) when key or value have their own widths."""
    embed = proof.num_heads * proof.head_dim
    q = parts["q"]
    loc = q.ops[0].loc
    # torch's packed projection: one x @ W^T + b whose rows are q, k, v in order
    packed = all(parts[n].ops[0] is q.ops[0] for n in "qkv") and q.width == 3 * embed
    packed = packed and [proof.offsets[n] for n in "qkv"] == [0, embed, 2 * embed]
    w_in = _direct(q, q.weight) if packed else None
    if w_in is None and packed:
        # A packed weight stored (in, out) (MatMul, Conv1D): in_proj_weight is its transpose, kept as a view of the
        # (memory-mapped) weight rather than concatenated rows, so the pass does not copy the model's weights.
        w_in = _param(b, q.matrix(rw), q.weight[0], "in_proj_weight", loc, rw)
    separate: list[Value] = []
    rows = [parts[n].matrix(rw)[proof.offsets[n]:proof.offsets[n] + embed] for n in "qkv"] if w_in is None else []
    if rows and len({r.shape[1] for r in rows}) > 1:  # torch's kdim/vdim: q_proj_weight, k_proj_weight, v_proj_weight
        separate = [_param(b, r, parts[n].weight[0], f"{n}_proj_weight", parts[n].ops[0].loc, rw)
                    for n, r in zip("qkv", rows, strict=True)]
    elif rows:
        w_in = _param(b, np.concatenate(rows), q.weight[0], "in_proj_weight", loc, rw)
    biases = [parts[n].bias_array(rw) for n in "qkv"]
    out_bias = out.bias_array(rw)
    if all(x is None for x in [*biases, out_bias]):
        b_in = b_out = None
    else:
        zeros = np.zeros(embed, q.matrix(rw).dtype)
        b_in = _direct(q, q.bias) if packed else None
        if b_in is None:
            stacked = [zeros if x is None else x[proof.offsets[n]:proof.offsets[n] + embed]
                       for n, x in zip("qkv", biases, strict=True)]
            source = next((parts[n].bias[0] for n in "qkv" if parts[n].bias is not None), None)
            b_in = _param(b, np.concatenate(stacked), source, "in_proj_bias", loc, rw)
        b_out = _direct(out, out.bias)
        if b_out is None:
            b_out = _param(b, zeros if out_bias is None else out_bias, out.bias[0] if out.bias else None,
                           "out_proj.bias", out.ops[0].loc, rw)
    w_out = _direct(out, out.weight)
    if w_out is None:
        w_out = _param(b, out.matrix(rw), out.weight[0], "out_proj.weight", out.ops[0].loc, rw)
    return [w_in, b_in, w_out, b_out, *separate]
