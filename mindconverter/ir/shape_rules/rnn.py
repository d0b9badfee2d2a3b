"""Shape rules of recurrent layers: RNN, GRU, LSTM."""

from __future__ import annotations

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, shape_rule
from mindconverter.ir.types import UNKNOWN, TensorType


@shape_rule("onnx.RNN", "onnx.GRU", "onnx.LSTM")
def recurrent(op: Op, cx: ShapeContext) -> Results:
    """Y (seq, dirs, batch, hidden), Y_h and Y_c (dirs, batch, hidden); batch first with layout=1."""
    x = cx.type(0)
    dirs = 2 if op.attr("direction", "forward") == "bidirectional" else 1
    hidden = op.attr("hidden_size")
    if hidden is None:
        w = cx.type(1)
        gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op.op_type]
        hidden = w.dims[1] // gates if w.dims is not None and type(w.dims[1]) is int else UNKNOWN
    if x.dims is None:
        seq = batch = UNKNOWN
    else:
        seq, batch = (x.dims[1], x.dims[0]) if op.attr("layout", 0) else (x.dims[0], x.dims[1])
    if op.attr("layout", 0):
        y, state = (batch, seq, dirs, hidden), (batch, dirs, hidden)
    else:
        y, state = (seq, dirs, batch, hidden), (dirs, batch, hidden)
    return [TensorType(x.dtype, y)] + [TensorType(x.dtype, state)] * (len(op.results) - 1)
