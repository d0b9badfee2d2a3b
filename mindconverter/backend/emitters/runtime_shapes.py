"""Tensor ops whose shape-like operands are known only at run time: Slice and Pad by data tensors or by sizes read off tensors.

Data starts/axes/steps or pads (graph inputs) reach a static output shape through one ops.gather
per axis (RuntimeSlice, RuntimePad: support Cells written into the script); widths that are sizes
of tensors (`x.shape[1] % 4`) are plain Python ints for ops.pad.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext

PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _normalise(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


_RUNTIME_SLICE = '''
class RuntimeSlice(nn.Cell):
    """ONNX Slice whose starts/axes/steps are data known only at run time, to a static output shape: one ops.gather per axis.

    Output position j of an axis reads start + j * step, with start wrapped and clamped as ONNX does;
    an axis the slice does not name has start 0 and step 1. The static output sizes make the ends
    redundant.
    """

    def __init__(self, sizes, lengths):
        super().__init__()
        self.sizes, self.lengths = sizes, lengths

    def construct(self, x, starts, axes=None, steps=None):
        rank = len(self.sizes)
        starts = ops.cast(starts, ms.int64)
        axes = ops.arange(starts.shape[0], dtype=ms.int64) if axes is None else ops.cast(axes, ms.int64)
        axes = ops.where(axes < 0, axes + rank, axes)
        steps = ops.ones_like(starts) if steps is None else ops.cast(steps, ms.int64)
        for d in range(rank):
            size = self.sizes[d]
            hit = ops.cast(axes == d, ms.int64)
            step = (steps * hit).sum() + 1 - hit.sum()
            start = (starts * hit).sum()
            start = ops.where(start < 0, start + size, start)
            start = ops.where(step > 0, ops.clamp(start, 0, size), ops.clamp(start, 0, size - 1))
            x = ops.gather(x, start + ops.arange(0, self.lengths[d], 1, dtype=ms.int64) * step, d)
        return x
'''


def runtime_slice(cx: EmitContext) -> str:
    """Slice by data starts/axes/steps to the static output shape -> RuntimeSlice (a gather per axis, written into the script)."""
    dims, out = cx.in_type(0).dims, cx.out_type()
    if dims is None or not out.is_static or not all(isinstance(d, int) for d in dims):
        cx.fail("Slice starts/ends/axes/steps computed at run time need static input and output shapes")
    if 0 in out.shape:  # no values to pick: any slice of the output's shape will do
        items = ["0:0" if o == 0 else ":" if o == d else f":{o}" for o, d in zip(out.shape, dims, strict=True)]
        return f"{cx.arg(0)}[{', '.join(items)}]"
    cls = cx.support_class("RuntimeSlice", _RUNTIME_SLICE)
    layer = cx.layer(cls, tuple(dims), tuple(out.shape))
    args = [cx.arg(0), cx.arg(1)]
    if cx.has(3):
        args.append(cx.arg(3))
    if cx.has(4):
        args.append(cx.arg(4) if cx.has(3) else f"steps={cx.arg(4)}")
    return f"{layer}({', '.join(args)})"


def sized_pad(cx: EmitContext, mode: str, rank: int, pads: list[str]) -> str:
    """Pad by widths some of which are sizes read off tensors -> ops.pad(x, (w_last_begin, w_last_end, ...), ...)."""
    if cx.has(3) and cx.shape_operand(3) is None:
        cx.fail("Pad axes (input 3) must be a constant")
    axes = [int(a) for a in cx.shape_operand(3)] if cx.has(3) else list(range(rank))
    axes = [_normalise(a, rank) for a in axes]
    begins, ends = ["0"] * rank, ["0"] * rank
    for i, axis in enumerate(axes):
        begins[axis], ends[axis] = pads[i], pads[i + len(axes)]
    padded = [d for d in range(rank) if begins[d] != "0" or ends[d] != "0"]
    count = rank - padded[0]
    if mode != "constant":
        if count > rank - 1 or count > 3:
            cx.fail(f"Pad mode {mode!r} can pad at most the last 3 dims of a tensor and never dim 0, got pads {pads}")
        count = max(count, rank - 2)
    padding = [v for d in reversed(range(rank - count, rank)) for v in (begins[d], ends[d])]
    return pad_call(cx, "(" + ", ".join(padding) + ")", mode)


def pad_call(cx: EmitContext, padding: str, mode: str) -> str:
    """`ops.pad(x, padding[, mode][, value=])` for an onnx.Pad: the mode when not constant, the fill when not 0."""
    args = [cx.arg(0), padding]
    if mode != "constant":
        args.append(cx.lit(PAD_MODES[mode]))
    elif cx.has(2):
        value = cx.const(2)
        if value is None:
            cx.fail("Pad's constant_value must be a constant, but it is computed at run time")
        if value.size and value.reshape(-1)[0] != 0:
            args.append(f"value={cx.lit(cx.number(value.reshape(-1)[0], value.dtype))}")
    return f"ops.pad({', '.join(args)})"


_RUNTIME_PAD = '''
class RuntimePad(nn.Cell):
    """ONNX Pad whose pads are known only at run time, to a static output shape: one ops.gather per axis.

    Output position j of an axis reads input j - begin in the input cropped by the negative pads:
    clamped (edge), reflected (reflect) or wrapped (wrap); in constant mode positions outside the
    input take the constant value.
    """

    def __init__(self, mode, axes, sizes, lengths, mask_shapes):
        super().__init__()
        self.mode, self.axes, self.sizes, self.lengths, self.mask_shapes = mode, axes, sizes, lengths, mask_shapes

    def construct(self, x, pads, value=None, axes=None):
        n = len(self.axes)
        if axes is not None:  # pads of the run-time `axes` only: spread them over every axis
            axes = ops.cast(axes, ms.int64)
            axes = ops.where(axes < 0, axes + n, axes)
            m = axes.shape[0]
            begins, ends = [], []
            for k in range(n):
                hit = ops.cast(axes == k, pads.dtype)
                begins.append((pads[:m] * hit).sum())
                ends.append((pads[m:] * hit).sum())
            pads = ops.stack(begins + ends)
        keep = None
        for k in range(n):
            size, begin, end = self.sizes[k], pads[k], pads[k + n]
            j = ops.arange(0, self.lengths[k], 1, dtype=ms.int64)
            if self.mode == "constant":
                src = j - begin
                inside = ops.reshape((src >= 0) & (src < size), self.mask_shapes[k])
                keep = inside if keep is None else keep & inside
                idx = ops.clamp(src, 0, size - 1)
            else:
                low = ops.maximum(-begin, 0)
                count = size - low - ops.maximum(-end, 0)
                pos = j - ops.maximum(begin, 0)
                if self.mode == "edge":
                    idx = low + ops.minimum(ops.maximum(pos, 0), count - 1)
                elif self.mode == "wrap":
                    idx = low + ops.floor_mod(pos, count)
                else:
                    idx = low + (count - 1 - ops.abs(count - 1 - ops.abs(pos)))
            x = ops.gather(x, idx, self.axes[k])
        if keep is not None:
            fill = ops.zeros_like(x) if value is None else ops.cast(value, x.dtype)
            x = ops.where(keep, x, fill)
        return x
'''


def runtime_pad(cx: EmitContext, mode: str, rank: int) -> str:
    """Pad by run-time pads to the static output shape -> RuntimePad (a gather per axis, written into the script)."""
    dims, out = cx.in_type(0).dims, cx.out_type()
    if dims is None or not out.is_static or not all(isinstance(d, int) for d in dims):
        cx.fail("pads (input 1) must be a constant, or the input and output shapes static")
    runtime_axes = cx.has(3) and cx.const(3) is None
    axes = [int(a) for a in cx.const(3).reshape(-1)] if cx.has(3) and not runtime_axes else list(range(rank))
    axes = [_normalise(a, rank) for a in axes]
    masks = tuple(tuple(out.shape[a] if d == a else 1 for d in range(rank)) for a in axes)
    cls = cx.support_class("RuntimePad", _RUNTIME_PAD)
    layer = cx.layer(cls, mode, tuple(axes), tuple(dims[a] for a in axes), tuple(out.shape[a] for a in axes), masks)
    value = f", {cx.arg(2)}" if cx.has(2) and mode == "constant" else ""
    if runtime_axes:
        value += f", axes={cx.arg(3)}"
    return f"{layer}({cx.arg(0)}, {cx.arg(1)}{value})"
