"""Elementwise math: onnx.Abs, Exp, Sin, ..., Pow, Mod, Max/Min/Mean, IsInf/IsNaN, BitShift, Bitwise* -> ops.*.

Unary float functions that MindSpore's CPU kernels lack for float16 (or that are less exact in
it) are computed in float32 and cast back, so the result keeps ONNX's dtype.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


def unary(cx: EmitContext, fn: str, upcast: tuple[DType, ...] = (DType.F16, DType.BF16)) -> str:
    """`ops.fn(x)`; inputs of an `upcast` dtype go through float32 and back."""
    x = cx.arg(0)
    dtype = cx.in_type(0).dtype
    if dtype in upcast:
        return f"ops.cast(ops.{fn}(ops.cast({x}, ms.float32)), {cx.dtype(dtype)})"
    return f"ops.{fn}({x})"


def register_unary(onnx_op: str, fn: str, since: int, upcast: tuple[DType, ...] = (DType.F16, DType.BF16)) -> None:
    """Register `onnx.<onnx_op> -> ops.<fn>(x)` (see `unary` for `upcast`)."""

    def emitter(op: Op, cx: EmitContext) -> str:
        return unary(cx, fn, upcast)

    emitter.__name__ = onnx_op.lower()
    emitter.__doc__ = f"onnx.{onnx_op} -> ops.{fn}(x)."
    emits(f"onnx.{onnx_op}", since=since)(emitter)


# (ONNX op, ops function, first opset of the current definition: earlier ones only differ in
# the dropped `consumed_inputs` attribute or in type constraints).
_UNARY = [
    ("Abs", "abs", 6), ("Neg", "neg", 6), ("Exp", "exp", 6), ("Log", "log", 6), ("Sqrt", "sqrt", 6),
    ("Reciprocal", "reciprocal", 6), ("Floor", "floor", 6), ("Ceil", "ceil", 6), ("Round", "round", 11),
    ("Sign", "sign", 9), ("Sin", "sin", 7), ("Cos", "cos", 7), ("Tan", "tan", 7), ("Asin", "asin", 7),
    ("Acos", "acos", 7), ("Atan", "atan", 7), ("Sinh", "sinh", 9), ("Cosh", "cosh", 9), ("Asinh", "asinh", 9),
    ("Acosh", "acosh", 9), ("Atanh", "atanh", 9), ("Erf", "erf", 9),
]
for _op, _fn, _since in _UNARY:
    register_unary(_op, _fn, _since)


def _same_dtype(cx: EmitContext, i: int, dtype: DType) -> str:
    """Input i cast to `dtype` when its dtype differs."""
    x = cx.arg(i)
    return x if cx.in_type(i).dtype == dtype else f"ops.cast({x}, {cx.dtype(dtype)})"


@emits("onnx.Pow", since=7)
def pow_(op: Op, cx: EmitContext) -> str:
    """onnx.Pow -> ops.pow(x, y), computed in x's dtype (ONNX's result type) or in float for integer x ** float y."""
    xt, yt = cx.in_type(0).dtype, cx.in_type(1).dtype
    x = cx.arg(0)
    if xt.is_int and yt.is_float:
        # ONNX computes int ** float in floating point and casts back to the base's type.
        return f"ops.cast(ops.pow(ops.cast({x}, ms.float64), ops.cast({cx.arg(1)}, ms.float64)), {cx.dtype(xt)})"
    y = cx.const(1)
    if y is not None and y.size == 1 and float(y.reshape(-1)[0]) == 2.0 and xt.is_float:
        return f"ops.square({x})"
    return f"ops.pow({x}, {_same_dtype(cx, 1, xt)})"


@emits("onnx.Mod", since=10)
def mod(op: Op, cx: EmitContext) -> str:
    """onnx.Mod -> ops.floor_mod(a, b) (fmod=0, Python sign) or ops.fmod(a, b) (fmod=1, C sign)."""
    a, b = cx.arg(0), cx.arg(1)
    dtype = cx.in_type(0).dtype
    if dtype in _WIDEN:
        # MindSpore's CPU FloorMod has no kernel for these unsigned types: compute in int64.
        a, b = f"ops.cast({a}, ms.int64)", f"ops.cast({b}, ms.int64)"
        return f"ops.cast(ops.floor_mod({a}, {b}), {cx.dtype(dtype)})"
    if cx.attr("fmod", 0):
        if cx.in_type(0).dtype.is_int:
            # C-style remainder of integers: a - trunc(a / b) * b.
            return f'{a} - ops.div({a}, {b}, rounding_mode="trunc") * {b}'
        return f"ops.fmod({a}, {b})"
    if dtype.is_float:
        # ops.floor_mod is wrong for infinite divisors (-3 mod inf is inf in ONNX and numpy).
        layer = cx.layer(cx.support_class("FloorMod", _FLOOR_MOD), hint="floor_mod")
        return f"{layer}({a}, {b})"
    return f"ops.floor_mod({a}, {b})"


_FLOOR_MOD = '''class FloorMod(nn.Cell):
    """a mod b with the sign of b (numpy.remainder), also for infinite b: fmod, then shift by b when the signs differ."""

    def construct(self, a, b):
        r = ops.fmod(a, b)
        r = ops.where(ops.logical_and(ops.isinf(b), ops.isfinite(a)), a, r)  # MindSpore's fmod(a, inf) is nan
        return ops.where(ops.logical_and(r != 0, (r < 0) != (b < 0)), r + b, r)'''


#: Unsigned types some MindSpore CPU kernels (Maximum, FloorMod) lack: widened to int64 and cast back.
_WIDEN = (DType.U16, DType.U32, DType.U64)


def _fold(cx: EmitContext, fn: str) -> str:
    args = cx.args()
    dtype = cx.in_type(0).dtype
    if dtype == DType.U16 and len(args) > 1:
        args = [f"ops.cast({a}, ms.int32)" for a in args]
    expr = args[0]
    for a in args[1:]:
        expr = f"ops.{fn}({expr}, {a})"
    return f"ops.cast({expr}, ms.uint16)" if dtype == DType.U16 and len(args) > 1 else expr


@emits("onnx.Max", since=8)
def max_(op: Op, cx: EmitContext) -> str:
    """onnx.Max -> ops.maximum(ops.maximum(a, b), c) ... (broadcasting)."""
    return _fold(cx, "maximum")


@emits("onnx.Min", since=8)
def min_(op: Op, cx: EmitContext) -> str:
    """onnx.Min -> ops.minimum(ops.minimum(a, b), c) ... (broadcasting)."""
    return _fold(cx, "minimum")


@emits("onnx.Mean", since=8)
def mean(op: Op, cx: EmitContext) -> str:
    """onnx.Mean -> (a + b + ...) / n (broadcasting)."""
    args = cx.args()
    if len(args) == 1:
        return args[0]
    return f"({' + '.join(args)}) / {len(args)}"


@emits("onnx.IsInf", since=10)
def is_inf(op: Op, cx: EmitContext) -> str:
    """onnx.IsInf -> ops.isinf(x), masked by the sign when only one of detect_negative/detect_positive is set."""
    x = cx.arg(0)
    neg, pos = cx.attr("detect_negative", 1), cx.attr("detect_positive", 1)
    if neg and pos:
        return f"ops.isinf({x})"
    if pos:
        return f"ops.logical_and(ops.isinf({x}), {x} > 0)"
    if neg:
        return f"ops.logical_and(ops.isinf({x}), {x} < 0)"
    return f"ops.zeros_like({x}, dtype=ms.bool_)"


@emits("onnx.IsNaN", since=9)
def is_nan(op: Op, cx: EmitContext) -> str:
    """onnx.IsNaN -> ops.isnan(x)."""
    return f"ops.isnan({cx.arg(0)})"


@emits("onnx.BitShift", since=11)
def bit_shift(op: Op, cx: EmitContext) -> str:
    """onnx.BitShift -> ops.bitwise_left_shift / ops.bitwise_right_shift (direction LEFT / RIGHT)."""
    direction = cx.attr("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        cx.fail(f"BitShift direction must be LEFT or RIGHT, got {direction!r}")
    fn = "bitwise_left_shift" if direction == "LEFT" else "bitwise_right_shift"
    a, b = cx.arg(0), cx.arg(1)
    dtype = cx.in_type(0).dtype
    width = dtype.to_numpy().itemsize * 8
    shifts = cx.const(1)
    # Unsigned shifts are never negative (and MindSpore's CPU comparisons lack most unsigned types).
    if dtype.to_numpy().kind == "u" or (shifts is not None and ((shifts >= 0) & (shifts < width)).all()):
        return f"ops.{fn}({a}, {b})"
    # Shifts outside [0, width) shift everything out: 0, or -1 for negative numbers shifted right.
    valid = f"ops.logical_and({b} >= 0, {b} < {width})"
    shifted = f"ops.{fn}({a}, ops.clamp({b}, 0, {width - 1}))"
    out = f"ops.zeros_like({a})"
    if direction == "RIGHT" and dtype.to_numpy().kind == "i":
        out = f"ops.where({a} < 0, -ops.ones_like({a}), {out})"
    return f"ops.where({valid}, {shifted}, {out})"


def _register_bitwise(onnx_op: str, fn: str) -> None:
    def emitter(op: Op, cx: EmitContext) -> str:
        return f"ops.{fn}({', '.join(cx.args())})"

    emitter.__name__ = onnx_op.lower()
    emitter.__doc__ = f"onnx.{onnx_op} -> ops.{fn}."
    emits(f"onnx.{onnx_op}", since=18)(emitter)


for _op, _fn in [("BitwiseAnd", "bitwise_and"), ("BitwiseOr", "bitwise_or"), ("BitwiseXor", "bitwise_xor"),
                 ("BitwiseNot", "invert")]:
    _register_bitwise(_op, _fn)
