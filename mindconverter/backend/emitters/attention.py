"""onnx.Attention -> an Attention Cell written into the script (matmul, masks and a guarded softmax in ops.*).

MindSpore has no CPU kernel for fused attention (`ops.flash_attention_score` is Ascend only), so
the Cell spells out ONNX's definition: heads split from 3-D inputs, the KV cache concatenated,
grouped KV heads repeated, Q and K scaled by sqrt(scale) each, softcap, the additive bias from
attn_mask / is_causal (bottom-right aligned) / sliding window / nonpad_kv_seqlen, and a softmax
whose fully-masked rows are 0 rather than NaN.
"""

from __future__ import annotations

import math

from mindconverter.backend.context import Code, EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType

_ATTENTION = '''class Attention(nn.Cell):
    """ONNX Attention: softmax(Q K^T * scale + bias) V with masks, a KV cache and grouped KV heads."""

    def __init__(self, q_heads, kv_heads, sqrt_scale, is_causal=False, softcap=0.0, qk_mode=0,
                 left_window=-1, right_window=-1, softmax_dtype=None):
        super().__init__()
        self.q_heads = q_heads
        self.kv_heads = kv_heads
        self.sqrt_scale = sqrt_scale
        self.is_causal = is_causal
        self.softcap = softcap
        self.qk_mode = qk_mode
        self.left_window = left_window
        self.right_window = right_window
        self.softmax_dtype = softmax_dtype

    def split_heads(self, x, heads):
        b, s, _ = x.shape
        return ops.transpose(ops.reshape(x, (b, s, heads, -1)), (0, 2, 1, 3))

    def causal_bias(self, base, offset, per_batch, dtype):
        """base + (0 where key j <= query i + offset, else -inf); a per-batch offset adds a batch axis."""
        sq, skv = base.shape[-2], base.shape[-1]
        i = ops.reshape(ops.arange(sq), (sq, 1))
        j = ops.reshape(ops.arange(skv), (1, skv))
        if per_batch:
            allowed = j <= i + ops.reshape(offset, (-1, 1, 1))
            return base + ops.expand_dims(self.zero_or_inf(allowed, dtype), 1)
        return base + self.zero_or_inf(j <= i + offset, dtype)

    def window_bias(self, base, offset, per_batch, dtype):
        sq, skv = base.shape[-2], base.shape[-1]
        i = ops.reshape(ops.arange(sq), (sq, 1))
        j = ops.reshape(ops.arange(skv), (1, skv))
        diff = i + ops.reshape(offset, (-1, 1, 1)) - j if per_batch else i + offset - j
        allowed = ops.ones_like(diff, dtype=ms.bool_)
        if self.left_window >= 0:
            allowed = ops.logical_and(allowed, diff <= self.left_window)
        if self.right_window >= 0:
            allowed = ops.logical_and(allowed, -diff <= self.right_window)
        bias = self.zero_or_inf(allowed, dtype)
        return base + (ops.expand_dims(bias, 1) if per_batch else bias)

    def zero_or_inf(self, allowed, dtype):
        return ops.where(allowed, ops.zeros((), dtype), ops.fill(dtype, (), -float("inf")))

    def construct(self, q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None):
        dtype = q.dtype
        three_d = q.ndim == 3
        if three_d:
            q = self.split_heads(q, self.q_heads)
            k = self.split_heads(k, self.kv_heads)
            v = self.split_heads(v, self.kv_heads)
        past_len = 0
        if past_key is not None:
            past_len = past_key.shape[2]
            k = ops.concat((past_key, k), 2)
            v = ops.concat((past_value, v), 2)
        present_key, present_value = k, v
        sq, skv = q.shape[2], k.shape[2]
        external = nonpad_kv_seqlen is not None and past_key is None
        offset = nonpad_kv_seqlen - sq if external else past_len
        bias = ops.zeros((sq, skv), dtype)
        mask = attn_mask
        if mask is not None:
            pad = skv - mask.shape[-1]
            if pad > 0:  # a short mask is padded with "masked"
                fill = ops.zeros(mask.shape[:-1] + (pad,), ms.bool_) if mask.dtype == ms.bool_ else ops.fill(dtype, mask.shape[:-1] + (pad,), -float("inf"))
                mask = ops.concat((mask, fill), -1)
            if mask.dtype == ms.bool_:
                mask = self.zero_or_inf(mask, dtype)
        windowed = self.left_window >= 0 or self.right_window >= 0
        if self.is_causal:
            base = bias if mask is None else mask
            if windowed:
                base = bias + base
            bias = self.causal_bias(base, offset, external, dtype)
        elif mask is not None:
            bias = bias + mask
        if windowed:
            bias = self.window_bias(bias + ops.zeros((sq, skv), dtype), offset, external, dtype)
        if nonpad_kv_seqlen is not None:
            keep = ops.reshape(ops.arange(skv), (1, skv)) < ops.reshape(nonpad_kv_seqlen, (-1, 1))
            bias = bias + ops.reshape(self.zero_or_inf(keep, dtype), (-1, 1, 1, skv))
        heads, kv_heads = q.shape[1], k.shape[1]
        if heads != kv_heads and heads % kv_heads == 0:  # grouped-query attention: each KV head serves a group
            reps = heads // kv_heads
            b, _, s, d = k.shape
            k = ops.reshape(ops.tile(ops.expand_dims(k, 2), (1, 1, reps, 1, 1)), (b, heads, s, d))
            b, _, s, d = v.shape
            v = ops.reshape(ops.tile(ops.expand_dims(v, 2), (1, 1, reps, 1, 1)), (b, heads, s, d))
        qk = ops.matmul(q * self.sqrt_scale, ops.transpose(k, (0, 1, 3, 2)) * self.sqrt_scale)
        if self.softcap > 0:
            qk = ops.tanh(qk / self.softcap) * self.softcap
        scores = qk + bias
        qk_out = scores if self.qk_mode == 2 else qk
        if self.softmax_dtype is not None:
            scores = ops.cast(scores, self.softmax_dtype)
        # A fully-masked row (all -inf) softmaxes to zeros instead of NaN.
        row_max = ops.amax(scores, -1, True)
        neg_inf = ops.fill(scores.dtype, (), -float("inf"))
        e = ops.exp(scores - ops.where(row_max == neg_inf, ops.zeros_like(row_max), row_max))
        total = ops.sum(e, -1, True)
        probs = e / ops.where(total == 0, ops.ones_like(total), total)
        masked_rows = ops.amax(bias, -1, True) == ops.fill(dtype, (), -float("inf"))
        probs = ops.cast(ops.where(masked_rows, ops.zeros_like(probs), probs), dtype)
        if self.qk_mode == 3:
            qk_out = probs
        y = ops.matmul(probs, v)
        if three_d:
            b, h, s, d = y.shape
            y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (b, s, h * d))
        return y, present_key, present_value, ops.cast(qk_out, dtype)'''

