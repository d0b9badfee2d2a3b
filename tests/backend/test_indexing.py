"""Parity tests for the indexing emitters (GatherElements, GatherND, Scatter*, NonZero, OneHot, Compress, Det, ReverseSequence, MaxUnpool)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {
    "onnx.GatherElements", "onnx.GatherND", "onnx.ScatterElements", "onnx.Scatter@9..10", "onnx.ScatterND",
    "onnx.NonZero", "onnx.OneHot", "onnx.Compress", "onnx.Det", "onnx.ReverseSequence", "onnx.MaxUnpool",
}

IDX = np.array([[0, -1, 2], [1, 0, -3]], np.int64)


def test_gather_elements_wraps_runtime_negative_indices():
    model = single_op("GatherElements", ["x", "i"], {"x": (np.float32, (2, 3)), "i": (np.int64, (2, 3))}, axis=1)
    assert_parity(model, feeds={"x": rand(2, 3), "i": IDX}, expect_layers=("ops.gather_elements(x, 1, ops.where(i < 0, i + 3, i))",))


def test_gather_nd():
    model = single_op("GatherND", ["x", "i"], {"x": (np.float32, (2, 3, 4)), "i": (np.int64, (2, 2))})
    feeds = {"x": rand(2, 3, 4), "i": np.array([[0, -1], [1, 2]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.gather_nd(x, ops.where(i < 0, i + self.sizes, i))",))


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_scatter_elements(reduction):
    inputs = {"x": (np.float32, (2, 3)), "i": (np.int64, (2, 3)), "u": (np.float32, (2, 3))}
    model = single_op("ScatterElements", ["x", "i", "u"], inputs, opset=18, axis=1, reduction=reduction)
    feeds = {"x": rand(2, 3), "i": np.array([[0, -1, 1], [1, 0, 2]], np.int64), "u": rand(2, 3, seed=3)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.tensor_scatter_elements(",))


@pytest.mark.parametrize("reduction", ["max", "mul"])
def test_scatter_elements_with_an_nd_reduction(reduction):
    inputs = {"x": (np.float32, (2, 3)), "i": (np.int64, (2, 2)), "u": (np.float32, (2, 2))}
    model = single_op("ScatterElements", ["x", "i", "u"], inputs, opset=18, axis=1, reduction=reduction)
    feeds = {"x": rand(2, 3), "i": np.array([[0, -1], [1, 1]], np.int64), "u": rand(2, 2, seed=3)}
    assert_parity(model, feeds=feeds, expect_layers=(f"ops.tensor_scatter_{reduction}(x, ops.stack((self.coords0, ",))


def test_scatter_opset_10(keep_opset):
    inputs = {"x": (np.float32, (3, 3)), "i": (np.int64, (1, 2)), "u": (np.float32, (1, 2))}
    model = single_op("Scatter", ["x", "i", "u"], inputs, opset=10, axis=1)
    feeds = {"x": rand(3, 3), "i": np.array([[1, 2]], np.int64), "u": rand(1, 2, seed=2)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.tensor_scatter_elements(",))


@pytest.mark.parametrize("reduction, expected", [("none", "ops.tensor_scatter_update"), ("mul", "ops.tensor_scatter_mul")])
def test_scatter_nd(reduction, expected):
    inputs = {"x": (np.float32, (4, 3)), "i": (np.int64, (2, 1)), "u": (np.float32, (2, 3))}
    model = single_op("ScatterND", ["x", "i", "u"], inputs, opset=18, reduction=reduction)
    feeds = {"x": rand(4, 3), "i": np.array([[2], [0]], np.int64), "u": rand(2, 3, seed=2)}
    assert_parity(model, feeds=feeds, expect_layers=(expected,))


def test_non_zero_and_compress():
    assert_parity(single_op("NonZero", ["x"], {"x": (np.int32, (2, 3))}), expect_layers=("ops.nonzero(x)",))
    model = single_op("Compress", ["x", "c"], {"x": (np.float32, (3, 2)), "c": (np.bool_, (2,))}, axis=0)
    assert_parity(model, feeds={"x": rand(3, 2), "c": np.array([True, True])}, expect_layers=("ops.gather(x, ops.nonzero(c)",))


def test_one_hot_wraps_negative_indices():
    inputs = {"i": (np.int64, (2, 3))}
    inits = {"depth": np.array(4, np.int64), "values": np.array([-1.0, 2.0], np.float32)}
    model = single_op("OneHot", ["i", "depth", "values"], inputs, inits, axis=1)
    feeds = {"i": np.array([[0, -1, 3], [2, -4, 1]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.one_hot(ops.where(i < 0, i + 4, i), 4,",))


def test_det():
    assert_parity(single_op("Det", ["x"], {"x": (np.float32, (2, 3, 3))}), expect_layers=("ops.det(x)",))


def test_gather_nd_with_batch_dims():
    model = single_op("GatherND", ["x", "i"], {"x": (np.float32, (2, 3, 4)), "i": (np.int64, (2, 1, 2))}, batch_dims=1)
    feeds = {"x": rand(2, 3, 4), "i": np.array([[[1, 2]], [[0, 3]]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.concat((self.batch_coords, i), -1)",))


@pytest.mark.parametrize("batch_axis, time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence_with_runtime_lengths(batch_axis, time_axis):
    shape = [0, 0, 2]
    shape[batch_axis], shape[time_axis] = 3, 4
    inputs = {"x": (np.float32, tuple(shape)), "lens": (np.int64, (3,))}
    model = single_op("ReverseSequence", ["x", "lens"], inputs, batch_axis=batch_axis, time_axis=time_axis)
    feeds = {"x": rand(*shape), "lens": np.array([4, 1, 2], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=(f"ops.gather_elements(x, {time_axis}, ops.broadcast_to(ops.where(",))


def test_max_unpool():
    inputs = {"x": (np.float32, (1, 2, 2, 2)), "i": (np.int64, (1, 2, 2, 2))}
    model = single_op("MaxUnpool", ["x", "i"], inputs, kernel_shape=[2, 2], strides=[2, 2])
    feeds = {"x": rand(1, 2, 2, 2), "i": np.array([[[[0, 3], [9, 14]], [[17, 18], [24, 31]]]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.tensor_scatter_update(ops.zeros((32,), ms.float32), i.reshape(-1, 1)",))


def test_max_unpool_with_a_larger_output_shape():
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    node = helper.make_node("MaxUnpool", ["x", "i", "shape"], ["y"], name="/unpool/MaxUnpool", kernel_shape=[2, 2], strides=[2, 2])
    ins = [helper.make_tensor_value_info(n, t, [1, 1, 2, 2]) for n, t in (("x", TensorProto.FLOAT), ("i", TensorProto.INT64))]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 5, 5])
    init = [numpy_helper.from_array(np.array([1, 1, 5, 5], np.int64), "shape")]
    model = helper.make_model(helper.make_graph([node], "test", ins, [out], init), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": rand(1, 1, 2, 2), "i": np.array([[[[5, 7], [13, 15]]]], np.int64)}
    ref = ReferenceEvaluator(model)
    assert_parity(model, feeds=feeds, reference=lambda f: ref.run(None, f), expect_layers=("ops.pad(",))
