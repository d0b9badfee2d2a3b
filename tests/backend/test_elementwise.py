"""Parity tests for the elementwise math emitters (onnx.Abs ... Erf, Pow, Mod, Max/Min/Mean, IsInf/IsNaN, BitShift, Bitwise*).

Many ops share one model (one node per op, one output each), so each conversion runs once per mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, make_model
from onnx import helper

from tests.backend.builders import assert_same_dtypes, single_op

UNARY = ["Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan",
         "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf"]
COVERS = {f"onnx.{op}" for op in UNARY} | {
    "onnx.Pow", "onnx.Mod", "onnx.Max", "onnx.Min", "onnx.Mean", "onnx.IsInf", "onnx.IsNaN", "onnx.BitShift",
    "onnx.BitwiseAnd", "onnx.BitwiseOr", "onnx.BitwiseXor", "onnx.BitwiseNot",
}


def many(ops: list[tuple[str, list[str], dict]], inputs: dict[str, tuple], opset: int = 18):
    """One model computing every (op_type, inputs, attrs) from the same inputs, one output each."""
    nodes = [helper.make_node(op, ins, [f"y{i}"], name=f"/{op.lower()}{i}/{op}", **attrs) for i, (op, ins, attrs) in enumerate(ops)]
    return make_model(nodes, inputs, [f"y{i}" for i in range(len(ops))], opset=opset)


def test_unary_float_functions():
    # x in (0.1, 0.9): inside every domain (Asin, Acos, Atanh, Log); Acosh gets 1 + x.
    x = np.random.default_rng(0).uniform(0.1, 0.9, (2, 3)).astype(np.float32) * np.array([1, -1, 1], np.float32)
    ops = [(op, ["x"], {}) for op in UNARY if op not in ("Acosh", "Log", "Sqrt")]
    ops += [("Acosh", ["x1"], {}), ("Log", ["x1"], {}), ("Sqrt", ["x1"], {})]
    model = many(ops, {"x": (np.float32, (2, 3)), "x1": (np.float32, (2, 3))})
    assert_parity(model, feeds={"x": x, "x1": np.abs(x) + 1})


def test_unary_float16_is_computed_in_float32():
    model = single_op("Erf", ["x"], {"x": (np.float16, (2, 3))})
    code = assert_parity(model)
    assert "ops.cast(ops.erf(ops.cast(x, ms.float32)), ms.float16)" in code
    assert_same_dtypes(model)


def test_integer_abs_neg_sign():
    model = many([("Abs", ["x"], {}), ("Neg", ["x"], {}), ("Sign", ["x"], {})], {"x": (np.int64, (2, 5))})
    assert_parity(model)
    assert_same_dtypes(model)


@pytest.mark.parametrize("x_dtype, y_dtype", [(np.float32, np.float32), (np.float32, np.int64), (np.int64, np.float32)])
def test_pow(x_dtype, y_dtype):
    feeds = {"x": np.array([[1, 2, 3], [0.5, 4, 2]], x_dtype), "e": np.array([2, 0.5 if y_dtype == np.float32 else 3, 1], y_dtype)}
    model = single_op("Pow", ["x", "e"], {"x": (x_dtype, (2, 3)), "e": (y_dtype, (3,))})
    assert_parity(model, feeds=feeds)
    assert_same_dtypes(model, feeds)


def test_mod():
    a = np.array([-7, -3, 4, 9, 5, -11], np.int64)
    b = np.array([3, -2, 3, -4, 5, 4], np.int64)
    model = many([("Mod", ["a", "b"], {}), ("Mod", ["a", "b"], {"fmod": 1})], {"a": (np.int64, (6,)), "b": (np.int64, (6,))})
    code = assert_parity(model, feeds={"a": a, "b": b})
    assert "ops.floor_mod(a, b)" in code and 'ops.div(a, b, rounding_mode="trunc")' in code
    fm = single_op("Mod", ["a", "b"], {"a": (np.float32, (6,)), "b": (np.float32, (6,))}, fmod=1)
    assert_parity(fm, feeds={"a": a.astype(np.float32) + 0.5, "b": b.astype(np.float32)}, expect_layers=("ops.fmod(a, b)",))


def test_mod_uint32_goes_through_int64():
    model = single_op("Mod", ["a", "b"], {"a": (np.uint32, (4,)), "b": (np.uint32, (4,))})
    feeds = {"a": np.array([7, 9, 4, 100], np.uint32), "b": np.array([3, 2, 5, 7], np.uint32)}
    assert_parity(model, feeds=feeds)
    assert_same_dtypes(model, feeds)


def test_max_min_mean_variadic():
    inputs = {"a": (np.float32, (2, 3)), "b": (np.float32, (3,)), "c": (np.float32, (1, 3))}
    model = many([("Max", ["a", "b", "c"], {}), ("Min", ["a", "b"], {}), ("Mean", ["a", "b", "c"], {}), ("Max", ["a"], {})], inputs)
    code = assert_parity(model)
    assert "ops.maximum(ops.maximum(a, b), c)" in code and "(a + b + c) / 3" in code


def test_max_uint16():
    model = single_op("Max", ["a", "b"], {"a": (np.uint16, (4,)), "b": (np.uint16, (4,))})
    feeds = {"a": np.array([1, 60000, 7, 0], np.uint16), "b": np.array([2, 5, 70, 0], np.uint16)}
    # onnxruntime has no uint16 Max kernel: numpy is the reference.
    assert_parity(model, feeds=feeds, reference=lambda f: [np.maximum(f["a"], f["b"])])


def test_isinf_isnan():
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0, -2.0], np.float32)
    model = many([("IsInf", ["x"], {}), ("IsInf", ["x"], {"detect_negative": 0}), ("IsInf", ["x"], {"detect_positive": 0}),
                  ("IsNaN", ["x"], {})], {"x": (np.float32, (6,))})
    assert_parity(model, feeds={"x": x})


def test_bit_shift_and_bitwise():
    inputs = {"a": (np.uint8, (4,)), "b": (np.uint8, (4,))}
    feeds = {"a": np.array([16, 4, 1, 255], np.uint8), "b": np.array([1, 2, 3, 0], np.uint8)}
    model = many([("BitShift", ["a", "b"], {"direction": "LEFT"}), ("BitShift", ["a", "b"], {"direction": "RIGHT"}),
                  ("BitwiseAnd", ["a", "b"], {}), ("BitwiseOr", ["a", "b"], {}), ("BitwiseXor", ["a", "b"], {}),
                  ("BitwiseNot", ["a"], {})], inputs)
    assert_parity(model, feeds=feeds)
    assert_same_dtypes(model, feeds)


def test_bit_shift_out_of_range_shifts_everything_out():
    inputs = {"a": (np.int32, (4,)), "b": (np.int32, (4,))}
    feeds = {"a": np.array([-8, 4, -1, 5], np.int32), "b": np.array([-1, 32, 100, 1], np.int32)}
    model = many([("BitShift", ["a", "b"], {"direction": "LEFT"}), ("BitShift", ["a", "b"], {"direction": "RIGHT"})], inputs)

    def reference(f):  # numpy's shifts by >= width are undefined: the ONNX test-suite convention, by hand
        return [np.array([0, 0, 0, 10], np.int32), np.array([-1, 0, -1, 2], np.int32)]

    assert_parity(model, feeds=feeds, reference=reference)


def test_float_mod_with_infinite_divisor_follows_numpy():
    inputs = {"a": (np.float32, (5,)), "b": (np.float32, (5,))}
    feeds = {"a": np.array([-3, 3, -1, 1, 7.5], np.float32), "b": np.array([np.inf, np.inf, -np.inf, -np.inf, -2], np.float32)}
    model = single_op("Mod", ["a", "b"], inputs)
    code = assert_parity(model, feeds=feeds, reference=lambda f: [np.remainder(f["a"], f["b"])])
    assert "class FloorMod(nn.Cell)" in code
