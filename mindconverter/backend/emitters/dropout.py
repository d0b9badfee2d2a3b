"""Regularization: onnx.Dropout -> nn.Dropout(p=ratio), identity in eval mode and a real dropout in training.

In inference (training_mode absent or a constant false) Dropout is the identity whatever the ratio, so a
ratio computed at run time gives the input itself, and a used mask output is all True.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def _dropout(op: Op, cx: EmitContext, ratio: float | None) -> str | tuple[str, str]:
    x = cx.arg(0)
    if ratio is not None and 0.0 <= ratio < 1.0:
        expr = f"{cx.layer('nn.Dropout', p=ratio)}({x})"
    else:
        expr = x  # the inference-mode identity; the ratio is only known at run time
    if len(op.results) > 1:
        return expr, f"ops.ones_like({x}, dtype=ms.bool_)"  # the inference-mode mask keeps everything
    return expr


@emits("onnx.Dropout", since=12)
def dropout(op: Op, cx: EmitContext) -> str | tuple[str, str]:
    """onnx.Dropout (opset >= 12: ratio and training_mode as inputs) -> nn.Dropout(p=ratio), or the input itself."""
    if cx.has(2):
        mode = cx.const(2)
        if mode is None or bool(mode.reshape(-1)[0]):
            # The exported graph drops at random (or decides at run time); the Cell only drops in training.
            cx.fail("Dropout with training_mode=True (or computed at run time) has no deterministic inference form")
    ratio: float | None = 0.5
    if cx.has(1):
        value = cx.const(1)
        ratio = None if value is None or value.size != 1 else cx.number(value.reshape(-1)[0], value.dtype)
    return _dropout(op, cx, ratio)


@emits("onnx.Dropout", since=7, until=11)
def dropout_attr(op: Op, cx: EmitContext) -> str | tuple[str, str]:
    """onnx.Dropout (opset 7-11: ratio attribute, inference only) -> nn.Dropout(p=ratio)."""
    return _dropout(op, cx, cx.attr("ratio", 0.5))
