"""Convolutions: onnx.Conv / onnx.ConvTranspose -> nn.Conv1d/2d/3d and nn.Conv1d/2d/3dTranspose.

The ONNX weight becomes the layer's weight as it is: MindSpore uses the same layouts
((out, in/g, k...) for Conv, (in, out/g, k...) for ConvTranspose), except that the 1-D layers
keep a 4-D (.., .., 1, k) weight.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext, WeightRef
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
    spatial = _spatial_shape(cx)
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _spatial_shape(cx: EmitContext) -> tuple[int, ...]:
    """The static spatial dims of input 0 (the batch dim may be dynamic)."""
    dims = cx.in_type(0).dims
    if dims is None or not all(isinstance(d, int) for d in dims[2:]):
        cx.fail(f"auto_pad {cx.attr('auto_pad')!r} needs static spatial dims, got {cx.in_type(0)}")
    return tuple(dims[2:])


def ms_padding(pads: list[int]) -> tuple[int, ...]:
    """ONNX [b1, b2, e1, e2] -> MindSpore (b1, e1, b2, e2) (top, bottom, left, right for 2-D)."""
    n = len(pads) // 2
    return tuple(v for i in range(n) for v in (pads[i], pads[i + n]))


def same_or_tuple(values: list[int] | tuple[int, ...]) -> int | tuple[int, ...]:
    """One int when every entry is the same (how MindSpore layers spell a uniform size), else a tuple."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def _weight_and_geometry(cx: EmitContext, what: str) -> tuple:
    """The weight (input 1) and the kernel size, group, strides and dilations of a (transposed) conv."""
    w = cx.weight(1)
    kernel = list(w.shape[2:])
    n = len(kernel)
    if n not in (1, 2, 3):
        cx.fail(f"only 1-D, 2-D and 3-D {what} are supported, got {n}-D")
    strides = list(cx.attr("strides", [1] * n))
    dilations = list(cx.attr("dilations", [1] * n))
    return w, kernel, cx.attr("group", 1), strides, dilations


def _geometry(strides: list[int], dilations: list[int], group: int) -> dict:
    """The `stride`, `dilation` and `group` keywords of a MindSpore conv op, where they are not 1."""
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = same_or_tuple(strides)
    if any(d != 1 for d in dilations):
        kwargs["dilation"] = same_or_tuple(dilations)
    if group != 1:
        kwargs["group"] = group
    return kwargs


def _layer_kwargs(cx: EmitContext, pads: list[int], dilations: list[int], group: int, n: int) -> dict:
    """nn.ConvNd / nn.ConvNdTranspose keywords for symmetric pads, dilations, groups and the bias."""
    kwargs: dict = {}
    if any(pads):
        kwargs["pad_mode"] = "pad"
        kwargs["padding"] = pads[0] if n == 1 else same_or_tuple(ms_padding(pads))
    else:
        kwargs["pad_mode"] = "valid"  # the layers default to "same"
    if any(d != 1 for d in dilations):
        kwargs["dilation"] = same_or_tuple(dilations)
    if group != 1:
        kwargs["group"] = group
    kwargs["has_bias"] = cx.has(2)
    return kwargs


@emits("onnx.Conv")
def conv(op: Op, cx: EmitContext) -> str:
    """onnx.Conv -> nn.Conv2d (1-D and 3-D: nn.Conv1d / nn.Conv3d), padding and groups kept exactly."""
    if cx.const(1) is None:
        return _functional_conv(cx)
    w, kernel, group, strides, dilations = _weight_and_geometry(cx, "convolutions")
    out_c, in_per_group = w.shape[:2]
    n = len(kernel)
    pads = explicit_pads(cx, tuple(kernel), strides, dilations)
    weights = {"weight": w}
    if cx.has(2):
        weights["bias"] = cx.weight(2)
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = same_or_tuple(strides)
    x = cx.arg(0)
    if n == 1 and pads[0] != pads[1]:
        # nn.Conv1d only pads symmetrically: zero-pad the input first, then convolve without padding.
        x = f"ops.pad({x}, ({pads[0]}, {pads[1]}))"
        pads = [0, 0]
    kwargs.update(_layer_kwargs(cx, pads, dilations, group, n))
    if n == 1:
        weights["weight"] = w.map(lambda a: a[:, :, None, :])  # nn.Conv1d keeps a (out, in, 1, k) weight
    layer = cx.layer(f"nn.Conv{n}d", in_per_group * group, out_c, same_or_tuple(kernel), weights=weights, **kwargs)
    return f"{layer}({x})"