# ONNX TensorProto codes of softmax_precision.
_PRECISION = {1: "ms.float32", 10: "ms.float16", 11: "ms.float64", 16: "ms.bfloat16"}
_INPUTS = ["attn_mask", "past_key", "past_value", "nonpad_kv_seqlen"]


@emits("onnx.Attention", since=23)
def attention(op: Op, cx: EmitContext) -> tuple[str, ...] | str:
    """onnx.Attention -> Attention(q_heads, kv_heads, sqrt_scale, ...)(q, k, v, ...) (a Cell in the script)."""
    q_shape = cx.in_shape(0)
    if len(q_shape) == 3:
        q_heads, kv_heads = cx.attr("q_num_heads"), cx.attr("kv_num_heads")
        if not q_heads or not kv_heads:
            cx.fail("3-D Attention needs q_num_heads and kv_num_heads")
        head_size = q_shape[2] // q_heads
    else:
        q_heads, kv_heads = q_shape[1], cx.in_shape(1)[1]
        head_size = q_shape[3]
    scale = cx.attr("scale")
    scale = 1 / math.sqrt(head_size) if scale is None else scale
    kwargs = {}
    if cx.attr("is_causal", 0):
        kwargs["is_causal"] = True
    if cx.attr("softcap", 0.0):
        kwargs["softcap"] = cx.number(cx.attr("softcap"), "float32")
    if cx.attr("qk_matmul_output_mode", 0):
        kwargs["qk_mode"] = cx.attr("qk_matmul_output_mode")
    for name in ("left_window_size", "right_window_size"):
        if cx.attr(name, -1) != -1:
            kwargs[name.replace("_size", "")] = cx.attr(name)
    if cx.attr("softmax_precision") is not None:
        precision = _PRECISION.get(cx.attr("softmax_precision"))
        if precision is None:
            cx.fail(f"softmax_precision {cx.attr('softmax_precision')} has no MindSpore type")
        kwargs["softmax_dtype"] = Code(precision)
    sqrt_scale = cx.number(math.sqrt(scale), cx.in_type(0).dtype.to_numpy())
    layer = cx.layer(cx.support_class("Attention", _ATTENTION), q_heads, kv_heads, sqrt_scale, hint="attention", **kwargs)
    # MindSpore's CPU matmul has no bfloat16 kernel: bfloat16 attention runs in float32.
    bf16 = cx.in_type(0).dtype == DType.BF16

    def arg(i: int) -> str:
        return f"ops.cast({cx.arg(i)}, ms.float32)" if bf16 and cx.in_type(i).dtype == DType.BF16 else cx.arg(i)

    args = [arg(0), arg(1), arg(2)]
    args += [f"{name}={arg(i)}" for i, name in enumerate(_INPUTS, start=3) if cx.has(i)]
    call = f"{layer}({', '.join(args)})"
    # One expression per result (the writer assigns results one by one), so the call repeats.
    exprs = tuple(f"ops.cast({call}[{i}], ms.bfloat16)" if bf16 else f"{call}[{i}]" for i in range(len(op.results)))
    return exprs[0] if len(exprs) == 1 else exprs


