"""Parity tests for the sampling-grid emitters (onnx.AffineGrid)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity
from onnx import TensorProto, helper

from mindconverter.backend.emitters.grid import base_grid
from tests.backend.builders import rand, single_op

COVERS = {"onnx.AffineGrid"}


@pytest.mark.parametrize("align_corners", [0, 1])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 3, 3, 4, 5)], ids=["2d", "3d"])
def test_affine_grid_constant_size(size, align_corners):
    ndim = len(size) - 2
    model = single_op("AffineGrid", ["theta", "size"], {"theta": (np.float32, (2, ndim, ndim + 1))},
                      {"size": np.array(size, np.int64)}, opset=20, align_corners=align_corners)
    code = assert_parity(model, feeds={"theta": rand(2, ndim, ndim + 1, seed=3)},
                         expect_layers=(f"ops.reshape(ops.transpose(ops.matmul(theta, self.base_grid), (0, 2, 1)), {(-1, *size[2:], ndim)})",))
    assert "self.base_grid = " in code


def test_affine_grid_runtime_size_uses_the_declared_output_shape():
    # A size-1 axis with align_corners=1 is ill-defined (ONNX's reference gives -1, onnxruntime +1, PyTorch 0):
    # this case uses align_corners=0, where all agree on 0.
    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("theta", TensorProto.FLOAT, [2, 2, 3]),
                                            helper.make_tensor_value_info("size", TensorProto.INT64, [4])],
                              [helper.make_tensor_value_info("grid", TensorProto.FLOAT, [2, 5, 1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    feeds = {"theta": rand(2, 2, 3, seed=4), "size": np.array([2, 3, 5, 1], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("(-1, 5, 1, 2)",))


def test_base_grid_matches_the_onnx_reference():
    from onnx.reference.ops.op_affine_grid import construct_original_grid

    for spatial, align in [((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((1, 3), 0)]:
        ref = construct_original_grid(spatial, align)  # (*spatial, ndim + 1), (x, y[, z], 1) per point
        np.testing.assert_allclose(base_grid(spatial, bool(align)), ref.reshape(-1, len(spatial) + 1).T, atol=1e-12)
