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
from mindconverter.ir.symbolic import equal

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
    if mode not in ("nearest", "linear", "bilinear", "cubic"):
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
    if mode == "cubic":
        # ops.interpolate(mode="bicubic") differs from ONNX by up to 0.2 (trap 12): with static
        # shapes the resize is a fixed linear map per axis, applied as a matmul.
        return _matrix_resize(cx, x, mode, ctm, lengths, outs, used)
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
    matrix_ok = rank in (3, 4) and not cx.attr("antialias", 0)
    if cx.attr("antialias", 0) and any(o < n for n, o in zip(lengths, outs, strict=True)):
        cx.fail("antialiased linear downscaling has no MindSpore equivalent")
    if ctm != "align_corners":
        # MindSpore maps back with in/out; ONNX with the given scale, which differs when in * scale is fractional.
        for n, o, s in zip(lengths, outs, used, strict=True):
            if np.float32(o) / np.float32(n) != s:
                if matrix_ok:
                    return _matrix_resize(cx, x, "linear", ctm, lengths, outs, used)
                cx.fail(f"linear Resize with scale {s} from {n} to {o}: MindSpore resizes with {o}/{n} instead")
    if ctm in ("half_pixel", "pytorch_half_pixel"):
        if ctm == "pytorch_half_pixel" and any(o == 1 and n > 1 for n, o in zip(lengths, outs, strict=True)):
            if matrix_ok:
                return _matrix_resize(cx, x, "linear", ctm, lengths, outs, used)
            cx.fail("pytorch_half_pixel resizing to size 1 reads pixel 0; ops.interpolate reads the centre")
        return f'ops.interpolate({x}, size={size}, mode="{_LINEAR_MODES[rank]}")'  # align_corners=False
    if ctm == "align_corners":
        return f'ops.interpolate({x}, size={size}, mode="{_LINEAR_MODES[rank]}", align_corners=True)'
    if ctm == "asymmetric" and rank == 4:
        # ops.interpolate has no asymmetric mode (it differs by up to 0.52); the primitive does.
        return f"{cx.layer('ops.ResizeBilinearV2')}({x}, {size})"
    if matrix_ok:
        return _matrix_resize(cx, x, "linear", ctm, lengths, outs, used)
    return cx.fail(f"linear Resize with coordinate_transformation_mode {ctm!r} on a {rank}-D input has no MindSpore equivalent")


def _coords(ctm: str, length: int, out: int, scale: float) -> np.ndarray:
    """ONNX's x_original for each output position (float64, as the ONNX reference computes it)."""
    x = np.arange(out, dtype=np.float64)
    out_width = scale * length
    if ctm == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if ctm == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out != 1 else np.full(out, -0.5)
    if ctm == "align_corners":
        return np.zeros(out) if out_width == 1 else x * (length - 1) / (out_width - 1)
    if ctm == "asymmetric":
        return x / scale
    if ctm == "half_pixel_symmetric":
        adjustment = out / out_width
        return length / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    raise ValueError(ctm)


