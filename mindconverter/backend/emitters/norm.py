"""Normalization: onnx.BatchNormalization -> nn.BatchNorm1d/2d/3d, onnx.LRN -> LocalResponseNorm (a Cell in the script),
LayerNormalization -> ops.LayerNorm, InstanceNormalization -> nn.GroupNorm(C, C) (ops.group_norm for weights computed at
run time), GroupNormalization -> ops.group_norm, Lp/MeanVariance -> reductions."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext, WeightRef
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


def _norm_axes(cx: EmitContext, axis: int) -> tuple[int, int]:
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("the input needs a known rank")
    return (axis + rank if axis < 0 else axis), rank


@emits("onnx.LayerNormalization", since=17)
def layer_norm(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.LayerNormalization -> ops.LayerNorm(axis, axis, epsilon)(x, scale, bias)[0]; Mean/InvStdDev by reductions."""
    axis, rank = _norm_axes(cx, cx.attr("axis", -1))
    eps = cx.attr("epsilon", 1e-5)
    x = cx.arg(0)
    norm_shape = cx.in_type(0).dims[axis:]
    if cx.in_type(1).dims != norm_shape:
        cx.fail(f"LayerNormalization scale {cx.in_type(1)} must have the normalized shape {norm_shape}")
    if cx.has(2) and cx.in_type(2).dims != norm_shape:
        cx.fail(f"LayerNormalization bias {cx.in_type(2)} must have the normalized shape {norm_shape}")
    # ops.layer_norm has no CPU kernel and nn.LayerNorm's default epsilon differs (trap 5).
    layer = cx.layer("ops.LayerNorm", begin_norm_axis=axis, begin_params_axis=axis, epsilon=eps)
    scale = cx.arg(1)
    bias = cx.arg(2) if cx.has(2) else f"ops.zeros_like({scale})"
    outs = [f"{layer}({x}, {scale}, {bias})[0]"]
    axes = cx.lit(tuple(range(axis, rank)))
    if len(op.results) > 1:
        stash = cx.dtype(cx.out_type(1).dtype)
        xs = f"ops.cast({x}, {stash})" if cx.out_type(1).dtype != cx.in_type(0).dtype else x
        mean = f"ops.mean({xs}, {axes}, keep_dims=True)"
        outs.append(mean)
        if len(op.results) > 2:
            outs.append(f"ops.rsqrt(ops.mean(ops.square({xs} - {mean}), {axes}, keep_dims=True) + {cx.lit(eps)})")
    return tuple(outs)


def _group_norm(cx: EmitContext, groups: int, scale: str, bias: str) -> str:
    eps = cx.attr("epsilon", 1e-5)
    extra = "" if eps == 1e-5 else f", {cx.lit(eps)}"
    return f"ops.group_norm({cx.arg(0)}, {groups}, {scale}, {bias}{extra})"


def group_norm_layer(cx: EmitContext, groups: int, eps: float, affine: bool) -> str:
    """`nn.GroupNorm(groups, C, eps=eps)` applied to input 0, gamma and beta from inputs 1 and 2 (runs on CPU, 3-D to 5-D).

    Without `affine` (torch's affine=False) the layer says so; its gamma and beta are still parameters
    (not trained), so the checkpoint holds ones and zeros for them. A missing bias is zero.
    """
    channels = cx.in_type(0).dims[1] if cx.in_type(0).rank else None
    if not isinstance(channels, int):
        cx.fail(f"GroupNorm needs a static channel dim, got {cx.in_type(0)}")
    kwargs: dict = {"eps": eps}
    if affine:
        weights = {"gamma": cx.weight(1), "beta": cx.weight(2) if cx.has(2) else cx.weight(1).map(lambda a: a * 0)}
    else:
        kwargs["affine"] = False
        dtype = cx.in_type(0).dtype.to_numpy()
        weights = {"gamma": WeightRef(np.ones(channels, dtype)), "beta": WeightRef(np.zeros(channels, dtype))}
    layer = cx.layer("nn.GroupNorm", groups, channels, weights=weights, **kwargs)
    return f"{layer}({cx.arg(0)})"


def _identity_weights(cx: EmitContext) -> bool:
    """Whether inputs 1 and 2 are constants (not parameters) of ones and zeros: torch's InstanceNorm affine=False."""
    scale, bias = cx.operand(1), cx.operand(2)
    if any(v.op is None or v.op.name != "ir.const" for v in (scale, bias)):
        return False
    return bool(np.all(cx.const(1) == 1) and np.all(cx.const(2) == 0))


