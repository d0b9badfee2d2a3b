"""Resizing: onnx.Resize / onnx.Upsample -> ops.interpolate (nearest, linear), ops.ResizeBilinearV2, or gathers.

MindSpore's resizers take an output size and map output pixels back with in/out, so a model is
only converted where ONNX's coordinate transformation gives the same source positions
(mindspore-cpu-ops.md, trap 11). Nearest neighbour is checked index by index at conversion time
and falls back to exact `ops.gather`s with precomputed indices when ops.interpolate would differ.
"""

from __future__ import annotations

import math

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_LINEAR_MODES = {3: "linear", 4: "bilinear", 5: "trilinear"}


def _source_coords(cx: EmitContext, ctm: str, length: int, out: int, scale: np.float32) -> np.ndarray:
    """ONNX's x_original for each output position along one axis, in float32 like onnxruntime."""
    x = np.arange(out, dtype=np.float32)
    half = np.float32(0.5)
    if ctm == "half_pixel":
        return (x + half) / scale - half
    if ctm == "pytorch_half_pixel":
        return (x + half) / scale - half if out > 1 else np.zeros(out, np.float32)
    if ctm == "align_corners":
        return np.zeros(out, np.float32) if out == 1 else x * np.float32(length - 1) / np.float32(out - 1)
    if ctm == "asymmetric":
        return x / scale
    if ctm == "tf_half_pixel_for_nn":
        return (x + half) / scale
    if ctm == "half_pixel_symmetric":
        adjustment = np.float32(out) / (scale * np.float32(length))
        offset = np.float32(length) / 2 * (1 - adjustment)
        return offset + (x + half) / scale - half
    return cx.fail(f"coordinate_transformation_mode {ctm!r} is not supported for nearest resizing")


def _nearest_indices(cx: EmitContext, ctm: str, nearest_mode: str, length: int, out: int, scale: np.float32) -> np.ndarray:
    """The input index ONNX's nearest mode reads for each output position along one axis."""
    c = _source_coords(cx, ctm, length, out, scale)
    floor = np.floor(c)
    if nearest_mode == "round_prefer_floor":
        idx = np.where(c - floor == 0.5, floor, np.round(c))
    elif nearest_mode == "round_prefer_ceil":
        idx = np.where(c - floor == 0.5, floor + 1, np.round(c))
    elif nearest_mode == "floor":
        idx = floor
    elif nearest_mode == "ceil":
        idx = np.ceil(c)
    elif nearest_mode == "simple":  # Upsample and Resize-10 in onnxruntime: ceil when shrinking, else floor
        idx = np.ceil(c) if scale < 1 else floor
    else:
        return cx.fail(f"nearest_mode must be round_prefer_floor, round_prefer_ceil, floor or ceil, got {nearest_mode!r}")
    return np.clip(idx, 0, length - 1).astype(np.int64)


