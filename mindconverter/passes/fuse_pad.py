"""fuse-pad: a zero constant Pad feeding a Conv (or AveragePool) becomes the layer's own padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op
from mindconverter.passes.pattern import Rewriter, fused_loc, register_pattern


@register_pattern("fuse-pad", root=("onnx.Conv", "onnx.AveragePool"))
class FusePad:
    """Replace Conv(Pad(x)) by Conv(x) with the padding added to `pads` (TF/Keras 'ZeroPadding2D' + valid conv).

    1. The Pad must be mode "constant" with value 0 (or none), pad only the spatial dims, by known
       non-negative amounts, and have no other user.
    2. The layer must use explicit pads (auto_pad NOTSET or VALID).
    3. AveragePool fuses only as count_include_pad = 1 (the padded zeros count, as after a Pad).
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
        if len(pad.operands) > 2 and pad.operands[2] is not None:
            value = rw.known(pad.operands[2])
            if value is None or np.any(value != 0):
                return "the Pad value is not 0"
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
