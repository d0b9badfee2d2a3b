"""Parity tests for the reduction emitters (onnx.Reduce*, ArgMax/ArgMin, TopK, CumSum)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, make_model
from onnx import TensorProto, helper

from tests.backend.builders import assert_same_dtypes, single_op

REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
          "ReduceLogSumExp", "ReduceSumSquare"]
COVERS = {f"onnx.{op}" for op in REDUCE} | {"onnx.ArgMax", "onnx.ArgMin", "onnx.TopK", "onnx.CumSum", "onnx.CumProd"}

X = {"x": (np.float32, (2, 3, 4))}


def _all_reductions(axes_input: bool, keepdims: int, opset: int = 18):
    nodes, inits = [], {}
    if axes_input:
        inits["axes"] = np.array([1, -1], np.int64)
    for i, op in enumerate(REDUCE):
        ins = ["x", "axes"] if axes_input else ["x"]
        nodes.append(helper.make_node(op, ins, [f"y{i}"], name=f"/r{i}/{op}", keepdims=keepdims))
    return make_model(nodes, X, [f"y{i}" for i in range(len(REDUCE))], inits, opset=opset)


@pytest.mark.parametrize("axes_input, keepdims", [(True, 1), (False, 0)])
def test_all_reductions(axes_input, keepdims):
    feeds = {"x": np.abs(np.random.default_rng(0).standard_normal((2, 3, 4))).astype(np.float32) + 0.1}  # LogSum needs > 0
    assert_parity(_all_reductions(axes_input, keepdims), feeds=feeds)


def test_reduce_axes_computed_at_run_time():
    from onnx import TensorProto

    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="/r/ReduceSum", keepdims=1)
    graph = helper.make_graph(
        [node], "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]), helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],  # its shape depends on the axes' values
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": np.ones((2, 3, 4), np.float32), "axes": np.array([1], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.ReduceSum(True)(x, axes)",))


def test_noop_with_empty_axes_and_empty_set():
    nodes = [helper.make_node("ReduceSumSquare", ["x"], ["y0"], name="/a/ReduceSumSquare", noop_with_empty_axes=1),
             helper.make_node("ReduceMax", ["e", "axes"], ["y1"], name="/b/ReduceMax", keepdims=1)]
    model = make_model(nodes, {"x": (np.float32, (2, 3)), "e": (np.float32, (2, 0, 4))}, ["y0", "y1"],
                       {"axes": np.array([1], np.int64)}, opset=18)
    assert_parity(model, expect_layers=("ops.square(x)", 'ops.fill(ms.float32, (2, 1, 4), -float("inf"))'))


def test_empty_set_with_run_time_axes():
    """With axes fed at run time, an input with no elements still reduces to the identity everywhere."""
    nodes = [helper.make_node("ReduceSum", ["e", "axes"], ["y0"], name="/s/ReduceSum", keepdims=1),
             helper.make_node("ReduceMin", ["e", "axes"], ["y1"], name="/m/ReduceMin", keepdims=1)]
    graph = helper.make_graph(
        nodes, "empty",
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 0, 4]), helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, [2, 1, 4]) for y in ("y0", "y1")],
    )  # the output shapes are declared: inference cannot know run-time axes
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    feeds = {"e": np.zeros((2, 0, 4), np.float32), "axes": np.array([1], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.fill(ms.float32, (2, 1, 4), 0.0)",), passes=False)


def test_int_mean():
    model = single_op("ReduceMean", ["i"], {"i": (np.int32, (2, 3))}, opset=13, axes=[1])
    assert_parity(model)
    assert_same_dtypes(model)


def test_bool_max_min_are_any_all():
    nodes = [helper.make_node("ReduceMax", ["b", "axes"], ["y0"], name="/mx/ReduceMax", keepdims=0),
             helper.make_node("ReduceMin", ["b", "axes"], ["y1"], name="/mn/ReduceMin", keepdims=0)]
    model = make_model(nodes, {"b": (np.bool_, (2, 3))}, ["y0", "y1"], {"axes": np.array([1], np.int64)}, opset=20)
    assert_parity(model, expect_layers=("ops.any(b, (1,), False)", "ops.all(b, (1,), False)"))


@pytest.mark.parametrize("op_type", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{"axis": 1}, {"axis": -1, "keepdims": 0, "select_last_index": 1}])
def test_arg_max_min(op_type, attrs):
    feeds = {"x": np.array([[[1, 3, 3, 0], [2, 2, 1, 1], [0, 5, 5, 5]]] * 2, np.float32)}  # ties
    model = single_op(op_type, ["x"], X, **attrs)
    assert_parity(model, feeds=feeds)
    assert_same_dtypes(model, feeds)


@pytest.mark.parametrize("attrs", [{}, {"axis": 1, "largest": 0}])
def test_top_k(attrs):
    model = single_op("TopK", ["x", "k"], X, {"k": np.array([2], np.int64)}, outputs=2, **attrs)
    assert_parity(model)
    assert_same_dtypes(model)


def test_top_k_run_time_k():
    model = single_op("TopK", ["x", "k"], {**X, "k": (np.int64, (1,))}, outputs=2, axis=1)
    feeds = {"x": np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32), "k": np.array([2], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("TopKLastAxis",))


@pytest.mark.parametrize("attrs", [{}, {"exclusive": 1, "reverse": 1}])
def test_cum_sum(attrs):
    model = single_op("CumSum", ["x", "axis"], X, {"axis": np.array(1, np.int32)}, **attrs)
    assert_parity(model)


@pytest.mark.parametrize("attrs", [{}, {"exclusive": 1, "reverse": 1}])
def test_cum_prod(attrs):
    from onnx.reference import ReferenceEvaluator

    model = single_op("CumProd", ["x", "axis"], X, {"axis": np.array(1, np.int32)}, opset=26, **attrs)
    # onnxruntime has no CumProd (opset 26) yet: the ONNX reference evaluator is the reference.
    assert_parity(model, reference=lambda feeds: ReferenceEvaluator(model).run(None, feeds))
