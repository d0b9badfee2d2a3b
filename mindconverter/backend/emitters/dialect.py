"""Our own ops (mc.*, see ir/dialect.py) -> MindSpore layers: nn.Dense, nn.LayerNorm, nn.GELU, nn.SiLU, nn.Dropout, attention."""

from __future__ import annotations

import math

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.norm import group_norm_layer
from mindconverter.backend.emitters.shape import shape_literal
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


@emits("mc.dense")
def dense(op: Op, cx: EmitContext) -> str:
    """mc.dense -> nn.Dense(in, out) with the weight as (out, in)."""
    w = cx.weight(1)
    if not op.attrs.get("transpose_w", True):
        w = w.map(lambda a: a.T)  # nn.Dense keeps its weight as (out, in)
    out, in_ = w.shape
    weights = {"weight": w}
    kwargs = {}
    if cx.has(2):
        weights["bias"] = cx.weight(2)
    else:
        kwargs["has_bias"] = False
    layer = cx.layer("nn.Dense", in_, out, weights=weights, **kwargs)
    return f"{layer}({cx.arg(0)})"


@emits("mc.layer_norm")
def layer_norm(op: Op, cx: EmitContext) -> str:
    """mc.layer_norm -> nn.LayerNorm(shape, epsilon=eps) (begin axes given when not the last dim)."""
    dims = cx.in_type(0).dims
    axis = op.attrs.get("axis", -1)
    if dims is None:
        cx.fail("LayerNorm needs an input of known rank")
    rank = len(dims)
    axis = axis % rank
    shape = dims[axis:]
    if not all(isinstance(d, int) for d in shape):
        cx.fail(f"LayerNorm needs static normalized dims, got {cx.in_type(0)}")
    weights = {"gamma": cx.weight(1)}
    if cx.has(2):
        weights["beta"] = cx.weight(2)
    else:  # nn.LayerNorm always has a bias: a zero one computes the same
        weights["beta"] = cx.weight(1).map(lambda a: a * 0)
    kwargs: dict = {}
    if axis != rank - 1:
        # nn.LayerNorm defaults to the last axis only (mindspore-cpu-ops.md, trap 5).
        kwargs["begin_norm_axis"] = axis
        kwargs["begin_params_axis"] = axis
    kwargs["epsilon"] = op.attrs.get("epsilon", 1e-5)  # nn.LayerNorm's own default is 1e-7
    layer = cx.layer("nn.LayerNorm", tuple(shape), weights=weights, **kwargs)
    return f"{layer}({cx.arg(0)})"


@emits("mc.group_norm")
def group_norm(op: Op, cx: EmitContext) -> str:
    """mc.group_norm -> nn.GroupNorm(groups, channels, eps=eps) (affine=False without weights; runs on CPU, 3-D to 5-D)."""
    return group_norm_layer(cx, op.attrs["num_groups"], op.attrs.get("epsilon", 1e-5), affine=cx.has(1))


@emits("mc.gelu")
def gelu(op: Op, cx: EmitContext) -> str:
    """mc.gelu -> nn.GELU(approximate=False) (exact, erf) or nn.GELU() (tanh approximation)."""
    exact = op.attrs.get("approximate", "none") == "none"
    layer = cx.layer("nn.GELU", approximate=False) if exact else cx.layer("nn.GELU")
    return f"{layer}({cx.arg(0)})"


@emits("mc.silu")
def silu(op: Op, cx: EmitContext) -> str:
    """mc.silu -> nn.SiLU()."""
    return f"{cx.layer('nn.SiLU')}({cx.arg(0)})"


@emits("mc.mish")
def mish(op: Op, cx: EmitContext) -> str:
    """mc.mish -> nn.Mish()."""
    return f"{cx.layer('nn.Mish')}({cx.arg(0)})"


@emits("mc.embedding")
def embedding(op: Op, cx: EmitContext) -> str:
    """mc.embedding -> nn.Embedding(vocab, dim) holding the table as embedding_table."""
    table = cx.weight(1)
    vocab, dim = table.shape
    layer = cx.layer("nn.Embedding", vocab, dim, weights={"embedding_table": table})
    return f"{layer}({cx.arg(0)})"


_SCALED_DOT_PRODUCT_ATTENTION = '''
class ScaledDotProductAttention(nn.Cell):
    """Multi-head attention on (batch, seq, heads * head_dim) tensors: softmax(masked_fill(q @ k^T * scale) + mask) @ v."""

    def __init__(self, num_heads, scale, dropout=0.0, fill=-float("inf")):
        super().__init__()
        self.num_heads = num_heads
        self.scale = scale
        self.fill = fill
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()

    def split_heads(self, x):
        batch, seq = x.shape[0], x.shape[1]
        return ops.transpose(ops.reshape(x, (batch, seq, self.num_heads, -1)), (0, 2, 1, 3))

    def softmax(self, scores, masked):
        if not masked:
            return ops.softmax(scores)  # one CPU kernel: a third of the written-out form's time
        # Written out: MindSpore's CPU softmax zeroes the whole tensor when one row is all -inf (torch: NaN in that row).
        e = ops.exp(scores - ops.amax(scores, -1, True))
        return e / ops.sum(e, -1, True)

    def construct(self, q, k, v, mask=None, fill_mask=None):
        batch, seq = q.shape[0], q.shape[1]
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * self.scale
        if fill_mask is not None:
            scores = ops.masked_fill(scores, fill_mask, ms.Tensor(self.fill, scores.dtype))
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(self.softmax(scores, masked=mask is not None or fill_mask is not None))
        out = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        return ops.reshape(out, (batch, seq, -1))
'''


@emits("mc.attention")
def attention(op: Op, cx: EmitContext) -> str:
    """mc.attention -> ScaledDotProductAttention(num_heads, scale, dropout, fill), a Cell in the script called as (q, k, v[, mask][, fill_mask=])."""
    for i, what in ((0, "q"), (1, "k"), (2, "v")):
        if cx.in_type(i).rank != 3:
            cx.fail(f"attention needs {what} of shape (batch, seq, heads * head_dim), got {cx.in_type(i)}")
    if not cx.in_type(0).dtype.is_float:
        cx.fail(f"attention needs float tensors, got {cx.in_type(0)}")
    kwargs = {}
    if op.attrs.get("dropout", 0.0):
        kwargs["dropout"] = op.attrs["dropout"]
    args = [cx.arg(i) for i in range(3)]
    if cx.has(3):
        args.append(cx.arg(3))
    if cx.has(4):
        args.append(f"fill_mask={cx.arg(4)}")
        kwargs["fill"] = op.attrs.get("fill", -math.inf)
    cls = cx.support_class("ScaledDotProductAttention", _SCALED_DOT_PRODUCT_ATTENTION)
    layer = cx.layer(cls, op.attrs["num_heads"], op.attrs["scale"], **kwargs)
    return f"{layer}({', '.join(args)})"


@emits("mc.dims")
def dims(op: Op, cx: EmitContext) -> str:
    """mc.dims -> the sizes as a Python tuple `(x.shape[0], x.shape[1] * 12, 64)` (an int when scalar), substituted where used."""
    items = cx.dims_exprs(op)
    if op.attrs.get("scalar", False):
        return cx.inline(items[0])
    return cx.inline(shape_literal(items))
