"""Pooling: onnx.MaxPool / AveragePool -> nn.MaxPool1d/2d/3d / nn.AvgPool1d/2d/3d; global pools -> reductions."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.emitters.conv import explicit_pads, same_or_tuple
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def _pool_setup(cx: EmitContext, what: str) -> tuple[list[int], list[int], list[int], list[int]]:
    """kernel, strides, dilations and explicit ONNX pads of a pooling op."""
    kernel = list(cx.attr("kernel_shape"))
    n = len(kernel)
    if n not in (1, 2, 3):
        cx.fail(f"only 1-D, 2-D and 3-D {what} is supported, got {n}-D")
    strides = list(cx.attr("strides", [1] * n))
    dilations = list(cx.attr("dilations", [1] * n))
    pads = explicit_pads(cx, tuple(kernel), strides, dilations)
    return kernel, strides, dilations, pads


def _pad_first(cx: EmitContext, x: str, pads: list[int], value: str | None) -> str:
    """`x` padded by ONNX pads with ops.pad, whose padding lists the last dim first."""
    n = len(pads) // 2
    padding = tuple(v for i in reversed(range(n)) for v in (pads[i], pads[i + n]))
    return f"ops.pad({x}, {cx.lit(padding)})" if value is None else f"ops.pad({x}, {cx.lit(padding)}, value={value})"


@emits("onnx.MaxPool")
def max_pool(op: Op, cx: EmitContext) -> str:
    """onnx.MaxPool -> nn.MaxPool2d (1-D and 3-D: nn.MaxPool1d / nn.MaxPool3d) with padding, ceil_mode and dilation."""
    if len(op.results) > 1:
        # MindSpore's indices count within each (n, c) plane, ONNX's across the whole NCHW tensor.
        cx.fail("the Indices output of MaxPool is not supported (MindSpore returns per-plane indices)")
    kernel, strides, dilations, pads = _pool_setup(cx, "MaxPool")
    n = len(kernel)
    ceil_mode = bool(cx.attr("ceil_mode", 0))
    x = cx.arg(0)
    if pads[:n] != pads[n:]:
        # nn.MaxPoolNd pads symmetrically; asymmetric pads (e.g. TF SAME) pad with -inf first.
        if ceil_mode:
            cx.fail(f"MaxPool with asymmetric pads {pads} and ceil_mode=1 is not supported")
        if not cx.in_type(0).dtype.is_float:
            cx.fail(f"MaxPool with asymmetric pads {pads} needs a float input, got {cx.in_type(0).dtype.value}")
        x = _pad_first(cx, x, pads, '-float("inf")')
        pads = [0] * (2 * n)
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = same_or_tuple(strides)
    if any(pads) or ceil_mode or any(d != 1 for d in dilations):
        kwargs["pad_mode"] = "pad"  # padding, ceil_mode and dilation need it
    if any(pads):
        kwargs["padding"] = same_or_tuple(pads[:n])
    if any(d != 1 for d in dilations):
        kwargs["dilation"] = same_or_tuple(dilations)
    if ceil_mode:
        kwargs["ceil_mode"] = True
    layer = cx.layer(f"nn.MaxPool{n}d", same_or_tuple(kernel), **kwargs)
    return f"{layer}({x})"


@emits("onnx.AveragePool")
def average_pool(op: Op, cx: EmitContext) -> str:
    """onnx.AveragePool -> nn.AvgPool2d (1-D and 3-D: nn.AvgPool1d / nn.AvgPool3d) with count_include_pad kept."""
    kernel, strides, dilations, pads = _pool_setup(cx, "AveragePool")
    n = len(kernel)
    if any(d != 1 for d in dilations):
        cx.fail(f"AveragePool with dilations {dilations} has no MindSpore layer (nn.AvgPoolNd has no dilation)")
    ceil_mode = bool(cx.attr("ceil_mode", 0))
    count_include_pad = bool(cx.attr("count_include_pad", 0))
    x = cx.arg(0)
    if pads[:n] != pads[n:]:
        # nn.AvgPoolNd pads symmetrically. Zero-padding first is exact when the pads count;
        # otherwise each window's mean is rescaled by (window size / real elements in it).
        if not count_include_pad:
            return _avg_pool_excluding_pads(cx, x, kernel, strides, pads)
        if ceil_mode:
            cx.fail(f"AveragePool with asymmetric pads {pads}, ceil_mode=1 and count_include_pad=1 is not supported")
        x = _pad_first(cx, x, pads, None)
        pads = [0] * (2 * n)
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = same_or_tuple(strides)
    if any(pads) or ceil_mode:
        kwargs["pad_mode"] = "pad"
    if any(pads):
        kwargs["padding"] = same_or_tuple(pads[:n])
    if ceil_mode:
        kwargs["ceil_mode"] = True
    # ONNX's default is count_include_pad=0 but MindSpore's is True; it only matters with padding.
    if (any(pads) or ceil_mode) and not count_include_pad:
        kwargs["count_include_pad"] = False
    layer = cx.layer(f"nn.AvgPool{n}d", same_or_tuple(kernel), **kwargs)
    return f"{layer}({x})"


def _avg_pool_excluding_pads(cx: EmitContext, x: str, kernel: list[int], strides: list[int], pads: list[int]) -> str:
    """Average over real elements only: zero-pad, valid sum-pool, times (window size / real count).

    The per-window counts depend only on static shapes, so the scale is a constant computed here.
    Extra end padding covers the windows ceil_mode adds; it is never counted either.
    """
    n = len(kernel)
    in_sp, out_sp = cx.in_shape(0)[2:], cx.out_shape()[2:]
    begins, ends = list(pads[:n]), list(pads[n:])
    for i in range(n):
        ends[i] += max(0, (out_sp[i] - 1) * strides[i] + kernel[i] - (in_sp[i] + begins[i] + ends[i]))
    mask = np.pad(np.ones(in_sp), list(zip(begins, ends, strict=True)))
    windows = np.lib.stride_tricks.sliding_window_view(mask, tuple(kernel))
    windows = windows[tuple(slice(0, o * s, s) for o, s in zip(out_sp, strides, strict=True))]
    counts = windows.sum(axis=tuple(range(n, 2 * n)))
    scale = (np.prod(kernel) / counts).reshape((1, 1, *out_sp)).astype(cx.in_type(0).dtype.to_numpy())
    kwargs = {"stride": same_or_tuple(strides)} if any(s != 1 for s in strides) else {}
    layer = cx.layer(f"nn.AvgPool{n}d", same_or_tuple(kernel), **kwargs)
    pooled = f"{layer}({_pad_first(cx, x, begins + ends, None)})"
    if np.all(scale == 1):
        return pooled
    return f"{pooled} * {cx.tensor(scale, hint='pool_scale')}"


def _spatial_axes(cx: EmitContext) -> int | tuple[int, ...]:
    rank = cx.in_type(0).rank
    if rank is None or rank < 3:
        cx.fail(f"a global pool needs an (N, C, ...) input of known rank, got {cx.in_type(0)}")
    axes = tuple(range(2, rank))
    return axes[0] if len(axes) == 1 else axes


@emits("onnx.GlobalAveragePool")
def global_average_pool(op: Op, cx: EmitContext) -> str:
    """onnx.GlobalAveragePool -> ops.mean(x, spatial axes, keep_dims=True)."""
    return f"ops.mean({cx.arg(0)}, {cx.lit(_spatial_axes(cx))}, keep_dims=True)"


@emits("onnx.GlobalMaxPool")
def global_max_pool(op: Op, cx: EmitContext) -> str:
    """onnx.GlobalMaxPool -> ops.amax(x, spatial axes, keepdims=True)."""
    return f"ops.amax({cx.arg(0)}, {cx.lit(_spatial_axes(cx))}, keepdims=True)"
