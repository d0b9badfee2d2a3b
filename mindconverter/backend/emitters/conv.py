"""Convolutions: onnx.Conv -> nn.Conv1d/2d/3d with the ONNX weight as the layer's weight."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def explicit_pads(cx: EmitContext, kernel: tuple[int, ...], strides: list[int], dilations: list[int]) -> list[int]:
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end], resolving auto_pad against the static input shape."""
    n = len(kernel)
    auto_pad = cx.attr("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        return list(cx.attr("pads", [0] * (2 * n)))
    if auto_pad == "VALID":
        return [0] * (2 * n)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        cx.fail(f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got {auto_pad!r}")
    spatial = cx.in_shape(0)[2:]
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def ms_padding(pads: list[int]) -> tuple[int, ...]:
    """ONNX [b1, b2, e1, e2] -> MindSpore (b1, e1, b2, e2) (top, bottom, left, right for 2-D)."""
    n = len(pads) // 2
    return tuple(v for i in range(n) for v in (pads[i], pads[i + n]))


@emits("onnx.Conv")
def conv(op: Op, cx: EmitContext) -> str:
    """onnx.Conv -> nn.Conv2d (1-D and 3-D: nn.Conv1d / nn.Conv3d), padding and groups kept exactly."""
    w = cx.weight(1)
    out_c, in_per_group, *kernel = w.shape
    n = len(kernel)
    if n not in (1, 2, 3):
        cx.fail(f"only 1-D, 2-D and 3-D convolutions are supported, got {n}-D")
    group = cx.attr("group", 1)
    strides = cx.attr("strides", [1] * n)
    dilations = cx.attr("dilations", [1] * n)
    pads = explicit_pads(cx, tuple(kernel), strides, dilations)
    weights = {"weight": w}
    if cx.has(2):
        weights["bias"] = cx.weight(2)
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = strides[0] if len(set(strides)) == 1 else tuple(strides)
    if any(pads):
        padding = ms_padding(pads)
        kwargs["pad_mode"] = "pad"
        if n == 1:
            if padding[0] != padding[1]:
                cx.fail(f"asymmetric 1-D padding {pads} is not supported by nn.Conv1d")
            kwargs["padding"] = padding[0]
        else:
            kwargs["padding"] = padding[0] if len(set(padding)) == 1 else padding
    else:
        kwargs["pad_mode"] = "valid"
    if any(d != 1 for d in dilations):
        kwargs["dilation"] = dilations[0] if len(set(dilations)) == 1 else tuple(dilations)
    if group != 1:
        kwargs["group"] = group
    kwargs["has_bias"] = cx.has(2)
    if n == 1:
        weights["weight"] = w.map(lambda a: a[:, :, None, :])  # nn.Conv1d keeps a (out, in, 1, k) weight
    ksize = kernel[0] if len(set(kernel)) == 1 else tuple(kernel)
    cls = f"nn.Conv{n}d"
    layer = cx.layer(cls, in_per_group * group, out_c, ksize, weights=weights, **kwargs)
    return f"{layer}({cx.arg(0)})"
