"""Bit reinterpretation: onnx.BitCast between integer types of one width -> ops.cast (which wraps)."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


@emits("onnx.BitCast", since=26)
def bit_cast(op: Op, cx: EmitContext) -> str:
    """onnx.BitCast between same-width integer/bool types -> ops.cast(x, to).

    Converting between integer types of one width keeps the bits (two's complement wrap-around),
    which MindSpore's CPU Cast does, as does bool -> uint8. Float <-> integer reinterpretation has no
    MindSpore op that runs in GRAPH mode (Tensor.view(dtype) works only in PYNATIVE).
    """
    src, dst = cx.in_type(0).dtype, cx.out_type(0).dtype
    if src.is_float or dst.is_float:
        cx.fail(f"BitCast {src.value} -> {dst.value} reinterprets float bits, which no MindSpore CPU op does in GRAPH mode")
    if src.to_numpy().itemsize != dst.to_numpy().itemsize:
        cx.fail(f"BitCast needs types of one width, got {src.value} -> {dst.value}")
    if src == dst:
        return cx.arg(0)
    if dst == DType.BOOL:
        cx.fail("BitCast to bool is only defined for 0/1 bytes; MindSpore's Cast maps every non-zero byte to True")
    return f"ops.cast({cx.arg(0)}, {cx.dtype(dst)})"
