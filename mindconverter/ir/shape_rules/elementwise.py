"""Shape rules of elementwise ops: unary ops (like their input), broadcasting ops, Where, Cast."""

from __future__ import annotations

from mindconverter.ir.core import Dense, Op
from mindconverter.ir.shape_rules import Results, ShapeContext, broadcast, like, shape_rule
from mindconverter.ir.types import DType, TensorType

#: Ops whose single result has the type of their first operand.
UNARY = (
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BitwiseNot", "Ceil", "Celu", "Clip", "Cos", "Cosh",
    "CumSum", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax", "Identity",
    "InstanceNormalization", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LRN", "MeanVarianceNormalization",
    "Mish", "Neg", "Reciprocal", "Relu", "ReverseSequence", "Round", "ScatterElements", "ScatterND", "Selu",
    "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh",
    "ThresholdedRelu", "Trilu", "GroupNormalization", "RMSNormalization", "Swish", "CumProd", "RotaryEmbedding",
)

#: Ops broadcasting their operands; the result has the first operand's element type.
BROADCAST = (
    "Add", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Div", "Max", "Mean", "Min", "Mod", "Mul", "Pow",
    "PRelu", "Sub", "Sum",
)

#: Ops broadcasting their operands into a bool result.
COMPARE = ("And", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Or", "Xor")


@shape_rule(*(f"onnx.{name}" for name in UNARY))
def unary(op: Op, cx: ShapeContext) -> Results:
    """Like the first operand."""
    return [cx.type(0)]


@shape_rule("onnx.Not", "onnx.IsNaN", "onnx.IsInf")
def predicate(op: Op, cx: ShapeContext) -> Results:
    """Like the first operand, bool."""
    return [like(cx.type(0), DType.BOOL)]


@shape_rule(*(f"onnx.{name}" for name in BROADCAST))
def broadcasting(op: Op, cx: ShapeContext) -> Results:
    """Numpy broadcasting of every operand; the element type of the first."""
    return [_broadcast(op, cx, cx.type(0).dtype)]


@shape_rule(*(f"onnx.{name}" for name in COMPARE))
def comparison(op: Op, cx: ShapeContext) -> Results:
    """Numpy broadcasting of both operands, bool."""
    return [_broadcast(op, cx, DType.BOOL)]


@shape_rule("onnx.Where")
def where(op: Op, cx: ShapeContext) -> Results:
    """Broadcast of condition, X and Y; the element type of X."""
    return [_broadcast(op, cx, cx.type(1).dtype)]


def _broadcast(op: Op, cx: ShapeContext, dtype: DType) -> TensorType:
    types = [v.type for v in op.operands if v is not None]
    if any(t.dims is None for t in types):
        return TensorType(dtype, None)
    return TensorType(dtype, broadcast(cx, [t.dims for t in types]))


@shape_rule("onnx.Cast")
def cast(op: Op, cx: ShapeContext) -> Results:
    """Like the input, with element type `to`."""
    from mindconverter.ir.onnx_bridge import dtype_from_onnx

    return [like(cx.type(0), dtype_from_onnx(int(op.attr("to"))))]


@shape_rule("onnx.CastLike")
def cast_like(op: Op, cx: ShapeContext) -> Results:
    """Like the input, with the element type of `target_type`."""
    return [like(cx.type(0), cx.type(1).dtype)]


@shape_rule("onnx.EyeLike", "onnx.RandomNormalLike", "onnx.RandomUniformLike", "onnx.Bernoulli")
def like_with_dtype(op: Op, cx: ShapeContext) -> Results:
    """Like the input, with element type `dtype` when given."""
    from mindconverter.ir.onnx_bridge import dtype_from_onnx

    dtype = op.attr("dtype")
    return [like(cx.type(0), None if dtype is None else dtype_from_onnx(int(dtype)))]


@shape_rule("onnx.Dropout")
def dropout(op: Op, cx: ShapeContext) -> Results:
    """Output like the input; the optional mask too, bool."""
    x = cx.type(0)
    return [x, like(x, DType.BOOL)][: len(op.results)]


@shape_rule("onnx.Constant")
def constant(op: Op, cx: ShapeContext) -> Results:
    """The type of the `value` tensor (the frontend makes most Constants `ir.const`)."""
    value = op.attr("value")
    if not isinstance(value, Dense):
        return [None]
    return [TensorType(value.dtype, tuple(value.array.shape))]


@shape_rule("onnx.QuantizeLinear")
def quantize(op: Op, cx: ShapeContext) -> Results:
    """Like x, of the zero point's element type (u8 by default, or `output_dtype`)."""
    from mindconverter.ir.onnx_bridge import dtype_from_onnx

    if cx.has(2):
        return [like(cx.type(0), cx.type(2).dtype)]
    dtype = op.attr("output_dtype")
    return [like(cx.type(0), dtype_from_onnx(int(dtype)) if dtype else DType.U8)]


@shape_rule("onnx.DequantizeLinear")
def dequantize(op: Op, cx: ShapeContext) -> Results:
    """Like x, of the scale's element type."""
    return [like(cx.type(0), cx.type(1).dtype)]


@shape_rule("onnx.DynamicQuantizeLinear")
def dynamic_quantize(op: Op, cx: ShapeContext) -> Results:
    """y like x in u8; scalar f32 scale and u8 zero point."""
    return [like(cx.type(0), DType.U8), TensorType(DType.F32, ()), TensorType(DType.U8, ())]
