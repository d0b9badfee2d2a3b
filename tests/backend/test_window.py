"""Parity tests for the signal windows (onnx.HannWindow, HammingWindow, BlackmanWindow)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity
from onnx import TensorProto, helper

COVERS = {"onnx.HannWindow", "onnx.HammingWindow", "onnx.BlackmanWindow"}


@pytest.mark.parametrize("op_type", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_window_of_run_time_length(op_type, periodic):
    node = helper.make_node(op_type, ["n"], ["y"], name=f"/w/{op_type}", periodic=periodic)
    graph = helper.make_graph([node], "test", [helper.make_tensor_value_info("n", TensorProto.INT32, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10])])  # the length is data
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert_parity(model, feeds={"n": np.array(10, np.int32)})
