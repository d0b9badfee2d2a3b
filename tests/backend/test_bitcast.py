"""Parity tests for onnx.BitCast (integer reinterpretation; the reference is numpy's .view)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model
from onnx import TensorProto

from tests.backend.builders import single_op

COVERS = {"onnx.BitCast"}


@pytest.mark.parametrize(
    "src, dst, onnx_to",
    [
        (np.int8, np.uint8, TensorProto.UINT8),
        (np.uint16, np.int16, TensorProto.INT16),
        (np.uint32, np.int32, TensorProto.INT32),
        (np.int64, np.int64, TensorProto.INT64),
    ],
)
def test_bit_cast_between_integers(src, dst, onnx_to):
    info = np.iinfo(src)
    x = np.array([[info.min, info.max, 0], [1, info.max // 2 + 1, 7]], dtype=src)
    model = single_op("BitCast", ["x"], {"x": (src, x.shape)}, opset=26, to=onnx_to)
    assert_parity(model, feeds={"x": x}, reference=lambda f: [f["x"].view(dst)])


def test_bit_cast_bool_to_uint8():
    x = np.array([True, False, True])
    model = single_op("BitCast", ["x"], {"x": (np.bool_, (3,))}, opset=26, to=TensorProto.UINT8)
    assert_parity(model, feeds={"x": x}, reference=lambda f: [f["x"].view(np.uint8)])


def test_bit_cast_of_float_bits_gives_up():
    model = single_op("BitCast", ["x"], {"x": (np.float32, (3,))}, opset=26, to=TensorProto.INT32)
    gen, _, _ = convert_model(model)
    assert "reinterprets float bits" in gen.unsupported[0].reason
