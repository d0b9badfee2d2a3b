"""Normalization: onnx.BatchNormalization -> nn.BatchNorm1d/2d/3d, onnx.LRN -> nn.LRN."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_BN_DEFAULT_EPS = 1e-5


@emits("onnx.BatchNormalization", since=9)
def batch_norm(op: Op, cx: EmitContext) -> str:
    """onnx.BatchNormalization (inference) -> nn.BatchNorm1d/2d/3d by rank with gamma/beta/moving_mean/moving_variance."""
    if cx.attr("training_mode", 0) or len(op.results) > 1:
        cx.fail("BatchNormalization in training mode (running statistics as outputs) is not supported")
    rank = cx.in_type(0).rank
    if rank not in (2, 3, 4, 5):
        cx.fail(f"BatchNormalization needs a 2-D to 5-D input, got {cx.in_type(0)}")
    eps = cx.attr("epsilon", _BN_DEFAULT_EPS)
    momentum = cx.attr("momentum", 0.9)
    x = cx.arg(0)
    if not all(cx.const(i) is not None for i in range(1, 5)):
        # Statistics computed at run time: the functional form takes them as tensors.
        args = ", ".join(cx.arg(i) for i in (3, 4, 1, 2))
        extra = "" if eps == _BN_DEFAULT_EPS else f", eps={cx.lit(eps)}"
        return f"ops.batch_norm({x}, {args}{extra})"
    weights = {
        "gamma": cx.weight(1),
        "beta": cx.weight(2),
        "moving_mean": cx.weight(3),
        "moving_variance": cx.weight(4),
    }
    channels = weights["gamma"].shape[0] if weights["gamma"].shape else 1
    kwargs: dict = {}
    if eps != _BN_DEFAULT_EPS:
        kwargs["eps"] = eps
    # Both define running = running * momentum + batch * (1 - momentum), so the value carries over
    # unchanged (PyTorch's is 1 - this). It is always written: MindSpore plans to change its default.
    kwargs["momentum"] = momentum
    cls = {2: "nn.BatchNorm1d", 3: "nn.BatchNorm1d", 4: "nn.BatchNorm2d", 5: "nn.BatchNorm3d"}[rank]
    layer = cx.layer(cls, channels, weights=weights, **kwargs)
    return f"{layer}({x})"


@emits("onnx.LRN")
def lrn(op: Op, cx: EmitContext) -> str:
    """onnx.LRN -> nn.LRN(depth_radius=(size-1)//2, bias, alpha=alpha/size, beta)."""
    size = cx.attr("size")
    if size % 2 == 0:
        # ONNX's window is [c - (size-1)//2, c + ceil((size-1)/2)]: nn.LRN's is symmetric.
        cx.fail(f"LRN with an even size ({size}) has an asymmetric window, which nn.LRN cannot express")
    if cx.in_type(0).rank != 4:
        cx.fail(f"nn.LRN needs a 4-D input, got {cx.in_type(0)}")
    alpha, beta, bias = cx.attr("alpha", 0.0001), cx.attr("beta", 0.75), cx.attr("bias", 1.0)
    # nn.LRN follows TF: a radius instead of a size, and alpha applies to the plain sum of squares
    # while ONNX divides it by size.
    kwargs: dict = {"depth_radius": (size - 1) // 2}
    if bias != 1.0:
        kwargs["bias"] = bias
    kwargs["alpha"] = cx.number(alpha / size, "float32")
    kwargs["beta"] = beta
    layer = cx.layer("nn.LRN", **kwargs)
    return f"{layer}({cx.arg(0)})"

