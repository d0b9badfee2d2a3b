"""fold-batchnorm (opt-in): an inference BatchNormalization after a Conv is folded into the Conv's weight and bias."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


@register_pattern("fold-batchnorm", root="onnx.BatchNormalization")
class FoldBatchNorm:
    """Replace BatchNormalization(Conv(x, w, b)) by Conv(x, w * s, (b - mean) * s + beta), s = scale / sqrt(var + eps).

    Not in the default pipeline: the folded network computes the same in inference but can no longer
    train its BatchNorm (no moving statistics). Ask for it with `--fold-batchnorm` (deployment).

    1. The BatchNormalization must be the inference form (one result) over the Conv's channel axis.
    2. The Conv's result must have no other user; weights, bias and statistics must be known.
    3. The folded weight and bias are new trainable parameters (`<conv weight>_1`, `<prefix>.bias`).
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        conv = rw.producer(op.operands[0], "onnx.Conv")
        if conv is None:
            return "the input is not a Conv"
        if len(op.results) != 1 or op.attr("training_mode", 0):
            return "the BatchNormalization is in training mode"
        if rw.only_user(conv.result) is not op:
            return "the Conv result has other users"
        stats = [rw.known(v) for v in op.operands[1:5]]
        if any(s is None for s in stats):
            return "the BatchNorm statistics are not known"
        w = rw.known(conv.operands[1])
        if w is None:
            return "the Conv weight is not known"
        has_bias = len(conv.operands) > 2 and conv.operands[2] is not None
        b = rw.known(conv.operands[2]) if has_bias else np.zeros(w.shape[0], w.dtype)
        if b is None:
            return "the Conv bias is not known"
        scale, beta, mean, var = (np.asarray(s, np.float64).reshape(-1) for s in stats)
        if scale.size != w.shape[0]:
            return "the BatchNorm does not normalise the Conv's output channels"
        s = scale / np.sqrt(var + float(op.attr("epsilon", 1e-5)))
        m.update(
            conv=conv,
            w=(w * s.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype),
            b=((b - mean) * s + beta).astype(w.dtype),
        )
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        conv = m["conv"]
        b = rw.builder(conv)
        w_key = conv.operands[1].op.attrs.get("key")
        if w_key is None:  # an inline constant: name the parameters after the Conv's module path
            path = [p for p in conv.loc_name.split("/")[:-1] if p]
            w_key = ".".join([*path, "weight"]) if path else "conv.weight"
        prefix = w_key.rsplit(".", 1)[0] if "." in w_key else w_key
        loc = fused_loc(conv, op)
        w = b.param(m["w"], rw.weights, w_key, origin=conv.loc_name)
        bias = b.param(m["b"], rw.weights, f"{prefix}.bias", origin=op.loc_name)
        new = b.create("onnx.Conv", [conv.operands[0], w, bias], [op.result.type], dict(conv.attrs), loc)
        new.results[0].name = op.result.name
        rw.replace(op, new.results, matched=[conv])