def _functional_conv(cx: EmitContext, x: str | None = None, w: str | None = None, bias: str | None = None,
                     weight_input: int = 1) -> str:
    """Conv whose weight is computed at run time -> ops.pad (ONNX pads) + ops.conv1d/2d/3d(x, w, b, pad_mode="valid").

    `x`, `w`, `bias` override the inputs' expressions (the quantized convolutions pass dequantized ones).
    """
    wshape = cx.in_type(weight_input).dims
    if wshape is None or not all(isinstance(d, int) for d in wshape):
        cx.fail(f"Conv with a run-time weight needs its static shape, got {cx.in_type(1)}")
    kernel = list(wshape[2:])
    n = len(kernel)
    if n not in (1, 2, 3):
        cx.fail(f"only 1-D, 2-D and 3-D convolutions are supported, got {n}-D")
    strides = list(cx.attr("strides", [1] * n))
    dilations = list(cx.attr("dilations", [1] * n))
    pads = explicit_pads(cx, tuple(kernel), strides, dilations)
    x = x or cx.arg(0)
    if any(pads):
        # ops.convNd pads symmetrically only (trap 8): pad the input with ONNX's pads first.
        x = f"ops.pad({x}, {cx.lit(tuple(v for i in reversed(range(n)) for v in (pads[i], pads[i + n])))})"
    if bias is None and weight_input == 1 and cx.has(2):
        bias = cx.arg(2)
    args = [x, w or cx.arg(weight_input), bias or "None"]
    kwargs = []
    if any(s != 1 for s in strides):
        kwargs.append(f"stride={cx.lit(same_or_tuple(strides))}")
    if any(d != 1 for d in dilations):
        kwargs.append(f"dilation={cx.lit(same_or_tuple(dilations))}")
    if cx.attr("group", 1) != 1:
        kwargs.append(f"groups={cx.attr('group')}")
    return f"ops.conv{n}d({', '.join(args + kwargs)})"


