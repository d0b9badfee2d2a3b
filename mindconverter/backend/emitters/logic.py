"""Comparisons and logic: onnx.Equal, Greater, Less, *OrEqual, And, Or, Xor, Not, Where -> ops.*."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def _register(onnx_op: str, fn: str, since: int) -> None:
    def emitter(op: Op, cx: EmitContext) -> str:
        return f"ops.{fn}({', '.join(cx.args())})"

    emitter.__name__ = onnx_op.lower()
    emitter.__doc__ = f"onnx.{onnx_op} -> ops.{fn}."
    emits(f"onnx.{onnx_op}", since=since)(emitter)


# Opset 7 introduced numpy broadcasting for all of them; later versions only widen the types.
for _op, _fn, _since in [
    ("Equal", "equal", 7), ("Greater", "gt", 7), ("Less", "lt", 7), ("GreaterOrEqual", "ge", 12),
    ("LessOrEqual", "le", 12), ("And", "logical_and", 7), ("Or", "logical_or", 7), ("Xor", "logical_xor", 7),
    ("Not", "logical_not", 1),
]:
    _register(_op, _fn, _since)


@emits("onnx.Where", since=9)
def where(op: Op, cx: EmitContext) -> str:
    """onnx.Where -> ops.where(condition, x, y) (broadcasting)."""
    return f"ops.where({cx.arg(0)}, {cx.arg(1)}, {cx.arg(2)})"