def interpolation_matrix(mode: str, ctm: str, length: int, out: int, scale: float, a: float = -0.75,
                         exclude_outside: bool = False) -> np.ndarray:
    """The (out, length) matrix of ONNX's 1-D linear or cubic resize (edge-clamped neighbours)."""
    matrix = np.zeros((out, length), np.float64)
    n = 4 if mode == "cubic" else 2
    for i, xo in enumerate(_coords(ctm, length, out, scale)):
        base = int(np.floor(xo))
        ratio = 1.0 if float(xo).is_integer() else xo - base
        if mode == "cubic":
            r1, r2 = ratio + 1, 2 - ratio
            coeffs = np.array([((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
                               ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
                               ((a + 2) * (1 - ratio) - (a + 3)) * (1 - ratio) * (1 - ratio) + 1,
                               ((a * r2 - 5 * a) * r2 + 8 * a) * r2 - 4 * a])
        else:
            coeffs = np.array([1 - ratio, ratio])
        # The n nearest positions (ties to the lower index), as the ONNX reference picks them.
        first = base - (n // 2 - 1) if ratio != 1.0 else base - n // 2
        idx = np.arange(first, first + n)
        if exclude_outside:
            coeffs = np.where((idx < 0) | (idx >= length), 0.0, coeffs)
            coeffs = coeffs / coeffs.sum()
        for j, c in zip(np.clip(idx, 0, length - 1), coeffs, strict=True):
            matrix[i, j] += c
    return matrix


def _matrix_resize(cx: EmitContext, x: str, mode: str, ctm: str, lengths: list[int], outs: list[int],
                   used: list) -> str:
    """Resize as one matmul per resized axis: rows (W_h @ x) and columns (x @ W_w^T) of an (N, C, H, W) input."""
    if len(lengths) > 2:
        cx.fail(f"{mode} Resize of more than 2 spatial dims is not supported")
    if cx.attr("antialias", 0):
        cx.fail(f"antialiased {mode} Resize is not supported")
    if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"):
        cx.fail(f"coordinate_transformation_mode {ctm!r} is not supported for {mode} resizing")
    a, exclude = float(cx.attr("cubic_coeff_a", -0.75)), bool(cx.attr("exclude_outside", 0))
    dtype = cx.in_type(0).dtype.to_numpy()
    expr = x
    for k, (n, o, s) in enumerate(zip(lengths, outs, used, strict=True)):
        m = interpolation_matrix(mode, ctm, n, o, float(s), a, exclude)
        if np.array_equal(m, np.eye(n)):
            continue
        last = k == len(lengths) - 1
        weight = cx.tensor(m.T.astype(dtype) if last else m.astype(dtype), hint=f"resize_{'cols' if last else 'rows'}")
        expr = f"ops.matmul({expr}, {weight})" if last else f"ops.matmul({weight}, {expr})"
    return expr


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
    ctm = cx.attr("coordinate_transformation_mode", "half_pixel")
    if ctm == "tf_crop_and_resize":
        cx.fail("coordinate_transformation_mode 'tf_crop_and_resize' has no MindSpore equivalent")
    axes = cx.attr("axes")
    policy = cx.attr("keep_aspect_ratio_policy", "stretch")
    if policy != "stretch" and cx.has(3):
        if policy not in ("not_larger", "not_smaller"):
            cx.fail(f"keep_aspect_ratio_policy must be stretch, not_larger or not_smaller, got {policy!r}")
        # One scale for every resized axis: the smallest (not_larger) or largest (not_smaller) sizes / input.
        rank = cx.in_type(0).rank or 0
        listed = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
        dims = cx.in_type(0).dims or ()
        if not all(isinstance(dims[a], int) for a in listed):
            cx.fail("keep_aspect_ratio_policy needs static input dims")
        lengths = cx.tensor(np.array([dims[a] for a in listed], np.float32), hint="resize_lengths")
        reduce = "ops.amin" if policy == "not_larger" else "ops.amax"
        scale = f"{reduce}(ops.cast({cx.arg(3)}, ms.float32) / {lengths})"
        return _runtime_scales_resize(cx, ctm, listed, uniform=scale)
    if cx.has(2) and cx.const(2) is None and not cx.has(3):
        return _runtime_scales_resize(cx, ctm, None if axes is None else list(axes))
    dynamic = _dynamic_resize(cx, ctm, axes)
    if dynamic is not None:
        return dynamic
    sizes = cx.const(3) if cx.has(3) else None
    if cx.has(3) and sizes is None and cx.out_type().is_static and cx.attr("keep_aspect_ratio_policy", "stretch") == "stretch":
        # Run-time sizes: the declared static output shape is the size (ONNX scales = sizes / input).
        sizes, axes = np.array(cx.out_type().shape, np.int64), None
    elif cx.has(3) and sizes is None and _static_spatial_output(cx):
        # Run-time sizes of a dynamic batch (torch's `size=(h, w)`: Concat(Shape(x)[:2], [h, w])): the declared
        # output's spatial dims are the size, its batch and channels are the input's.
        sizes, axes = np.array(cx.out_type().dims[2:], np.int64), list(range(2, cx.out_type().rank))
    else:
        sizes = _known(cx, 3, "sizes")
    return _resize(cx, cx.attr("mode", "nearest"), ctm, cx.attr("nearest_mode", "round_prefer_floor"),
                   _known(cx, 2, "scales") if sizes is None else None, sizes, None if axes is None else list(axes))


def _static_spatial_output(cx: EmitContext) -> bool:
    """Whether the declared output has static spatial dims and the input's batch and channel dims (symbolic or not)."""
    ins, outs = cx.in_type(0).dims, cx.out_type().dims
    return (ins is not None and outs is not None and len(ins) == len(outs) and all(isinstance(d, int) for d in outs[2:])
            and all(equal(a, b) is True for a, b in zip(ins[:2], outs[:2], strict=True)))


def _dynamic_resize(cx: EmitContext, ctm: str, axes: list[int] | None) -> str | None:
    """Resize of spatial dims known only at run time -> ops.interpolate(x, size=(sizes read off tensors)), where exact.

    Applies when the sizes are an `mc.dims` (`x.shape[2] * 2`) or the scales are constant integers of
    symbolic dims; None otherwise (the static mappings apply). The result is exact only where
    MindSpore's in/out coordinate mapping is ONNX's: nearest with asymmetric coordinates and floor
    rounding (torch's `nearest`), and linear with half_pixel or align_corners coordinates.
    """
    dims = cx.in_type(0).dims
    if dims is None or len(dims) not in (3, 4, 5) or all(isinstance(d, int) for d in dims[2:]):
        return None
    rank = len(dims)
    listed = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    v = cx.operand(3) if cx.has(3) else None
    targets: list[str] = [f"{cx.arg(0)}.shape[{a}]" if not isinstance(d, int) else str(d) for a, d in enumerate(dims)]
    if v is not None and v.op is not None and v.op.name == "mc.dims":
        from mindconverter.ir.dims_op import Dims

        entries, exprs = Dims.of(v.op).entries(), cx.shape_operand(3)
        if len(entries) != len(listed):
            cx.fail(f"Resize has {len(entries)} sizes for {len(listed)} axes")
        for axis, d, e in zip(listed, entries, exprs, strict=True):
            if axis < 2 and equal(d, dims[axis]) is not True:
                cx.fail(f"Resize of the batch or channel dim (axis {axis}) is not supported")
            targets[axis] = e
    elif v is None and cx.has(2) and cx.const(2) is not None:
        scales = cx.const(2).astype(np.float64).reshape(-1)
        for axis, scale in zip(listed, scales.tolist(), strict=True):
            if scale == 1:
                continue
            if axis < 2 or scale != int(scale):
                cx.fail(f"Resize by scale {scale} of axis {axis} of {cx.in_type(0)}, whose size is only known at run time: "
                        "only whole-number scales of spatial dims are exact")
            targets[axis] = f"{targets[axis]} * {int(scale)}"
    else:
        return None
    mode, nearest = cx.attr("mode", "nearest"), cx.attr("nearest_mode", "round_prefer_floor")
    size = "(" + ", ".join(targets[2:]) + ("," if rank == 3 else "") + ")"
    x = cx.arg(0)
    if mode == "nearest" and ctm == "asymmetric" and nearest == "floor":
        return f"ops.interpolate({x}, size={size})"
    # pytorch_half_pixel is half_pixel except for an output of length 1, which whole-number scales never make.
    if mode == "linear" and (ctm in ("half_pixel", "align_corners") or ctm == "pytorch_half_pixel" and v is None):
        corners = ", align_corners=True" if ctm == "align_corners" else ""
        return f'ops.interpolate({x}, size={size}, mode="{_LINEAR_MODES[rank]}"{corners})'
    return cx.fail(f"Resize mode {mode!r} with coordinate_transformation_mode {ctm!r} (nearest_mode {nearest!r}) "
                   f"of spatial dims known only at run time has no exact MindSpore equivalent")


_SCALED_RESIZE = '''
class ScaledResize(nn.Cell):
    """ONNX Resize of the last one or two dims by scales known only at run time, to a static output size.

    Per resized axis, the (out, in) interpolation matrix is built from the scale: ONNX's source
    coordinate of each output position, its nearest / 2 linear / 4 cubic neighbours (edge-clamped)
    and their weights; the input is then multiplied by it (rows, then columns). Coordinates are
    computed in float64, like the ONNX reference.
    """

    def __init__(self, mode, ctm, axes, in_sizes, out_sizes, nearest_mode="round_prefer_floor", cubic_a=-0.75,
                 exclude_outside=False):
        super().__init__()
        self.mode, self.ctm, self.axes, self.nearest_mode = mode, ctm, axes, nearest_mode
        self.in_sizes, self.out_sizes, self.a, self.exclude_outside = in_sizes, out_sizes, cubic_a, exclude_outside

    def coords(self, scale, length, out):
        x = ops.arange(0, out, 1, dtype=ms.float64)
        if self.ctm == "asymmetric":
            return x / scale
        if self.ctm == "align_corners":
            width = scale * length
            return x * (length - 1) / ops.maximum(width - 1, 1e-30) * (width != 1)
        if self.ctm == "pytorch_half_pixel" and out == 1:
            return x * 0 - 0.5
        if self.ctm == "tf_half_pixel_for_nn":
            return (x + 0.5) / scale
        if self.ctm == "half_pixel_symmetric":
            offset = length / 2 * (1 - out / (scale * length))
            return offset + (x + 0.5) / scale - 0.5
        return (x + 0.5) / scale - 0.5

    def matrix(self, scale, length, out):
        x = self.coords(scale, length, out)
        if self.mode == "nearest":
            if self.nearest_mode == "floor":
                idx = ops.floor(x)
            elif self.nearest_mode == "ceil":
                idx = ops.ceil(x)
            elif self.nearest_mode == "round_prefer_ceil":
                idx = ops.floor(x + 0.5)
            else:
                idx = ops.ceil(x - 0.5)
            taps, weights = ops.expand_dims(idx, 1), ops.ones((out, 1), ms.float64)
        else:
            base = ops.floor(x)
            r = ops.expand_dims(x - base, 1)
            if self.mode == "linear":
                taps = ops.expand_dims(base, 1) + ms.Tensor([0.0, 1.0], ms.float64)
                weights = ops.concat((1 - r, r), 1)
            else:
                a, r1, r2 = self.a, r + 1, 2 - r
                taps = ops.expand_dims(base, 1) + ms.Tensor([-1.0, 0.0, 1.0, 2.0], ms.float64)
                weights = ops.concat((((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
                                      ((a + 2) * r - (a + 3)) * r * r + 1,
                                      ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                                      ((a * r2 - 5 * a) * r2 + 8 * a) * r2 - 4 * a), 1)
                if self.exclude_outside:
                    weights = weights * ((taps >= 0) & (taps <= length - 1))
                    weights = weights / ops.sum(weights, 1, keepdim=True)
        taps = ops.cast(ops.clamp(taps, 0, length - 1), ms.int64)
        hot = ops.cast(ops.expand_dims(taps, 2) == ops.arange(0, length, 1, dtype=ms.int64), ms.float64)
        return ops.sum(hot * ops.expand_dims(weights, 2), 1)

    def construct(self, x, scales):
        scales = ops.cast(scales, ms.float64)
        for i in range(len(self.axes)):
            m = ops.cast(self.matrix(scales[i], self.in_sizes[i], self.out_sizes[i]), x.dtype)
            if self.axes[i] == x.ndim - 1:
                x = ops.matmul(x, m.T)
            else:
                x = ops.matmul(m, x)
        return x
'''


def _runtime_scales_resize(cx: EmitContext, ctm: str, axes: list[int] | None, uniform: str | None = None) -> str:
    """Resize by run-time scales to the static output shape -> ScaledResize (interpolation matrices built at run time).

    `uniform` is an expression for one scale used on every axis (keep_aspect_ratio_policy), else input 2 gives them.
    """
    mode = cx.attr("mode", "nearest")
    dims, out = cx.in_type(0).dims, cx.out_type()
    if dims is None or not out.is_static or not all(isinstance(d, int) for d in dims):
        cx.fail("Resize scales (input 2) must be a constant, or the input and output shapes static")
    if mode not in ("nearest", "linear", "cubic"):
        cx.fail(f"Resize mode must be nearest, linear or cubic, got {mode!r}")
    if cx.attr("antialias", 0):
        cx.fail("antialiased Resize with run-time scales is not supported")
    rank = len(dims)
    if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
                   "tf_half_pixel_for_nn"):
        cx.fail(f"coordinate_transformation_mode {ctm!r} is not supported")
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    changed = [a for a in axes if dims[a] != out.shape[a]]
    if not set(changed) <= {rank - 2, rank - 1}:
        cx.fail(f"Resize with run-time scales can resize only the last two dims, got output {out} from {cx.in_type(0)}")
    # Every axis in `axes` (not only the changed ones) is resampled: a scale of 1 may still shift.
    resized = [a for a in axes if a >= rank - 2] if len(axes) == rank else axes
    if any(a < rank - 2 for a in resized):
        cx.fail("Resize with run-time scales of a leading dim is not supported")
    positions = [axes.index(a) for a in resized]
    nearest = cx.attr("nearest_mode", "round_prefer_floor")
    if mode == "nearest" and nearest not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        cx.fail(f"nearest_mode must be round_prefer_floor, round_prefer_ceil, floor or ceil, got {nearest!r}")
    kwargs: dict = {}
    if mode == "nearest" and nearest != "round_prefer_floor":
        kwargs["nearest_mode"] = nearest
    if mode == "cubic":
        if cx.attr("cubic_coeff_a", -0.75) != -0.75:
            kwargs["cubic_a"] = float(cx.attr("cubic_coeff_a"))
        if cx.attr("exclude_outside", 0):
            kwargs["exclude_outside"] = True
    cls = cx.support_class("ScaledResize", _SCALED_RESIZE)
    layer = cx.layer(cls, mode, ctm, tuple(resized), tuple(dims[a] for a in resized), tuple(out.shape[a] for a in resized), **kwargs)
    if uniform is not None:
        return f"{layer}({cx.arg(0)}, ops.tile(ops.reshape({uniform}, (1,)), ({len(resized)},)))"
    scales = cx.arg(2)
    if positions != list(range(len(axes)))[-len(positions):] or len(positions) != len(axes):
        scales = f"ops.gather({scales}, {cx.tensor(np.array(positions, np.int64), hint='scale_axes')}, 0)"
    return f"{layer}({cx.arg(0)}, {scales})"


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


_GRID_MODES = {"linear": "bilinear", "bilinear": "bilinear", "nearest": "nearest"}


@emits("onnx.GridSample", since=16)
def grid_sample(op: Op, cx: EmitContext) -> str:
    """onnx.GridSample (linear/nearest, 2-D and 3-D) -> ops.grid_sample(x, grid, mode, padding_mode, align_corners)."""
    mode = cx.attr("mode", "linear" if cx.opset >= 20 else "bilinear")
    if mode not in _GRID_MODES:
        cx.fail(f"GridSample mode {mode!r} has no MindSpore CPU kernel (only linear/bilinear and nearest)")
    padding = cx.attr("padding_mode", "zeros")
    if padding not in ("zeros", "border", "reflection"):
        cx.fail(f"GridSample padding_mode must be zeros, border or reflection, got {padding!r}")
    if cx.in_type(0).rank not in (4, 5):
        cx.fail(f"GridSample needs a 4-D or 5-D input, got {cx.in_type(0)}")
    align = bool(cx.attr("align_corners", 0))
    grid = cx.arg(1)
    if mode == "nearest":
        if padding == "reflection":
            cx.fail("nearest GridSample with reflection padding is not supported (ONNX reflects before rounding)")
        # ONNX rounds source coordinates half to even, MindSpore's kernel does not: snap the grid
        # to the pixel centres ONNX picks (ops.round is half to even), so the kernel reads those.
        dims = cx.in_type(0).dims
        if not all(isinstance(d, int) for d in dims[2:]):
            cx.fail(f"nearest GridSample needs static spatial dims, got {cx.in_type(0)}")
        sizes = np.array(dims[2:][::-1], np.float64)  # grid's last dim is (x, y[, z]) = (W, H[, D])
        half = (sizes - 1) / 2 if align else sizes / 2
        if not np.all(half > 0):
            cx.fail("nearest GridSample with align_corners=1 on a size-1 dim is not supported")
        dtype = cx.in_type(1).dtype.to_numpy()
        a = cx.tensor(half.astype(dtype), hint="grid_half")
        b = cx.tensor(((sizes - 1) / 2).astype(dtype), hint="grid_centre")
        grid = f"(ops.round({grid} * {a} + {b}) - {b}) / {a}"
    return f'ops.grid_sample({cx.arg(0)}, {grid}, "{_GRID_MODES[mode]}", "{padding}", {align})'


@emits("onnx.RoiAlign", since=10)
def roi_align(op: Op, cx: EmitContext) -> str:
    """onnx.RoiAlign (avg, output_half_pixel) -> ops.ROIAlign(h, w, scale, sampling_ratio, roi_end_mode=0)(x, [batch | rois])."""
    if cx.attr("mode", "avg") != "avg":
        cx.fail(f"RoiAlign mode {cx.attr('mode')!r} is not supported (ops.ROIAlign averages)")
    ctm = cx.attr("coordinate_transformation_mode", "half_pixel" if cx.opset >= 16 else "output_half_pixel")
    if ctm != "output_half_pixel":
        # ops.ROIAlign matches only the legacy mode (mindspore-cpu-ops.md, trap 20).
        cx.fail(f"RoiAlign coordinate_transformation_mode {ctm!r} has no MindSpore equivalent (only 'output_half_pixel')")
    ratio = int(cx.attr("sampling_ratio", 0))
    if ratio <= 0:
        cx.fail("RoiAlign with adaptive sampling (sampling_ratio=0) is not supported")
    layer = cx.layer("ops.ROIAlign", int(cx.attr("output_height", 1)), int(cx.attr("output_width", 1)),
                     float(cx.attr("spatial_scale", 1.0)), ratio, roi_end_mode=0)
    dtype = cx.dtype(cx.in_type(1).dtype)
    rois = f"ops.concat((ops.expand_dims(ops.cast({cx.arg(2)}, {dtype}), 1), {cx.arg(1)}), 1)"
    return f"{layer}({cx.arg(0)}, {rois})"
