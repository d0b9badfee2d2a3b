"""Regularization: onnx.Dropout -> nn.Dropout(p=ratio), identity in eval mode and a real dropout in training."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def _dropout(op: Op, cx: EmitContext, ratio: float) -> str | tuple[str, str]:
    if len(op.results) > 1 and cx.result_used(1):
        cx.fail("the mask output of Dropout is used; nn.Dropout does not return its mask")
    if not 0.0 <= ratio < 1.0:
        cx.fail(f"Dropout ratio must be in [0, 1), got {ratio}")
    x = cx.arg(0)
    expr = f"{cx.layer('nn.Dropout', p=ratio)}({x})"
    if len(op.results) > 1:
        return expr, f"ops.ones_like({x}, dtype=ms.bool_)"  # the (unused) inference-mode mask
    return expr


@emits("onnx.Dropout", since=12)
def dropout(op: Op, cx: EmitContext) -> str | tuple[str, str]:
    """onnx.Dropout (opset >= 12: ratio and training_mode as inputs) -> nn.Dropout(p=ratio)."""
    ratio = 0.5
    if cx.has(1):
        value = cx.const(1)
        if value is None or value.size != 1:
            cx.fail("Dropout's ratio must be a constant, but it is computed at run time")
        ratio = cx.number(value.reshape(-1)[0], value.dtype)
    if cx.has(2):
        mode = cx.const(2)
        if mode is None or bool(mode.reshape(-1)[0]):
            # The exported graph drops at random (or decides at run time); the Cell only drops in training.
            cx.fail("Dropout with training_mode=True (or computed at run time) has no deterministic inference form")
    return _dropout(op, cx, ratio)


@emits("onnx.Dropout", since=7, until=11)
def dropout_attr(op: Op, cx: EmitContext) -> str | tuple[str, str]:
    """onnx.Dropout (opset 7-11: ratio attribute, inference only) -> nn.Dropout(p=ratio)."""
    return _dropout(op, cx, cx.attr("ratio", 0.5))
