"""Signal windows: onnx.HannWindow, HammingWindow, BlackmanWindow -> cosine formulas over ops.arange(size).

The window is computed in float64 (the length may only be known at run time) and cast to
`output_datatype`; periodic windows divide by N, symmetric ones by N - 1.
"""

from __future__ import annotations

import math

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def _window(cx: EmitContext, formula: str) -> str:
    size = cx.arg(0)
    n = f"ops.cast(ops.arange({size}), ms.float64)"
    length = f"ops.cast({size}, ms.float64)" + ("" if cx.attr("periodic", 1) else " - 1")
    angle = f"{n} * {cx.lit(2 * math.pi)} / ({length})"
    return f"ops.cast({formula.format(angle=angle)}, {cx.dtype(cx.out_type().dtype)})"


@emits("onnx.HannWindow", since=17)
def hann_window(op: Op, cx: EmitContext) -> str:
    """onnx.HannWindow -> 0.5 - 0.5 * cos(2 pi n / N) (= sin(pi n / N) ** 2)."""
    return _window(cx, "0.5 - 0.5 * ops.cos({angle})")


@emits("onnx.HammingWindow", since=17)
def hamming_window(op: Op, cx: EmitContext) -> str:
    """onnx.HammingWindow -> 25/46 - 21/46 * cos(2 pi n / N)."""
    return _window(cx, f"{cx.lit(25 / 46)} - {cx.lit(21 / 46)} * ops.cos({{angle}})")


@emits("onnx.BlackmanWindow", since=17)
def blackman_window(op: Op, cx: EmitContext) -> str:
    """onnx.BlackmanWindow -> 0.42 - 0.5 * cos(2 pi n / N) + 0.08 * cos(4 pi n / N)."""
    return _window(cx, "0.42 - 0.5 * ops.cos({angle}) + 0.08 * ops.cos(2 * {angle})")
