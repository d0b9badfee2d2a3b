"""onnx.CausalConvWithState -> a CausalConvWithState Cell: a depthwise causal conv1d as k shifted multiply-adds.

The weight may be computed at run time and the state is carried between calls, so the conv is
written as a sum over the k taps of [past_state | input] rather than an nn.Conv1d layer.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_CAUSAL_CONV = '''class CausalConvWithState(nn.Cell):
    """ONNX CausalConvWithState: depthwise causal conv1d over [past_state | input] (+ SiLU); returns (y, new state)."""

    def __init__(self, kernel, silu=False):
        super().__init__()
        self.kernel = kernel
        self.silu = silu

    def construct(self, x, weight, bias=None, past_state=None):
        b, c, length = x.shape
        pad = ops.zeros((b, c, self.kernel - 1), x.dtype) if past_state is None else past_state
        padded = ops.concat((pad, x), 2)
        y = padded[:, :, 0:length] * ops.reshape(weight[:, 0, 0], (1, -1, 1))
        for j in range(1, self.kernel):
            y = y + padded[:, :, j:j + length] * ops.reshape(weight[:, 0, j], (1, -1, 1))
        if bias is not None:
            y = y + ops.reshape(bias, (1, -1, 1))
        if self.silu:
            y = y * ops.sigmoid(y)
        return y, padded[:, :, length:]'''


@emits("onnx.CausalConvWithState", since=27)
def causal_conv_with_state(op: Op, cx: EmitContext) -> tuple[str, ...] | str:
    """onnx.CausalConvWithState -> CausalConvWithState(k, silu)(x, weight[, bias, past_state]) (a Cell in the script)."""
    activation = cx.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        cx.fail(f"activation must be none, silu or swish, got {activation!r}")
    w_shape = cx.in_shape(1)
    if len(w_shape) != 3 or w_shape[1] != 1 or w_shape[2] < 2:
        cx.fail(f"weight must be (channels, 1, k) with k >= 2, got {w_shape}")
    kwargs = {"silu": True} if activation != "none" else {}
    layer = cx.layer(cx.support_class("CausalConvWithState", _CAUSAL_CONV), w_shape[2], hint="causal_conv", **kwargs)
    args = [cx.arg(0), cx.arg(1)] + [f"{name}={cx.arg(i)}" for i, name in ((2, "bias"), (3, "past_state")) if cx.has(i)]
    call = f"{layer}({', '.join(args)})"
    exprs = tuple(f"{call}[{i}]" for i in range(len(op.results)))
    return exprs[0] if len(exprs) == 1 else exprs
