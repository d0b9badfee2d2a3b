"""Parity tests for the ONNX-ML emitters (ai.onnx.ml.Binarizer, ArrayFeatureExtractor)."""

from __future__ import annotations

import numpy as np
from helpers import assert_parity, make_model
from onnx import helper

COVERS = {"ai.onnx.ml.Binarizer", "ai.onnx.ml.ArrayFeatureExtractor"}
ML = {"ai.onnx.ml": 3}


def ml_op(op_type: str, node_inputs: list[str], inputs: dict[str, tuple], **attrs):
    node = helper.make_node(op_type, node_inputs, ["y"], name=f"/{op_type.lower()}/{op_type}", domain="ai.onnx.ml", **attrs)
    return make_model([node], inputs, ["y"], extra_opsets=ML)


def test_binarizer():
    model = ml_op("Binarizer", ["x"], {"x": (np.float32, (3, 4))}, threshold=0.25)
    assert_parity(model, expect_layers=("ops.gt(x, 0.25)",))


def test_array_feature_extractor():
    model = ml_op("ArrayFeatureExtractor", ["x", "i"], {"x": (np.float32, (2, 3, 4)), "i": (np.int64, (2,))})
    feeds = {"x": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "i": np.array([3, 1], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.gather(x, i, 2)",))


def test_array_feature_extractor_1d_input():
    model = ml_op("ArrayFeatureExtractor", ["x", "i"], {"x": (np.float32, (5,)), "i": (np.int64, (1, 3))})
    feeds = {"x": np.arange(5, dtype=np.float32), "i": np.array([[4, 0, 2]], np.int64)}
    assert_parity(model, feeds=feeds)
