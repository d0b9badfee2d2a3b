"""Parity tests for the activation emitters (onnx.Relu, LeakyRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Softmax)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import assert_same_dtypes, single_op

COVERS = {
    "onnx.Relu", "onnx.LeakyRelu", "onnx.Sigmoid", "onnx.Tanh", "onnx.Clip", "onnx.HardSigmoid",
    "onnx.HardSwish", "onnx.Softmax", "onnx.Clip@6..10", "onnx.Softmax@1..12",
}

X = {"x": (np.float32, (2, 3, 4))}


@pytest.mark.parametrize("op_type", ["Relu", "Sigmoid", "Tanh", "HardSwish"])
def test_plain_activation(op_type):
    code = assert_parity(single_op(op_type, ["x"], X))
    assert f"ops.{ {'Relu': 'relu', 'Sigmoid': 'sigmoid', 'Tanh': 'tanh', 'HardSwish': 'hardswish'}[op_type]}(" in code


@pytest.mark.parametrize("alpha", [None, 0.1])
def test_leaky_relu(alpha):
    attrs = {} if alpha is None else {"alpha": alpha}
    expected = "nn.LeakyReLU(alpha=0.01)" if alpha is None else "nn.LeakyReLU(alpha=0.1)"
    assert_parity(single_op("LeakyRelu", ["x"], X, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "alpha, beta, expected",
    [(None, None, "ops.clamp(x * 0.2 + 0.5, 0.0, 1.0)"), (1 / 6, 0.5, "ops.hardsigmoid(x)"), (0.3, 0.4, "x * 0.3 + 0.4")],
)
def test_hard_sigmoid(alpha, beta, expected):
    attrs = {k: v for k, v in {"alpha": alpha, "beta": beta}.items() if v is not None}
    assert_parity(single_op("HardSigmoid", ["x"], X, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "bounds, expected",
    [
        ({"lo": -0.5, "hi": 0.5}, "ops.clamp(x, -0.5, 0.5)"),
        ({"lo": 0.0}, "ops.clamp(x, 0.0)"),
        ({"hi": 6.0}, "ops.clamp(x, max=6.0)"),
        ({}, "= x"),
    ],
)
def test_clip_float(bounds, expected):
    inits = {k: np.array(v, np.float32) for k, v in bounds.items()}
    node_inputs = ["x", "lo" if "lo" in bounds else "", "hi" if "hi" in bounds else ""]
    while node_inputs[-1] == "":
        node_inputs.pop()
    assert_parity(single_op("Clip", node_inputs, X, inits), expect_layers=(expected,))


def test_clip_int64():
    inits = {"lo": np.array(-3, np.int64), "hi": np.array(4, np.int64)}
    model = single_op("Clip", ["x", "lo", "hi"], {"x": (np.int64, (3, 4))}, inits)
    assert_parity(model, expect_layers=("ops.clamp(x, -3, 4)",))
    assert_same_dtypes(model)


def test_clip_runtime_bounds():
    inputs = {"x": (np.float32, (3, 4)), "lo": (np.float32, ()), "hi": (np.float32, ())}
    feeds = {"x": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), "lo": np.array(-1, np.float32), "hi": np.array(0.5, np.float32)}
    assert_parity(single_op("Clip", ["x", "lo", "hi"], inputs), feeds=feeds)


def test_clip_attributes_opset_6(keep_opset):
    code = assert_parity(single_op("Clip", ["x"], X, opset=6, min=-0.25, max=0.75))
    assert "ops.clamp(x, -0.25, 0.75)" in code


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(axis):
    assert_parity(single_op("Softmax", ["x"], X, axis=axis))


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_softmax_opset_11_coerces_to_2d(keep_opset, axis):
    code = assert_parity(single_op("Softmax", ["x"], X, opset=11, axis=axis))
    assert ("ops.reshape" in code) == (axis == 1)
