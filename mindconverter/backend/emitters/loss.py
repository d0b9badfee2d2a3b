"""Losses: onnx.NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss -> a small NLLLoss Cell written into the script.

The Cell gathers -input[n, target[n, d], d], weights it by weight[target] (0 for ignore_index) and
reduces: "none", "sum", or "mean" = sum(loss) / sum(weights), as ONNX defines it. MindSpore's
nn.NLLLoss only takes (N, C) inputs, so the K-dimensional case is written out.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_NLL = '''class NLLLoss(nn.Cell):
    """ONNX NegativeLogLikelihoodLoss over (N, C, d1, ...) log-probabilities and (N, d1, ...) targets."""

    def __init__(self, reduction, ignore_index=None):
        super().__init__()
        self.reduction = reduction
        self.ignore_index = ignore_index

    def construct(self, x, target, weight=None):
        target = ops.cast(target, ms.int64)
        keep = ops.ones_like(target, dtype=ms.bool_)
        if self.ignore_index is not None:
            keep = target != self.ignore_index
        safe = ops.where(keep, target, ops.zeros_like(target))  # an ignored index may be out of range
        picked = ops.squeeze(ops.gather_elements(x, 1, ops.expand_dims(safe, 1)), 1)
        w = ops.cast(keep, x.dtype)
        if weight is not None:
            w = w * ops.gather(weight, safe, 0)
        loss = -picked * w
        if self.reduction == "sum":
            return ops.sum(loss)
        if self.reduction == "mean":
            return ops.sum(loss) / ops.sum(w)
        return loss'''


def _nll_layer(cx: EmitContext) -> str:
    reduction = cx.attr("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        cx.fail(f"reduction must be none, sum or mean, got {reduction!r}")
    cls = cx.support_class("NLLLoss", _NLL)
    ignore = cx.attr("ignore_index")
    return cx.layer(cls, reduction, ignore, hint="nll_loss") if ignore is not None else cx.layer(cls, reduction, hint="nll_loss")


@emits("onnx.NegativeLogLikelihoodLoss", since=12)
def negative_log_likelihood_loss(op: Op, cx: EmitContext) -> str:
    """onnx.NegativeLogLikelihoodLoss -> NLLLoss(reduction, ignore_index)(x, target[, weight]) (a Cell in the script)."""
    args = [cx.arg(0), cx.arg(1)] + ([cx.arg(2)] if cx.has(2) else [])
    return f"{_nll_layer(cx)}({', '.join(args)})"


@emits("onnx.SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy_loss(op: Op, cx: EmitContext) -> str | tuple[str, ...]:
    """onnx.SoftmaxCrossEntropyLoss -> NLLLoss(reduction, ignore_index)(ops.log_softmax(scores, 1), labels[, weights])."""
    log_prob = f"ops.log_softmax({cx.arg(0)}, 1)"
    args = [log_prob, cx.arg(1)] + ([cx.arg(2)] if cx.has(2) else [])
    loss = f"{_nll_layer(cx)}({', '.join(args)})"
    return (loss, log_prob) if len(op.results) == 2 else loss
