"""Detection and folding: onnx.NonMaxSuppression -> NonMaxSuppression (a Cell in the script),
onnx.Col2Im -> ops.tensor_scatter_elements(..., "add") over static block positions, onnx.Unique -> Unique (a Cell).

NonMaxSuppression and Unique have data-dependent output sizes. Their Cells do every step on
fixed-size tensors (an unrolled loop over the static box count, masks instead of branches) and
only the last step, `ops.nonzero` of the kept mask, has a data-dependent size; MindSpore 2.10 runs
that on CPU in both PYNATIVE and GRAPH mode.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import Code, EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType

_NON_MAX_SUPPRESSION = '''
class NonMaxSuppression(nn.Cell):
    """ONNX NonMaxSuppression: greedy selection per (batch, class), in descending score order.

    Written out because ops.NMSWithMask does not follow ONNX (it keeps other boxes on unsorted
    input). Step k of the loop (one per box, unrolled over the static box count) takes the box of
    rank k in score order (ties: lower index first) and keeps it when its score is above
    score_threshold, fewer than max_boxes boxes of its class are kept, and its IoU with every kept
    box is at most iou_threshold. The limits are numbers or 0-d tensors. Returns int64 rows
    (batch, class, box) ordered like ONNX. GRAPH mode unrolls the loop, so compile time grows with
    the box count (the pairwise IoU is batch x boxes x boxes).
    """

    def __init__(self, center_point_box=0):
        super().__init__()
        self.center_point_box = center_point_box

    def corners(self, boxes):
        """(top, left, bottom, right), each (batch, boxes)."""
        if self.center_point_box:
            x, y, half_w, half_h = boxes[:, :, 0], boxes[:, :, 1], boxes[:, :, 2] / 2, boxes[:, :, 3] / 2
            return y - half_h, x - half_w, y + half_h, x + half_w
        y1, x1, y2, x2 = boxes[:, :, 0], boxes[:, :, 1], boxes[:, :, 2], boxes[:, :, 3]
        return ops.minimum(y1, y2), ops.minimum(x1, x2), ops.maximum(y1, y2), ops.maximum(x1, x2)

    def construct(self, boxes, scores, max_boxes=0, iou_threshold=0.0, score_threshold=None):
        batch, classes, n = scores.shape
        top, left, bottom, right = self.corners(boxes)
        area = (bottom - top) * (right - left)
        height = ops.minimum(bottom[:, :, None], bottom[:, None, :]) - ops.maximum(top[:, :, None], top[:, None, :])
        width = ops.minimum(right[:, :, None], right[:, None, :]) - ops.maximum(left[:, :, None], left[:, None, :])
        inter = ops.relu(height) * ops.relu(width)
        union = area[:, :, None] + area[:, None, :] - inter
        valid = (area[:, :, None] > 0) & (area[:, None, :] > 0) & (inter > 0) & (union > 0)
        iou = ops.where(valid, inter / ops.where(valid, union, ops.ones_like(union)), ops.zeros_like(union))
        # overlaps[b*classes + c, i, j]: box i of batch b suppresses box j (as 0/1 floats)
        overlaps = ops.cast(iou > iou_threshold, ms.float32)
        overlaps = ops.broadcast_to(overlaps[:, None], (batch, classes, n, n)).reshape(batch * classes, n, n)
        s = scores.reshape(batch * classes, n)
        index = ops.arange(n)
        ahead = (s[:, None, :] > s[:, :, None]) | ((s[:, None, :] == s[:, :, None]) & (index[None, :] < index[:, None]))
        rank = ops.cast(ahead, ms.int32).sum(-1)  # rank[bc, i]: how many boxes come before box i
        if score_threshold is None:
            candidate = ops.ones_like(s)
        else:
            candidate = ops.cast(s > score_threshold, ms.float32)
        kept = ops.zeros_like(s)  # 1 where the box is kept, by box index
        count = ops.zeros((batch * classes,), ms.int32)
        kept_steps, box_steps = [], []
        for k in range(n):
            pick = ops.cast(rank == k, ms.float32)  # one-hot: the box of rank k
            box = (pick * ops.cast(index, ms.float32)).sum(-1)
            suppressed = (ops.bmm(pick[:, None, :], overlaps)[:, 0] * kept).sum(-1) > 0
            keep = ((pick * candidate).sum(-1) > 0) & ~suppressed & (count < max_boxes)
            kept = kept + pick * ops.cast(keep, ms.float32)[:, None]
            count = count + ops.cast(keep, ms.int32)
            kept_steps.append(keep)
            box_steps.append(box)
        where = ops.nonzero(ops.stack(kept_steps, 1))  # (bc, step) of every kept box, in ONNX order
        selected = ops.cast(ops.gather_nd(ops.stack(box_steps, 1), where), ms.int64)
        bc = where[:, 0]
        return ops.stack((bc // classes, bc % classes, selected), 1)
'''


def _limit(cx: EmitContext, i: int, cast: str, dtype: str) -> str | None:
    """Optional input i as a literal number, or a 0-d tensor expression when it is computed at run time."""
    if not cx.has(i):
        return None
    value = cx.const(i)
    if value is None:
        return f"ops.cast({cx.arg(i)}.reshape(()), {cast})"
    if value.size != 1:
        cx.fail(f"NonMaxSuppression input {i} must hold one number, got shape {value.shape}")
    return cx.lit(cx.number(value.reshape(-1)[0], dtype))


@emits("onnx.NonMaxSuppression", since=10)
def non_max_suppression(op: Op, cx: EmitContext) -> str:
    """onnx.NonMaxSuppression -> NonMaxSuppression (a Cell in the script: masked greedy loop over the static box count)."""
    boxes, scores = cx.in_shape(0), cx.in_shape(1)
    if len(boxes) != 3 or len(scores) != 3 or boxes[2] != 4 or boxes[:2] != (scores[0], scores[2]):
        cx.fail(f"NonMaxSuppression needs boxes (B, N, 4) and scores (B, C, N), got {boxes} and {scores}")
    limits = [_limit(cx, 2, "ms.int32", "int64"), _limit(cx, 3, "ms.float32", "float32"), _limit(cx, 4, "ms.float32", "float32")]
    while limits and limits[-1] is None:
        limits.pop()
    defaults = ["0", "0.0", "None"]
    limits = [v if v is not None else defaults[i] for i, v in enumerate(limits)]
    x, s = cx.arg(0), cx.arg(1)
    if cx.in_type(0).dtype.to_numpy() != np.float32:
        x, s = f"ops.cast({x}, ms.float32)", f"ops.cast({s}, ms.float32)"
    kwargs = {"center_point_box": 1} if cx.attr("center_point_box", 0) else {}
    layer = cx.layer(cx.support_class("NonMaxSuppression", _NON_MAX_SUPPRESSION), hint="nms", **kwargs)
    return f"{layer}({', '.join([x, s, *limits])})"


_COL2IM = '''
class Col2Im(nn.Cell):
    """ONNX Col2Im whose block_shape is only known at run time: columns added back into the image.

    Each entry (block element k, column l) goes to position l_pos * stride + k_pos * dilation of the
    padded image in every dimension (k and l unravelled by the block shape and the block counts);
    entries landing on the same pixel are summed, then the padding is sliced off.
    """

    def __init__(self, image_shape, channels, dilations, pads, strides):
        super().__init__()
        self.image, self.channels = image_shape, channels
        self.dilations, self.pads, self.strides = dilations, pads, strides
        dims = len(image_shape)
        self.padded = [image_shape[d] + pads[d] + pads[d + dims] for d in range(dims)]

    def construct(self, x, block_shape):
        n, ck, length = x.shape
        k = ck // self.channels
        block = ops.cast(block_shape, ms.int64)
        k_rest, l_rest = ops.arange(k).reshape(k, 1), ops.arange(length).reshape(1, length)
        index, step, size = 0, 1, 1
        for d in range(len(self.image) - 1, -1, -1):
            blocks = (self.padded[d] - self.dilations[d] * (block[d] - 1) - 1) // self.strides[d] + 1
            position = (l_rest % blocks) * self.strides[d] + (k_rest % block[d]) * self.dilations[d]
            index = index + position * step
            k_rest, l_rest = k_rest // block[d], l_rest // blocks
            step, size = step * self.padded[d], size * self.padded[d]
        index = ops.broadcast_to(index.reshape(1, 1, k * length), (n, self.channels, k * length))
        zeros = ops.zeros((n, self.channels, size), x.dtype)
        out = ops.tensor_scatter_elements(zeros, index, x.reshape(n, self.channels, k * length), 2, "add")
        out = out.reshape((n, self.channels) + tuple(self.padded))
        dims = len(self.image)
        if dims == 1:
            return out[:, :, self.pads[0]:self.pads[0] + self.image[0]]
        if dims == 2:
            return out[:, :, self.pads[0]:self.pads[0] + self.image[0], self.pads[1]:self.pads[1] + self.image[1]]
        return out[:, :, self.pads[0]:self.pads[0] + self.image[0], self.pads[1]:self.pads[1] + self.image[1],
                   self.pads[2]:self.pads[2] + self.image[2]]
'''


@emits("onnx.Col2Im", since=18)
def col2im(op: Op, cx: EmitContext) -> str:
    """onnx.Col2Im -> ops.tensor_scatter_elements(zeros, index, columns, 2, "add") at static positions (Col2Im Cell: computed blocks).

    Each column entry is added at its position in the padded image, then the padding is sliced off.
    When block_shape is computed at run time, the Col2Im Cell computes the positions with tensor ops.
    """
    n, ck, length = cx.in_shape(0)
    if cx.const(1) is not None:
        image = [int(v) for v in np.reshape(cx.const(1), -1)]
    else:
        image = list(cx.out_shape()[2:])  # image_shape computed at run time: the declared output shape has it
    dims = len(image)
    dilations = list(cx.attr("dilations", [1] * dims))
    strides = list(cx.attr("strides", [1] * dims))
    pads = list(cx.attr("pads", [0] * 2 * dims))
    padded = [image[d] + pads[d] + pads[d + dims] for d in range(dims)]
    if cx.const(2) is None:
        channels = cx.out_shape()[1]  # K = prod(block_shape) is unknown: the channel count must be declared
        if dims > 3:
            cx.fail("Col2Im with a computed block_shape supports 1 to 3 image dimensions")
        cls = cx.support_class("Col2Im", _COL2IM)
        layer = cx.layer(cls, image, channels, dilations, pads, strides, hint="col2im")
        return f"{layer}({cx.arg(0)}, {cx.arg(2)})"
    block = [int(v) for v in np.reshape(cx.const(2), -1)]
    k = int(np.prod(block))
    if len(block) != dims or ck % k:
        cx.fail(f"Col2Im block_shape {block} does not fit image_shape {image} and input {cx.in_shape(0)}")
    blocks = [(padded[d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(dims)]
    if int(np.prod(blocks)) != length:
        cx.fail(f"Col2Im input has {length} columns, the attributes give {blocks}")
    # position[d] of entry (block element, column) = column_pos[d] * stride + block_pos[d] * dilation
    kpos = np.indices(block).reshape(dims, k, 1)
    lpos = np.indices(blocks).reshape(dims, 1, length)
    pos = [lpos[d] * strides[d] + kpos[d] * dilations[d] for d in range(dims)]
    index = np.ravel_multi_index(pos, padded).reshape(1, 1, k * length).astype(np.int64)
    c = ck // k
    dtype = cx.dtype(cx.in_type(0).dtype)
    idx = f"ops.broadcast_to({cx.tensor(index, hint='col2im_index')}, ({n}, {c}, {k * length}))"
    cols = f"{cx.arg(0)}.reshape({n}, {c}, {k * length})"
    summed = f"ops.tensor_scatter_elements(ops.zeros(({n}, {c}, {int(np.prod(padded))}), {dtype}), {idx}, {cols}, 2, \"add\")"
    out = f"{summed}.reshape({cx.lit((n, c, *padded))})"
    if any(pads):
        out += "[:, :, " + ", ".join(f"{pads[d]}:{pads[d] + image[d]}" for d in range(dims)) + "]"
    return out


_UNIQUE = '''
class Unique(nn.Cell):
    """ONNX Unique: the distinct elements (or slices along `axis`), returning (y, indices, inverse_indices, counts).

    Written out because ops.unique has no axis, no counts and no first-occurrence indices. Every
    element is compared with every other (n x n masks, n the static element count): its group's
    first occurrence, its group size, and its rank among the groups (sorted: by value, slices
    compared lexicographically; else by first occurrence). Only the final gather of the first
    occurrences has a data-dependent size.
    """

    def __init__(self, axis=None, sorted=True, perm=None, compare_as=None):
        super().__init__()
        self.axis, self.sorted, self.perm = axis, sorted, perm
        self.compare_as = compare_as  # a dtype with CPU comparison and gather kernels (for bfloat16)

    def construct(self, x):
        if self.axis is None:
            rows = x.reshape(-1, 1)
        else:
            rows = ops.transpose(x, self.perm)  # the unique axis first
            rows = rows.reshape(rows.shape[0], -1)
        if self.compare_as is not None:
            rows = ops.cast(rows, self.compare_as)
        n = rows.shape[0]
        index = ops.arange(n)
        differ = rows[None, :, :] != rows[:, None, :]  # [i, j, k]: rows i and j differ at k
        same = ~differ.any(-1)
        first_of = ops.argmax(ops.cast(same, ms.int32), -1)  # the first row equal to row i
        is_first = first_of == index
        if self.sorted:
            where_differ = ops.argmax(ops.cast(differ, ms.int32), -1)  # first k where rows i and j differ
            less = ops.cast(rows[None, :, :] < rows[:, None, :], ms.int32)
            before = ops.gather_elements(less, 2, where_differ[:, :, None])[:, :, 0] > 0  # row j sorts before row i
        else:
            before = first_of[None, :] < first_of[:, None]
        inverse = ops.cast(before & is_first[None, :], ms.int64).sum(-1)  # rank of row i's group
        slots = ops.cast((inverse[None, :] == index[:, None]) & is_first[None, :], ms.int64)  # [group, row]
        first_index = (slots * index[None, :]).sum(-1)
        groups = ops.cast(is_first, ms.int64).sum()
        indices = ops.gather(first_index, ops.nonzero(index < groups).reshape(-1), 0)
        counts = ops.gather(ops.cast(same, ms.int64).sum(-1), indices, 0)
        source = x if self.compare_as is None else ops.cast(x, self.compare_as)
        y = ops.gather(source.reshape(-1), indices, 0) if self.axis is None else ops.gather(source, indices, self.axis)
        return ops.cast(y, x.dtype), indices, inverse, counts
'''


@emits("onnx.Unique", since=11)
def unique(op: Op, cx: EmitContext) -> str:
    """onnx.Unique -> Unique (a Cell in the script: pairwise comparison masks over the static element count)."""
    shape = cx.in_shape(0)
    kwargs: dict = {}
    axis = cx.attr("axis")
    if axis is not None:
        axis = axis + len(shape) if axis < 0 else axis
        kwargs["axis"] = axis
        kwargs["perm"] = tuple([axis] + [d for d in range(len(shape)) if d != axis])
    if not cx.attr("sorted", 1):
        kwargs["sorted"] = False
    if cx.in_type(0).dtype == DType.BF16:
        kwargs["compare_as"] = Code("ms.float32")  # no bfloat16 comparison kernels on CPU
    x = cx.arg(0)
    layer = cx.layer(cx.support_class("Unique", _UNIQUE), hint="unique", **kwargs)
    count = len(op.results)
    return f"{layer}({x})" + ("[0]" if count == 1 else "" if count == 4 else f"[:{count}]")
