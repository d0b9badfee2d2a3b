"""fuse-pad: a constant Pad feeding a Conv, AveragePool or MaxPool becomes the layer's own padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern

#: Ops whose results are never negative: zero padding cannot win a max over them.
_NON_NEGATIVE = ("onnx.Relu", "onnx.Sigmoid", "onnx.Softmax", "onnx.Abs", "onnx.Exp", "onnx.Softplus", "onnx.HardSigmoid")


@register_pattern("fuse-pad", root=("onnx.Conv", "onnx.AveragePool", "onnx.MaxPool"))
class FusePad:
    """Replace Conv(Pad(x)) by Conv(x) with the padding added to `pads` (TF/Keras 'ZeroPadding2D' + valid conv).

    1. The Pad must be mode "constant", pad only the spatial dims, by known non-negative amounts,
       and have no other user.
    2. The layer must use explicit pads (auto_pad NOTSET or VALID).
    3. Conv and AveragePool need the value 0 (or none); AveragePool fuses only as
       count_include_pad = 1 (the padded zeros count, as after a Pad).
    4. MaxPool pads with -inf itself: a -inf Pad always fuses; a zero Pad fuses when x is never
       negative (a Relu, Sigmoid, ... makes it) and every window keeps an input value (pads smaller
       than the kernel, no dilation, no ceil_mode), so the zeros never win the max (Keras ResNet's
       ZeroPadding2D + MaxPooling2D after a ReLU).
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        pad = rw.producer(op.operands[0], "onnx.Pad")
        if pad is None:
            return "the input is not a Pad"
        if rw.only_user(pad.result) is not op:
            return "the Pad result has other users"
        if pad.attr("mode", "constant") != "constant":
            return f"Pad mode is {pad.attr('mode')!r}, not 'constant'"
        if len(pad.operands) > 3 and pad.operands[3] is not None:
            return "the Pad has axes"
        value = 0.0
        if len(pad.operands) > 2 and pad.operands[2] is not None:
            known = rw.known(pad.operands[2])
            if known is None or known.size != 1:
                return "the Pad value is computed at run time"
            value = float(known.reshape(-1)[0])
        if op.name != "onnx.MaxPool" and value != 0:
            return "the Pad value is not 0"
        if op.name == "onnx.MaxPool" and value != -np.inf:
            if value != 0:
                return "the Pad value is neither 0 nor -inf"
            source = pad.operands[0].op
            if source is None or source.name not in _NON_NEGATIVE:
                return "zero padding changes a max pool of values that may be negative"
        pads = rw.known(pad.operands[1])
        if pads is None:
            return "the pads are computed at run time"
        pads = [int(p) for p in pads.reshape(-1)]
        rank = len(pads) // 2
        begins, ends = pads[:rank], pads[rank:]
        if any(p < 0 for p in pads):
            return "the Pad crops"
        if any(begins[:2]) or any(ends[:2]):
            return "the Pad pads the batch or channel dim"
        if op.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            return f"auto_pad is {op.attr('auto_pad')!r}"
        if op.name == "onnx.AveragePool" and not op.attr("count_include_pad", 0):
            if any(p for p in op.attr("pads", [])):
                return "the AveragePool pads itself without counting the padding"
        n = rank - 2
        if op.name == "onnx.MaxPool" and value == 0:
            kernel = op.attr("kernel_shape", [])
            if any(p >= k for p, k in zip(begins[2:] + ends[2:], kernel + kernel, strict=True)):
                return "a pool window would hold only padding"
            if any(d != 1 for d in op.attr("dilations", [1] * n)) or op.attr("ceil_mode", 0):
                return "the MaxPool is dilated or uses ceil_mode"
        own = list(op.attr("pads", [0] * (2 * n))) if op.attr("auto_pad", "NOTSET") == "NOTSET" else [0] * (2 * n)
        merged = [a + b for a, b in zip(own, begins[2:] + ends[2:], strict=True)]
        m.update(pad=pad, x=pad.operands[0], pads=merged)
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        attrs = dict(op.attrs)
        attrs.pop("auto_pad", None)
        attrs["pads"] = m["pads"]
        if op.name == "onnx.AveragePool":
            attrs["count_include_pad"] = 1
        new = rw.builder(op).create(op.name, [m["x"], *op.operands[1:]], [r.type for r in op.results], attrs,
                                    fused_loc(m["pad"], op))
        for old, r in zip(op.results, new.results, strict=True):
            r.name = old.name
        rw.replace(op, new.results, matched=[m["pad"]])