@emits("onnx.InstanceNormalization", since=6)
def instance_norm(op: Op, cx: EmitContext) -> str:
    """onnx.InstanceNormalization -> nn.GroupNorm(C, C, eps) (one group per channel; trap 6: nn.InstanceNorm2d has no CPU kernel).

    Scale and bias are its gamma and beta (torch's `in1.weight` -> `in1.gamma`); ops.group_norm where they are computed at run time.
    """
    channels = cx.in_type(0).dims[1] if cx.in_type(0).rank else None
    if not isinstance(channels, int):
        cx.fail(f"InstanceNormalization needs a static channel dim, got {cx.in_type(0)}")
    if cx.in_type(0).rank in (3, 4, 5) and cx.const(1) is not None and cx.const(2) is not None:
        return group_norm_layer(cx, channels, cx.attr("epsilon", 1e-5), affine=not _identity_weights(cx))
    return _group_norm(cx, channels, cx.arg(1), cx.arg(2))


@emits("onnx.GroupNormalization", since=18)
def group_norm(op: Op, cx: EmitContext) -> str:
    """onnx.GroupNormalization -> ops.group_norm(x, num_groups, scale, bias, eps) (opset 18 per-group scale repeated per channel)."""
    groups = int(cx.attr("num_groups"))
    channels = cx.in_type(0).dims[1] if cx.in_type(0).rank else None
    if not isinstance(channels, int):
        cx.fail(f"GroupNormalization needs a static channel dim, got {cx.in_type(0)}")
    scale, bias = cx.arg(1), cx.arg(2)
    if cx.in_type(1).dims == (groups,) and groups != channels:
        # Opset 18 gives one scale/bias per group; opset 21 one per channel.
        scale = f"ops.repeat_interleave({scale}, {channels // groups}, 0)"
        bias = f"ops.repeat_interleave({bias}, {channels // groups}, 0)"
    return _group_norm(cx, groups, scale, bias)


@emits("onnx.LpNormalization", since=1)
def lp_norm(op: Op, cx: EmitContext) -> str:
    """onnx.LpNormalization -> x / norm(x, axis) with norm = sqrt(sum(x*x)) (p=2) or sum(|x|) (p=1); 0 stays 0."""
    axis, _ = _norm_axes(cx, cx.attr("axis", -1))
    p = int(cx.attr("p", 2))
    x = cx.arg(0)
    if p == 2:
        norm = f"ops.sqrt(ops.sum({x} * {x}, {axis}, keepdim=True))"
    elif p == 1:
        norm = f"ops.sum(ops.abs({x}), {axis}, keepdim=True)"
    else:
        return cx.fail(f"LpNormalization p must be 1 or 2, got {p}")
    return f"{x} / ops.clamp({norm}, min=1e-30)" if cx.in_type(0).dtype.is_float else cx.fail("LpNormalization needs a float input")


@emits("onnx.MeanVarianceNormalization", since=9)
def mean_variance_norm(op: Op, cx: EmitContext) -> str:
    """onnx.MeanVarianceNormalization -> (x - mean) / (sqrt(mean(x*x) - mean**2) + 1e-9) over axes."""
    rank = cx.in_type(0).rank
    if rank is None:
        cx.fail("MeanVarianceNormalization needs the rank of its input")
    axes = cx.lit(tuple(a + rank if a < 0 else a for a in cx.attr("axes", [0, 2, 3])))
    x = cx.arg(0)
    mean = f"ops.mean({x}, {axes}, keep_dims=True)"
    return f"({x} - {mean}) / (ops.sqrt(ops.mean({x} * {x}, {axes}, keep_dims=True) - ops.square({mean})) + 1e-9)"


@emits("onnx.RMSNormalization", since=23)
def rms_norm(op: Op, cx: EmitContext) -> str:
    """onnx.RMSNormalization -> x / ops.sqrt(ops.mean(ops.square(x), axes, keep_dims=True) + epsilon) * scale over axis..rank-1.

    The statistics are computed in `stash_type` (float32 by default): x is cast to it first and the
    normalized value cast back to x's type before the scale multiplies it, as in the ONNX function body.
    """
    from mindconverter.backend.emitters.tensor import _ONNX_DTYPES

    axis, rank = _norm_axes(cx, cx.attr("axis", -1))
    if not 0 <= axis < rank:
        cx.fail(f"RMSNormalization axis {cx.attr('axis', -1)} is out of range for rank {rank}")
    eps = cx.attr("epsilon", 1e-5)
    stash_type = cx.attr("stash_type", 1)
    if stash_type not in _ONNX_DTYPES or not _ONNX_DTYPES[stash_type].is_float:
        cx.fail(f"RMSNormalization stash_type {stash_type} is not a float type")
    in_dtype = cx.in_type(0).dtype
    stash = _ONNX_DTYPES[stash_type]
    x = cx.arg(0)
    xs = f"ops.cast({x}, {cx.dtype(stash)})" if stash != in_dtype else x
    axes = cx.lit(axis if axis == rank - 1 else tuple(range(axis, rank)))
    norm = f"{xs} / ops.sqrt(ops.mean(ops.square({xs}), {axes}, keep_dims=True) + {cx.lit(eps)})"
    if stash != in_dtype:
        norm = f"ops.cast({norm}, {cx.dtype(in_dtype)})"
    return f"{norm} * {cx.arg(1)}"
