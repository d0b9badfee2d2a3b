"""mc.multihead_attention -> mindspore's nn.MultiheadAttention, whose parameters keep torch's names.

MindSpore 2.10's nn.MultiheadAttention runs on CPU in PYNATIVE and GRAPH mode, with symbolic batch and
sequence sizes, and matches torch's (same parameters `in_proj_weight`, `in_proj_bias`, `out_proj.weight`,
`out_proj.bias`, same packing, head_dim ** -0.5 scale). Only a float attn_mask is passed: MindSpore
combines a boolean key_padding_mask with a float attn_mask differently from torch.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


@emits("mc.multihead_attention")
def multihead_attention(op: Op, cx: EmitContext) -> str:
    """mc.multihead_attention -> nn.MultiheadAttention(embed_dim, num_heads), called as (query, key, value)[0]."""
    if not cx.in_type(0).dtype.is_float:
        cx.fail(f"multi-head attention needs float tensors, got {cx.in_type(0)}")
    separate = len(op.operands) > 8 and cx.has(8)
    weights = {}
    if separate:  # torch's kdim/vdim: one weight per projection, as nn.MultiheadAttention(kdim=, vdim=) has them
        for i, name in ((8, "q_proj_weight"), (9, "k_proj_weight"), (10, "v_proj_weight")):
            weights[name] = cx.weight(i)
    else:
        weights["in_proj_weight"] = cx.weight(3)
    embed = cx.weight(5).shape[1]
    if cx.has(4):
        weights["in_proj_bias"] = cx.weight(4)
    weights["out_proj.weight"] = cx.weight(5)
    if cx.has(6):
        weights["out_proj.bias"] = cx.weight(6)
    kwargs = {"dropout": op.attrs.get("dropout", 0.0), "has_bias": cx.has(4)}
    if separate:
        kwargs.update(kdim=weights["k_proj_weight"].shape[1], vdim=weights["v_proj_weight"].shape[1])
    kwargs["batch_first"] = op.attrs.get("batch_first", False)
    layer = cx.layer("nn.MultiheadAttention", embed, op.attrs["num_heads"], weights=weights, **kwargs)
    args = [cx.arg(i) for i in range(3)]
    mask = f", attn_mask={cx.arg(7)}" if len(op.operands) > 7 and cx.has(7) else ""
    return f"{layer}({', '.join(args)}, need_weights=False{mask})[0]"
