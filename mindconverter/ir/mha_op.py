"""`mc.multihead_attention`: torch's nn.MultiheadAttention, in-projection through out_proj, as one op.

Declared apart from `ir/dialect.py` (the dialect's registry and the other ops); `mindconverter.ir`
imports it, so it is registered wherever the IR is used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import field
from attrs.validators import ge, instance_of, lt

from mindconverter.ir.core import Builder, Op, Value, WeightStore
from mindconverter.ir.dialect import DialectOp, create, dialect_op
from mindconverter.ir.types import TensorType


@dialect_op("mc.multihead_attention")
class MultiheadAttention(DialectOp):
    """y = out_proj(attention(query @ Wq^T + bq, key @ Wk^T + bk, value @ Wv^T + bv)), as torch's nn.MultiheadAttention.

    `in_proj_weight` is (3 * embed_dim, embed_dim): the q, k and v projections stacked in that order; or,
    when key and value have other widths (torch's kdim/vdim), `q_proj_weight` (embed_dim, embed_dim),
    `k_proj_weight` (embed_dim, kdim) and `v_proj_weight` (embed_dim, vdim) instead. `in_proj_bias` is
    (3 * embed_dim), `out_proj_weight` (embed_dim, embed_dim). The attention splits embed_dim into
    `num_heads` heads, scales the scores by head_dim ** -0.5, adds `attn_mask` (a float (target, source)
    mask) and applies `dropout` to the probabilities (the identity at inference). query is (target, batch,
    embed_dim) and key/value (source, batch, kdim/vdim), or batch first with `batch_first`.
    """

    num_heads: int = field(validator=[instance_of(int), ge(1)])
    batch_first: bool = field(default=False, validator=instance_of(bool))
    dropout: float = field(default=0.0, converter=float, validator=[ge(0.0), lt(1.0)])
    operands = ("query", "key", "value", "in_proj_weight?", "in_proj_bias?", "out_proj_weight", "out_proj_bias?",
                "attn_mask?", "q_proj_weight?", "k_proj_weight?", "v_proj_weight?")

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        query, w_out = types[0], types[5]
        projections = self._projections(types)
        if any(t.dims is None or len(t.dims) != 2 for t in [*projections, w_out]):
            raise ValueError(f"the projection weights must be matrices, got {[str(t) for t in [*projections, w_out]]}")
        embed = w_out.dims[1]
        stacked = len(projections) == 1
        if tuple(w_out.dims) != (embed, embed) or (stacked and tuple(projections[0].dims) != (3 * embed, embed)):
            raise ValueError(f"in_proj_weight must be (3 * E, E) and out_proj_weight (E, E), got {projections[0]} and {w_out}")
        if (not stacked and any(t.dims[0] != embed for t in projections)) or projections[0].dims[1] != embed:
            raise ValueError(f"q_proj_weight must be (E, E) and k/v_proj_weight (E, kdim/vdim), got {projections}")
        if embed % self.num_heads:
            raise ValueError(f"embed_dim {embed} is not a multiple of num_heads {self.num_heads}")
        if query.dims is None:
            return [TensorType(query.dtype, None)]
        if len(query.dims) != 3 or query.dims[2] != embed:
            raise ValueError(f"query must be (seq, batch, {embed}) or (batch, seq, {embed}), got {query}")
        return [query]

    @staticmethod
    def _projections(operands: list[Any]) -> list[Any]:
        """[in_proj_weight] or [q_proj_weight, k_proj_weight, v_proj_weight] (operands or their types), checked."""
        packed, separate = operands[3], (operands[8:] + [None] * 3)[:3]
        if (packed is None) == all(w is None for w in separate) or (packed is None and None in separate):
            raise ValueError("give either in_proj_weight or all of q_proj_weight, k_proj_weight, v_proj_weight")
        return [packed] if packed is not None else separate

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        query, key, value, _, b_in, w_out, b_out, mask = (op.operands + [None] * 8)[:8]
        projections = self._projections(op.operands)
        embed = w_out.type.dims[1]
        seq_first: dict[Value, Value] = {}

        def batch_first(x: Value) -> Value:  # (seq, batch, E) -> (batch, seq, E): mc.attention's layout
            if self.batch_first:
                return x
            if x not in seq_first:
                d = x.type.dims
                seq_first[x] = b.op1("onnx.Transpose", [x], x.type.with_dims((d[1], d[0], d[2])), perm=[1, 0, 2])
            return seq_first[x]

        def rows(v: Value, i: int) -> Value:  # rows [i * E, (i + 1) * E) of a stacked weight or bias
            bounds = [b.const(np.array([n], dtype=np.int64), weights) for n in (i * embed, (i + 1) * embed, 0)]
            part = v.type.with_dims((embed, *v.type.dims[1:]))
            return b.op1("onnx.Slice", [v, *bounds], part)

        projected = []
        for i, x in enumerate((query, key, value)):
            bias = rows(b_in, i) if b_in is not None else None
            weight = rows(projections[0], i) if len(projections) == 1 else projections[i]
            projected.append(create(b, "mc.dense", [batch_first(x), weight, bias]).result)
        heads = self.num_heads
        att = create(b, "mc.attention", projected + ([mask] if mask is not None else []), num_heads=heads,
                     scale=float(np.float32(1 / math.sqrt(embed // heads))), dropout=self.dropout).result
        out = create(b, "mc.dense", [att, w_out, b_out]).result
        if not self.batch_first:
            d = out.type.dims
            out = b.op1("onnx.Transpose", [out], out.type.with_dims((d[1], d[0], d[2])), perm=[1, 0, 2])
        return [out]