_ROTARY = '''class RotaryEmbedding(nn.Cell):
    """ONNX RotaryEmbedding: rotate (halves or interleaved pairs of) the first `dim` features of each head."""

    def __init__(self, num_heads=0, dim=0, interleaved=False):
        super().__init__()
        self.num_heads = num_heads
        self.dim = dim
        self.interleaved = interleaved

    def construct(self, x, cos_cache, sin_cache, position_ids=None):
        shape = x.shape
        if x.ndim == 4:  # (batch, heads, seq, head_size) -> (batch, seq, heads, head_size)
            x = ops.transpose(x, (0, 2, 1, 3))
        else:
            x = ops.reshape(x, (shape[0], shape[1], self.num_heads, -1))
        dim = self.dim if self.dim else x.shape[3]
        rotate, keep = x[:, :, :, :dim], x[:, :, :, dim:]
        if position_ids is not None:
            cos_cache = ops.gather(cos_cache, position_ids, 0)
            sin_cache = ops.gather(sin_cache, position_ids, 0)
        cos = ops.expand_dims(cos_cache, 2)
        sin = ops.expand_dims(sin_cache, 2)
        if self.interleaved:
            x1, x2 = rotate[:, :, :, 0::2], rotate[:, :, :, 1::2]
        else:
            x1, x2 = rotate[:, :, :, :dim // 2], rotate[:, :, :, dim // 2:]
        real = cos * x1 - sin * x2
        imag = sin * x1 + cos * x2
        if self.interleaved:
            rotated = ops.reshape(ops.stack((real, imag), -1), rotate.shape)
        else:
            rotated = ops.concat((real, imag), -1)
        y = ops.concat((rotated, keep), -1) if keep.shape[3] else rotated
        if len(shape) == 3:
            return ops.reshape(y, shape)
        return ops.transpose(y, (0, 2, 1, 3))'''


@emits("onnx.RotaryEmbedding", since=23)
def rotary_embedding(op: Op, cx: EmitContext) -> str:
    """onnx.RotaryEmbedding -> RotaryEmbedding(num_heads, dim, interleaved)(x, cos, sin[, position_ids]) (a Cell in the script)."""
    kwargs = {}
    if cx.attr("num_heads"):
        kwargs["num_heads"] = cx.attr("num_heads")
    if cx.attr("rotary_embedding_dim"):
        kwargs["dim"] = cx.attr("rotary_embedding_dim")
    if cx.attr("interleaved", 0):
        kwargs["interleaved"] = True
    if cx.in_type(0).rank == 3 and "num_heads" not in kwargs:
        cx.fail("3-D RotaryEmbedding needs num_heads")
    layer = cx.layer(cx.support_class("RotaryEmbedding", _ROTARY), hint="rotary", **kwargs)
    args = [cx.arg(0), cx.arg(1), cx.arg(2)] + ([cx.arg(3)] if cx.has(3) else [])
    return f"{layer}({', '.join(args)})"