def _transpose_pads(cx: EmitContext, spatial: list, kernel: list[int], strides: list[int], dilations: list[int],
                    output_padding: list[int]) -> list[int]:
    """ConvTranspose pads [begins..., ends...] with output_padding folded into the end pads.

    ONNX's output is `full[begin : F + output_padding - end]` where F = s*(in-1) + d*(k-1) + 1 is
    the uncropped transposed convolution, so output_padding is the same as cropping `end -
    output_padding` at the end. A negative result means rows past F (bias only).
    """
    n = len(kernel)
    full = [None if not isinstance(size, int) else s * (size - 1) + d * (k - 1) + 1
            for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True)]
    auto_pad = cx.attr("auto_pad", "NOTSET")
    output_shape = cx.attr("output_shape")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        cx.fail(f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got {auto_pad!r}")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [size * s if isinstance(size, int) else None for size, s in zip(spatial, strides, strict=True)]
    if output_shape is not None:
        output_shape = list(output_shape)[-n:]
        if None in full or None in output_shape:
            cx.fail(f"ConvTranspose with output_shape or auto_pad {auto_pad!r} needs static spatial dims")
        begins, ends = [], []
        for f, op_, out in zip(full, output_padding, output_shape, strict=True):
            total = f + op_ - out
            # An odd total crops the extra row at the end for SAME_UPPER and at the start otherwise;
            # a negative one grows the output at the end.
            head = max(0, total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
            begins.append(head)
            ends.append(total - head)
        pads = begins + ends
    elif auto_pad == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = list(cx.attr("pads", [0] * (2 * n)))
    return pads[:n] + [e - op_ for e, op_ in zip(pads[n:], output_padding, strict=True)]


@emits("onnx.ConvTranspose")
def conv_transpose(op: Op, cx: EmitContext) -> str:
    """onnx.ConvTranspose -> nn.Conv2dTranspose (1-D and 3-D: nn.Conv1dTranspose / nn.Conv3dTranspose).

    output_padding and output_shape become an asymmetric end padding; only when the output must grow
    past the full transposed convolution is a different form needed (2-D: the ops.Conv2DTranspose
    primitive with the output shape, 3-D: the layer's output_padding).
    """
    if cx.const(1) is None:
        return _functional_transpose(cx)
    w, kernel, group, strides, dilations = _weight_and_geometry(cx, "transposed convolutions")
    in_c, out_per_group = w.shape[:2]
    n = len(kernel)
    output_padding = list(cx.attr("output_padding", [0] * n))
    dims = cx.in_type(0).dims
    spatial = list(dims[2:]) if dims is not None else [None] * n
    pads = _transpose_pads(cx, spatial, kernel, strides, dilations, output_padding)
    out_c = out_per_group * group
    x = cx.arg(0)
    kwargs: dict = {}
    if any(s != 1 for s in strides):
        kwargs["stride"] = same_or_tuple(strides)
    weights = {"weight": w}
    if cx.has(2):
        weights["bias"] = cx.weight(2)
    grow = [max(0, -e) for e in pads[n:]]
    if any(grow):
        return _grown_transpose(cx, x, w, in_c, out_c, kernel, strides, dilations, group, pads, grow, spatial)
    crop = ""
    if n == 1 and pads[0] != pads[1]:
        # nn.Conv1dTranspose only pads symmetrically: pad by the smaller side, crop the rest.
        low = min(pads)
        crop = f"[:, :, {pads[0] - low}:]" if pads[0] > low else f"[:, :, :-{pads[1] - low}]"
        pads = [low, low]
    kwargs.update(_layer_kwargs(cx, pads, dilations, group, n))
    if n == 1:
        weights["weight"] = w.map(lambda a: a[:, :, None, :])  # nn.Conv1dTranspose keeps (in, out, 1, k)
    layer = cx.layer(f"nn.Conv{n}dTranspose", in_c, out_c, same_or_tuple(kernel), weights=weights, **kwargs)
    return f"{layer}({x}){crop}"


def _grown_transpose(cx: EmitContext, x: str, w: WeightRef, in_c: int, out_c: int, kernel: list[int], strides: list[int],
                     dilations: list[int], group: int, pads: list[int], grow: list[int], spatial: list) -> str:
    """ConvTranspose whose output extends past the full transposed convolution (output_padding > end pad)."""
    n = len(kernel)
    output_padding = grow
    pads = pads[:n] + [e + g for e, g in zip(pads[n:], grow, strict=True)]
    if n == 3:
        kwargs: dict = {}
        if any(s != 1 for s in strides):
            kwargs["stride"] = same_or_tuple(strides)
        kwargs["pad_mode"] = "pad"  # output_padding needs it
        if any(pads):
            kwargs["padding"] = same_or_tuple(ms_padding(pads))
        if any(d != 1 for d in dilations):
            kwargs["dilation"] = same_or_tuple(dilations)
        if group != 1:
            kwargs["group"] = group
        kwargs["output_padding"] = same_or_tuple(output_padding)
        kwargs["has_bias"] = cx.has(2)
        weights = {"weight": w}
        if cx.has(2):
            weights["bias"] = cx.weight(2)
        layer = cx.layer("nn.Conv3dTranspose", in_c, out_c, same_or_tuple(kernel), weights=weights, **kwargs)
        return f"{layer}({x})"
    if n == 1 or None in spatial:
        cx.fail(f"output_padding {output_padding} larger than the end padding needs static 2-D or 3-D input, got {cx.in_type(0)}")
    if any(g >= s for g, s in zip(grow, strides, strict=True)):
        cx.fail(f"the output grows by {grow} past the full transposed convolution, which must stay below the strides {strides}")
    # nn.Conv2dTranspose(output_padding=...) computes the extra rows wrongly on CPU; the primitive
    # with an explicit output shape is exact (mindspore-cpu-ops.md, trap 7).
    out_hw = [s * (size - 1) + d * (k - 1) + 1 - b - e
              for size, k, s, d, b, e in zip(spatial, kernel, strides, dilations, pads[:n], pads[n:], strict=True)]
    out_hw = [h + g for h, g in zip(out_hw, grow, strict=True)]
    kwargs = {"pad_mode": "pad", "pad": ms_padding(pads)}
    kwargs.update(_geometry(strides, dilations, group))
    deconv = cx.layer("ops.Conv2DTranspose", out_c, same_or_tuple(kernel), **kwargs)
    weight = cx.parameter(w, hint=f"{deconv.removeprefix('self.')}_weight")
    expr = f"{deconv}({x}, {weight}, ({x}.shape[0], {out_c}, {out_hw[0]}, {out_hw[1]}))"
    if cx.has(2):
        bias = cx.parameter(cx.weight(2), hint=f"{deconv.removeprefix('self.')}_bias")
        expr = f"ops.bias_add({expr}, {bias})"
    return expr


def _functional_transpose(cx: EmitContext) -> str:
    """ConvTranspose whose weight is computed at run time -> the ops.Conv2DTranspose / ops.Conv3DTranspose primitives.

    1-D runs as 2-D with a height of 1. Pads (output_padding and output_shape folded in, see
    _transpose_pads) are explicit; an output growing past the full transposed convolution is an
    explicit output shape (2-D) or output_padding (3-D).
    """
    wshape, dims = cx.in_type(1).dims, cx.in_type(0).dims
    if wshape is None or dims is None or not all(isinstance(d, int) for d in [*wshape, *dims[1:]]):
        cx.fail(f"ConvTranspose with a run-time weight needs static shapes, got {cx.in_type(0)} and {cx.in_type(1)}")
    in_c, out_per_group, *kernel = wshape
    n = len(kernel)
    if n not in (1, 2, 3):
        cx.fail(f"only 1-D, 2-D and 3-D transposed convolutions are supported, got {n}-D")
    group = cx.attr("group", 1)
    out_c = out_per_group * group
    strides = list(cx.attr("strides", [1] * n))
    dilations = list(cx.attr("dilations", [1] * n))
    output_padding = list(cx.attr("output_padding", [0] * n))
    spatial = list(dims[2:])
    pads = _transpose_pads(cx, spatial, kernel, strides, dilations, output_padding)
    grow = [max(0, -e) for e in pads[n:]]
    pads = pads[:n] + [e + g for e, g in zip(pads[n:], grow, strict=True)]
    x, w = cx.arg(0), cx.arg(1)
    kwargs: dict = {"pad_mode": "pad"}
    if n == 3:
        kwargs["pad"] = ms_padding(pads)
        kwargs.update(_geometry(strides, dilations, group))
        if any(grow):
            kwargs["output_padding"] = same_or_tuple(grow)
        expr = f"{cx.layer('ops.Conv3DTranspose', in_c, out_c, same_or_tuple(kernel), **kwargs)}({x}, {w})"
    else:
        if n == 1:  # as 2-D with a height of 1
            kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
            pads, grow, spatial = [0, pads[0], 0, pads[1]], [0, *grow], [1, *spatial]
            x, w = f"ops.expand_dims({x}, 2)", f"ops.expand_dims({w}, 2)"
        out_hw = [s * (size - 1) + d * (k - 1) + 1 - b - e + g
                  for size, k, s, d, b, e, g in zip(spatial, kernel, strides, dilations, pads[:2], pads[2:], grow, strict=True)]
        kwargs["pad"] = ms_padding(pads)
        kwargs.update(_geometry(strides, dilations, group))
        deconv = cx.layer("ops.Conv2DTranspose", out_c, same_or_tuple(kernel), **kwargs)
        expr = f"{deconv}({x}, {w}, ({cx.arg(0)}.shape[0], {out_c}, {out_hw[0]}, {out_hw[1]}))"
        if n == 1:
            expr = f"ops.squeeze({expr}, 2)"
    if cx.has(2):
        expr = f"ops.bias_add({expr}, {cx.arg(2)})"
    return expr
