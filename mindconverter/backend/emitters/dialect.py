"""Our own ops (mc.*, see ir/dialect.py) -> MindSpore layers: nn.Dense, nn.LayerNorm, nn.GELU, nn.SiLU, nn.Dropout."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
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


@emits("mc.embedding")
def embedding(op: Op, cx: EmitContext) -> str:
    """mc.embedding -> nn.Embedding(vocab, dim) holding the table as embedding_table."""
    table = cx.weight(1)
    vocab, dim = table.shape
    layer = cx.layer("nn.Embedding", vocab, dim, weights={"embedding_table": table})
    return f"{layer}({cx.arg(0)})"
