"""Normalization: onnx.BatchNormalization -> nn.BatchNorm1d/2d/3d, onnx.LRN -> LocalResponseNorm (a Cell in the script)."""

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
    if rank == 5:  # nn.BatchNorm3d keeps its parameters in an inner BatchNorm2d named bn2d
        weights = {f"bn2d.{k}": v for k, v in weights.items()}
    layer = cx.layer(cls, channels, weights=weights, **kwargs)
    return f"{layer}({x})"


_LOCAL_RESPONSE_NORM = '''
class LocalResponseNorm(nn.Cell):
    """ONNX LRN: x / (bias + alpha / size * sum of x**2 over a window of `size` channels) ** beta.

    Written out because MindSpore 2.10's CPU nn.LRN fails when the channel count is a multiple of 8
    (16 and up), and because its window is always symmetric.
    """

    def __init__(self, size, alpha=0.0001, beta=0.75, bias=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.bias = size, alpha, beta, bias
        self.before = (size - 1) // 2
        self.after = size - 1 - self.before

    def construct(self, x):
        channels = x.shape[1]
        squares = ops.pad(x * x, (0, 0) * (x.ndim - 2) + (self.before, self.after))
        window = squares[:, 0:channels]
        for i in range(1, self.size):
            window = window + squares[:, i:i + channels]
        return x / ops.pow(self.bias + self.alpha / self.size * window, self.beta)
'''


@emits("onnx.LRN")
def lrn(op: Op, cx: EmitContext) -> str:
    """onnx.LRN -> LocalResponseNorm(size, alpha, beta, bias), a small Cell written into the script."""
    size = cx.attr("size")
    if cx.in_type(0).rank is None or cx.in_type(0).rank < 3:
        cx.fail(f"LRN needs an input of rank 3 or more, got {cx.in_type(0)}")
    alpha, beta, bias = cx.attr("alpha", 0.0001), cx.attr("beta", 0.75), cx.attr("bias", 1.0)
    kwargs: dict = {}
    if alpha != 0.0001:
        kwargs["alpha"] = alpha
    if beta != 0.75:
        kwargs["beta"] = beta
    if bias != 1.0:
        kwargs["bias"] = bias
    cls = cx.support_class("LocalResponseNorm", _LOCAL_RESPONSE_NORM)
    layer = cx.layer(cls, size, **kwargs)
    return f"{layer}({cx.arg(0)})"