_LINEAR_ATTENTION = '''class LinearAttention(nn.Cell):
    """ONNX LinearAttention: a (B, H, d_k, d_v) state updated once per step (linear, gated, delta, gated_delta rules)."""

    def __init__(self, q_heads, kv_heads, scale, gating, delta):
        super().__init__()
        self.q_heads = q_heads
        self.kv_heads = kv_heads
        self.scale = scale
        self.gating = gating
        self.delta = delta

    def split_heads(self, x, heads):
        b, t, _ = x.shape
        return ops.cast(ops.transpose(ops.reshape(x, (b, t, heads, -1)), (0, 2, 1, 3)), ms.float32)

    def construct(self, query, key, value, past_state=None, decay=None, beta=None):
        dtype = query.dtype
        b, t, _ = query.shape
        q = self.split_heads(query, self.q_heads)
        k = self.split_heads(key, self.kv_heads)
        v = self.split_heads(value, self.kv_heads)
        group = self.q_heads // self.kv_heads
        if self.gating:
            g = self.split_heads(decay, self.kv_heads)  # (B, H, T, 1) per head or (B, H, T, d_k)
        if self.delta:
            beta_heads = beta.shape[-1]
            be = ops.cast(ops.transpose(ops.reshape(beta, (b, t, beta_heads, 1)), (0, 2, 1, 3)), ms.float32)
        if past_state is None:
            state_dtype = dtype
            state = ops.zeros((b, self.kv_heads, k.shape[3], v.shape[3]), ms.float32)
        else:
            state_dtype = past_state.dtype
            state = ops.cast(past_state, ms.float32)
        outputs = []
        for i in range(t):
            k_t = k[:, :, i, :]
            v_t = v[:, :, i, :]
            if self.gating:
                state = state * ops.expand_dims(ops.exp(g[:, :, i, :]), -1)
            if self.delta:
                retrieved = ops.sum(state * ops.expand_dims(k_t, -1), 2)
                v_t = be[:, :, i, :] * (v_t - retrieved)
            state = state + ops.expand_dims(k_t, -1) * ops.expand_dims(v_t, -2)
            read = state
            if group > 1:  # each KV head serves `group` query heads
                s = state.shape
                read = ops.reshape(ops.tile(ops.expand_dims(state, 2), (1, 1, group, 1, 1)), (s[0], s[1] * group, s[2], s[3]))
            outputs.append(self.scale * ops.sum(ops.expand_dims(q[:, :, i, :], -1) * read, 2))
        out = ops.stack(outputs, 1)  # (B, T, H, d_v)
        out = ops.reshape(out, (b, t, -1))
        return ops.cast(out, dtype), ops.cast(state, state_dtype)'''

_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True), "gated_delta": (True, True)}


@emits("onnx.LinearAttention", since=27)
def linear_attention(op: Op, cx: EmitContext) -> tuple[str, ...] | str:
    """onnx.LinearAttention -> LinearAttention(q_heads, kv_heads, scale, gating, delta)(q, k, v, ...) (a Cell in the script)."""
    rule = cx.attr("update_rule", "gated_delta")
    if rule not in _RULES:
        cx.fail(f"update_rule must be linear, gated, delta or gated_delta, got {rule!r}")
    q_heads, kv_heads = cx.attr("q_num_heads"), cx.attr("kv_num_heads")
    if not q_heads or not kv_heads or q_heads % kv_heads:
        cx.fail(f"q_num_heads ({q_heads}) must be a positive multiple of kv_num_heads ({kv_heads})")
    d_k = cx.in_shape(0)[2] // q_heads
    scale = cx.attr("scale") or 1 / math.sqrt(d_k)
    gating, delta = _RULES[rule]
    cls = cx.support_class("LinearAttention", _LINEAR_ATTENTION)
    layer = cx.layer(cls, q_heads, kv_heads, cx.number(scale, "float32"), gating, delta, hint="linear_attention")
    args = [cx.arg(0), cx.arg(1), cx.arg(2)]
    args += [f"{name}={cx.arg(i)}" for i, name in ((3, "past_state"), (4, "decay"), (5, "beta")) if cx.has(i)]
    call = f"{layer}({', '.join(args)})"
    exprs = tuple(f"{call}[{i}]" for i in range(len(op.results)))
    return exprs[0] if len(exprs) == 1 else exprs


@emits("ai.onnx.preview.FlexAttention")
def flex_attention(op: Op, cx: EmitContext) -> str:
    """ai.onnx.preview.FlexAttention (without score_mod/prob_mod) -> the Attention Cell on 4-D q, k, v."""
    if cx.attr("score_mod") is not None or cx.attr("prob_mod") is not None:
        cx.fail("FlexAttention with score_mod or prob_mod subgraphs is not supported")
    q_shape, k_shape = cx.in_shape(0), cx.in_shape(1)
    if len(q_shape) != 4:
        cx.fail(f"FlexAttention needs 4-D (batch, heads, length, size) inputs, got {q_shape}")
    scale = cx.attr("scale")
    scale = 1 / math.sqrt(q_shape[3]) if not scale else scale
    kwargs = {}
    if cx.attr("softmax_precision") is not None:
        precision = _PRECISION.get(cx.attr("softmax_precision"))
        if precision is None:
            cx.fail(f"softmax_precision {cx.attr('softmax_precision')} has no MindSpore type")
        kwargs["softmax_dtype"] = Code(precision)
    sqrt_scale = cx.number(math.sqrt(scale), cx.in_type(0).dtype.to_numpy())
    layer = cx.layer(cx.support_class("Attention", _ATTENTION), q_shape[1], k_shape[1], sqrt_scale, hint="attention", **kwargs)
    return f"{layer}({cx.arg(0)}, {cx.arg(1)}, {cx.arg(2)})[0]"