def _resize(cx: EmitContext, mode: str, ctm: str, nearest_mode: str, scales: np.ndarray | None,
            sizes: np.ndarray | None, axes: list[int] | None) -> str:
    if mode == "cubic":
        cx.fail("cubic Resize has no exact MindSpore equivalent (ops.interpolate bicubic differs from ONNX by up to 0.2)")
    if mode not in ("nearest", "linear", "bilinear"):
        cx.fail(f"Resize mode must be nearest, linear or cubic, got {mode!r}")
    dims = cx.in_type(0).dims
    if dims is None or len(dims) not in (3, 4, 5):
        cx.fail(f"Resize is supported for (N, C, ...) inputs with 1 to 3 spatial dims, got {cx.in_type(0)}")
    rank = len(dims)
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    given = [None] * rank  # the scale ONNX's coordinate transformation uses, when it is given
    targets: list = list(dims)
    if sizes is not None and sizes.size:
        for axis, size in zip(axes, sizes.tolist(), strict=True):
            targets[axis] = int(size)
    elif scales is not None and scales.size:
        for axis, scale in zip(axes, scales.astype(np.float32).tolist(), strict=True):
            if not isinstance(dims[axis], int):
                if scale != 1.0:
                    cx.fail(f"Resize scales dim {axis} of {cx.in_type(0)}, whose size is only known at run time")
                continue
            targets[axis] = math.floor(dims[axis] * scale)
            given[axis] = np.float32(scale)
    else:
        cx.fail("Resize needs constant scales or sizes")
    for axis in (0, 1):
        if targets[axis] != dims[axis] or (given[axis] is not None and given[axis] != 1):
            cx.fail(f"Resize of the batch or channel dim (axis {axis}) is not supported")
    if not all(isinstance(d, int) for d in dims[2:]):
        cx.fail(f"Resize needs static spatial dims, got {cx.in_type(0)}")
    lengths, outs = list(dims[2:]), [int(t) for t in targets[2:]]
    used = [given[a] if given[a] is not None else np.float32(o) / np.float32(n) for a, n, o in zip(range(2, rank), lengths, outs, strict=True)]
    x = cx.arg(0)
    size = cx.lit(tuple(outs))
    if mode == "nearest":
        wanted = [_nearest_indices(cx, ctm, nearest_mode, n, o, s) for n, o, s in zip(lengths, outs, used, strict=True)]
        # ops.interpolate(mode="nearest") reads floor(out_index * in / out).
        ms_indices = [np.arange(o, dtype=np.int64) * n // o for n, o in zip(lengths, outs, strict=True)]
        if all(np.array_equal(w, m) for w, m in zip(wanted, ms_indices, strict=True)):
            return x if lengths == outs else f"ops.interpolate({x}, size={size})"
        expr = x
        for axis, (n, w) in enumerate(zip(lengths, wanted, strict=True), start=2):
            if not np.array_equal(w, np.arange(n)):
                expr = f"ops.gather({expr}, {cx.tensor(w, hint=f'resize_index{axis}')}, {axis})"
        return expr
    if lengths == outs and all(s == 1 for s in used):
        return x
    if cx.attr("antialias", 0) and any(o < n for n, o in zip(lengths, outs, strict=True)):
        cx.fail("antialiased linear downscaling has no MindSpore equivalent")
    if ctm != "align_corners":
        # MindSpore maps back with in/out; ONNX with the given scale, which differs when in * scale is fractional.
        for n, o, s in zip(lengths, outs, used, strict=True):
            if np.float32(o) / np.float32(n) != s:
                cx.fail(f"linear Resize with scale {s} from {n} to {o}: MindSpore resizes with {o}/{n} instead")
    if ctm in ("half_pixel", "pytorch_half_pixel"):
        if ctm == "pytorch_half_pixel" and any(o == 1 and n > 1 for n, o in zip(lengths, outs, strict=True)):
            cx.fail("pytorch_half_pixel resizing to size 1 reads pixel 0; ops.interpolate reads the centre")
        return f'ops.interpolate({x}, size={size}, mode="{_LINEAR_MODES[rank]}")'  # align_corners=False
    if ctm == "align_corners":
        return f'ops.interpolate({x}, size={size}, mode="{_LINEAR_MODES[rank]}", align_corners=True)'
    if ctm == "asymmetric" and rank == 4:
        # ops.interpolate has no asymmetric mode (it differs by up to 0.52); the primitive does.
        return f"{cx.layer('ops.ResizeBilinearV2')}({x}, {size})"
    return cx.fail(f"linear Resize with coordinate_transformation_mode {ctm!r} on a {rank}-D input has no MindSpore equivalent")


def _known(cx: EmitContext, i: int, what: str) -> np.ndarray | None:
    if not cx.has(i):
        return None
    value = cx.const(i)
    if value is None:
        cx.fail(f"Resize {what} (input {i}) must be a constant, but it is computed at run time")
    return value


@emits("onnx.Resize", since=11)
def resize(op: Op, cx: EmitContext) -> str:
    """onnx.Resize -> ops.interpolate(x, size, mode) (nearest, linear), ops.ResizeBilinearV2 (asymmetric linear)."""
    if cx.attr("keep_aspect_ratio_policy", "stretch") != "stretch" and cx.has(3):
        cx.fail(f"keep_aspect_ratio_policy {cx.attr('keep_aspect_ratio_policy')!r} is not supported")
    ctm = cx.attr("coordinate_transformation_mode", "half_pixel")
    if ctm == "tf_crop_and_resize":
        cx.fail("coordinate_transformation_mode 'tf_crop_and_resize' has no MindSpore equivalent")
    axes = cx.attr("axes")
    return _resize(cx, cx.attr("mode", "nearest"), ctm, cx.attr("nearest_mode", "round_prefer_floor"),
                   _known(cx, 2, "scales"), _known(cx, 3, "sizes"), None if axes is None else list(axes))


@emits("onnx.Resize", since=10, until=10)
def resize_10(op: Op, cx: EmitContext) -> str:
    """onnx.Resize (opset 10: scales input, asymmetric coordinates) -> ops.interpolate / ops.ResizeBilinearV2."""
    return _resize(cx, cx.attr("mode", "nearest"), "asymmetric", "simple", _known(cx, 1, "scales"), None, None)


@emits("onnx.Upsample", since=7, until=9)
def upsample(op: Op, cx: EmitContext) -> str:
    """onnx.Upsample (scales attribute in opset 7, input in 9) -> the Resize mapping with asymmetric coordinates."""
    scales = cx.attr("scales")
    scales = np.asarray(scales, np.float32) if scales is not None else _known(cx, 1, "scales")
    return _resize(cx, cx.attr("mode", "nearest"), "asymmetric", "simple", scales, None, None)
