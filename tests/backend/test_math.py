"""Parity tests for the arithmetic emitters (onnx.Add, Sub, Mul, Div, Sum, MatMul, Gemm)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model

from tests.backend.builders import assert_same_dtypes, rand, single_op

COVERS = {"onnx.Add", "onnx.Sub", "onnx.Mul", "onnx.Div", "onnx.Sum", "onnx.MatMul", "onnx.Gemm"}

SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((4,), (2, 3, 4))])
def test_binary_float_broadcast(op_type, shapes):
    inputs = {"a": (np.float32, shapes[0]), "b": (np.float32, shapes[1])}
    feeds = {"a": rand(*shapes[0], seed=1), "b": rand(*shapes[1], seed=2) + 3.0}  # no division by ~0
    code = assert_parity(single_op(op_type, ["a", "b"], inputs), feeds=feeds)
    assert f"a {SYMBOLS[op_type]} b" in code


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
def test_binary_int64(op_type):
    inputs = {"a": (np.int64, (3, 4)), "b": (np.int64, (4,))}
    feeds = {"a": np.arange(-6, 6, dtype=np.int64).reshape(3, 4), "b": np.array([3, -2, 5, -4], np.int64)}
    model = single_op(op_type, ["a", "b"], inputs)
    code = assert_parity(model, feeds=feeds)
    assert_same_dtypes(model, feeds)
    if op_type == "Div":  # ONNX truncates toward zero: -5 / 3 == -1
        assert 'ops.div(a, b, rounding_mode="trunc")' in code


@pytest.mark.parametrize(
    "op_type, value, expected",
    [
        ("Mul", np.array(0.5, np.float32), "x * 0.5"),
        ("Add", np.array([-1.5], np.float32), "x - 1.5"),
        ("Sub", np.array(-2.0, np.float32), "x + 2.0"),
        ("Div", np.array(4.0, np.float32), "x / 4.0"),
    ],
)
def test_scalar_constant_is_a_literal(op_type, value, expected):
    model = single_op(op_type, ["x", "c"], {"x": (np.float32, (2, 3))}, {"c": value})
    assert_parity(model, expect_layers=(expected,))


def test_scalar_constant_on_the_left():
    model = single_op("Sub", ["c", "x"], {"x": (np.float32, (2, 3))}, {"c": np.array(1.0, np.float32)})
    assert_parity(model, expect_layers=("1.0 - x",))


def test_int_division_by_a_literal_truncates():
    model = single_op("Div", ["x", "c"], {"x": (np.int64, (2, 3))}, {"c": np.array(2, np.int64)})
    assert_parity(model, expect_layers=('ops.div(x, 2, rounding_mode="trunc")',))
    assert_same_dtypes(model)


def test_weight_operand_becomes_a_parameter():
    model = single_op("Mul", ["x", "w"], {"x": (np.float32, (2, 3, 4))}, {"w": rand(3, 1)})
    code = assert_parity(model)
    assert "x * self.w" in code and 'Parameter(ops.zeros((3, 1), ms.float32), name="w")' in code


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sum(n):
    names = [f"a{i}" for i in range(n)]
    shapes = [(2, 3), (3,), (1, 3)][:n]
    model = single_op("Sum", names, {name: (np.float32, s) for name, s in zip(names, shapes, strict=True)})
    code = assert_parity(model)
    assert " + ".join(names) in code


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 4), (4, 5)), ((2, 3, 3, 4), (4, 5)), ((2, 3, 4), (1, 4, 5)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,))],
)
def test_matmul(a_shape, b_shape):
    inputs = {"a": (np.float32, a_shape), "b": (np.float32, b_shape)}
    assert_parity(single_op("MatMul", ["a", "b"], inputs), expect_layers=("ops.matmul(a, b)",))


def test_matmul_int64():
    model = single_op("MatMul", ["a", "b"], {"a": (np.int64, (3, 4)), "b": (np.int64, (4, 2))})
    assert_parity(model)
    assert_same_dtypes(model)


def test_matmul_with_weight():
    model = single_op("MatMul", ["x", "w"], {"x": (np.float32, (2, 3, 4))}, {"w": rand(4, 5)})
    assert_parity(model, expect_layers=("ops.matmul(x, self.w)",), passes=False)  # the MatMul emitter itself
    assert_parity(model, expect_layers=("nn.Dense(4, 5, has_bias=False)",))  # fuse-dense makes it a layer


def gemm(c_shape: tuple | None = (5,), runtime_b: bool = False, **attrs):
    trans_b = attrs.get("transB", 0)
    trans_a = attrs.get("transA", 0)
    inputs = {"x": (np.float32, (4, 3) if trans_a else (3, 4))}
    inits = {}
    b_shape = (5, 4) if trans_b else (4, 5)
    if runtime_b:
        inputs["w"] = (np.float32, b_shape)
    else:
        inits["w"] = rand(*b_shape, seed=2)
    node_inputs = ["x", "w"]
    if c_shape is not None:
        inits["c"] = rand(*c_shape, seed=3)
        node_inputs.append("c")
    return single_op("Gemm", node_inputs, inputs, inits, name="/fc/Gemm", **attrs)


@pytest.mark.parametrize(
    "c_shape, attrs, expected",
    [
        ((5,), {"transB": 1}, "nn.Dense(4, 5)"),
        ((5,), {}, "nn.Dense(4, 5)"),
        ((1, 5), {"transB": 1}, "nn.Dense(4, 5)"),
        (None, {"transB": 1}, "nn.Dense(4, 5, has_bias=False)"),
    ],
)
def test_gemm_as_dense(c_shape, attrs, expected):
    code = assert_parity(gemm(c_shape, **attrs), expect_layers=(expected,))
    assert "fc = self.fc(x)" in code


def test_gemm_dense_checkpoint_keys():
    gen, _, _ = convert_model(gemm((5,), transB=1))
    assert {e.name: e.ref.source for e in gen.checkpoint} == {"fc.weight": "w", "fc.bias": "c"}


@pytest.mark.parametrize(
    "c_shape, attrs, expected",
    [
        ((5,), {"transA": 1, "alpha": 0.5, "beta": 2.0}, "0.5 * ops.matmul(x.T, self.w) + 2.0 * self.c"),
        ((3, 5), {"transB": 1}, "ops.matmul(x, self.w.T) + self.c"),
        ((3, 1), {}, "ops.matmul(x, self.w) + self.c"),
        ((), {"beta": 0.5}, "ops.matmul(x, self.w) + 0.5 * "),
        ((5,), {"alpha": 2.0, "transB": 1}, "2.0 * ops.matmul(x, self.w.T) + self.c"),
    ],
)
def test_gemm_functional(c_shape, attrs, expected):
    assert_parity(gemm(c_shape, **attrs), expect_layers=(expected,))


def test_gemm_runtime_b():
    assert_parity(gemm((5,), runtime_b=True, transB=1), expect_layers=("ops.matmul(x, w.T) + self.c",))


def test_scalar_literal_keeps_float16():
    model = single_op("Mul", ["x", "c"], {"x": (np.float16, (2, 3))}, {"c": np.array(0.5, np.float16)})
    assert_parity(model, expect_layers=("x * 0.5",))
    assert_same_dtypes(model)
