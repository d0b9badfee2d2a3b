"""Parity tests for control flow: onnx.If (constant or run-time condition) and onnx.Scan (unrolled)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity
from onnx import TensorProto, helper

from tests.backend.builders import rand

COVERS = {"onnx.If", "onnx.Scan", "onnx.Loop"}


def branch(name: str, op_type: str) -> object:
    node = helper.make_node(op_type, ["x"], [f"{name}_out"])
    return helper.make_graph([node], name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2, 3])])


@pytest.mark.parametrize("const_cond", [None, True])
def test_if(const_cond):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])]
    inits = []
    if const_cond is None:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.BOOL, []))
    else:
        inits.append(helper.make_tensor("c", TensorProto.BOOL, [], [const_cond]))
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("then", "Abs"), else_branch=branch("else", "Neg"))
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": rand(2, 3)} | ({"c": np.array(False)} if const_cond is None else {})
    code = assert_parity(model, feeds=feeds)
    assert ("ops.where(c, " in code) == (const_cond is None)


def test_scan_reverse_cumulative_sum():
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "v"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["o"])], "body",
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("v", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("o", TensorProto.FLOAT, [2])])
    node = helper.make_node("Scan", ["init", "xs"], ["last", "all"], body=body, num_scan_inputs=1, scan_input_directions=[1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("init", TensorProto.FLOAT, [2]),
                                            helper.make_tensor_value_info("xs", TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor_value_info("last", TensorProto.FLOAT, [2]),
                               helper.make_tensor_value_info("all", TensorProto.FLOAT, [3, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert_parity(model, feeds={"init": rand(2), "xs": rand(3, 2, seed=2)}, expect_layers=("xs[2]", "ops.stack(("))


def test_loop_with_a_constant_trip_count_unrolls():
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["s", "fi"], ["s_out"]), helper.make_node("Mul", ["s_out", "s_out"], ["sq"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("sq", TensorProto.FLOAT, [2])])
    node = helper.make_node("Loop", ["m", "", "init"], ["last", "all"], body=body)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("init", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("last", TensorProto.FLOAT, [2]),
                               helper.make_tensor_value_info("all", TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor("m", TensorProto.INT64, [], [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert_parity(model, feeds={"init": rand(2)}, expect_layers=("self.iteration_2", "ops.stack(("))
