"""Parity tests for the quantization emitters (float math: round half to even, saturate, cast)."""

from __future__ import annotations

import numpy as np
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {
    "onnx.QuantizeLinear", "onnx.DequantizeLinear", "onnx.DynamicQuantizeLinear", "onnx.QLinearMatMul",
    "onnx.MatMulInteger", "onnx.ConvInteger", "onnx.QLinearConv",
}

U8 = np.uint8


def test_quantize_linear_per_axis():
    inits = {"s": np.array([0.1, 0.2, 0.05], np.float32), "z": np.array([128, 0, 10], U8)}
    model = single_op("QuantizeLinear", ["x", "s", "z"], {"x": (np.float32, (2, 3, 4))}, inits, axis=1)
    assert_parity(model, feeds={"x": rand(2, 3, 4) * 20}, expect_layers=("ops.clamp(ops.round(",))


def test_dequantize_linear():
    model = single_op("DequantizeLinear", ["x", "s", "z"], {"x": (np.int8, (2, 5)), "s": (np.float32, ()), "z": (np.int8, ())})
    feeds = {"x": np.arange(-5, 5, dtype=np.int8).reshape(2, 5), "s": np.array(0.5, np.float32), "z": np.array(-2, np.int8)}
    assert_parity(model, feeds=feeds)


def test_dynamic_quantize_linear():
    model = single_op("DynamicQuantizeLinear", ["x"], {"x": (np.float32, (3, 4))}, outputs=3)
    assert_parity(model, feeds={"x": rand(3, 4) * 4})


def test_qlinear_matmul_and_matmul_integer():
    inputs = {"a": (U8, (2, 4)), "b": (U8, (4, 3))}
    scalars = {"as": np.array(0.02, np.float32), "az": np.array(120, U8), "bs": np.array(0.03, np.float32),
               "bz": np.array(130, U8), "ys": np.array(0.05, np.float32), "yz": np.array(100, U8)}
    feeds = {"a": np.random.default_rng(0).integers(0, 255, (2, 4)).astype(U8),
             "b": np.random.default_rng(1).integers(0, 255, (4, 3)).astype(U8)}
    model = single_op("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], inputs, scalars)
    assert_parity(model, feeds=feeds, expect_layers=("ops.matmul(",))
    model = single_op("MatMulInteger", ["a", "b", "az", "bz"], inputs, {"az": scalars["az"], "bz": scalars["bz"]})
    assert_parity(model, feeds=feeds, expect_layers=("ms.int32)",))


def test_conv_integer_and_qlinear_conv():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (1, 2, 5, 5)).astype(U8)
    w = rng.integers(0, 255, (3, 2, 3, 3)).astype(U8)
    model = single_op("ConvInteger", ["x", "w", "xz", "wz"], {"x": (U8, (1, 2, 5, 5))},
                      {"w": w, "xz": np.array(128, U8), "wz": np.array(120, U8)}, pads=[1, 1, 1, 1])
    assert_parity(model, feeds={"x": x}, expect_layers=("ops.conv2d(",))
    inits = {"xs": np.array(0.02, np.float32), "xz": np.array(128, U8), "w": w, "ws": np.array([0.01, 0.02, 0.03], np.float32),
             "wz": np.array([120, 128, 130], U8), "ys": np.array(0.5, np.float32), "yz": np.array(100, U8),
             "b": np.array([100, -200, 300], np.int32)}
    model = single_op("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], {"x": (U8, (1, 2, 5, 5))}, inits)
    assert_parity(model, feeds={"x": x}, expect_layers=("ops.conv2d(",))
