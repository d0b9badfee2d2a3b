"""Parity tests for the detection emitters (NonMaxSuppression, Col2Im, Unique), in PYNATIVE and GRAPH mode."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {"onnx.NonMaxSuppression", "onnx.Col2Im", "onnx.Unique"}

# Two batches, six boxes (y1, x1, y2, x2): overlapping pairs, a flipped box, a zero-area box, tied scores.
BOXES = np.array([
    [[0.0, 0.0, 1.0, 1.0], [0.0, 0.1, 1.0, 1.1], [0.0, -0.1, 1.0, 0.9],
     [0.0, 10.0, 1.0, 11.0], [1.0, 10.1, 0.0, 11.1], [0.0, 100.0, 0.0, 101.0]],
    [[5.0, 5.0, 7.0, 7.0], [5.5, 5.5, 7.5, 7.5], [0.0, 0.0, 1.0, 1.0],
     [0.2, 0.2, 1.2, 1.2], [9.0, 9.0, 10.0, 10.0], [5.0, 5.0, 7.0, 7.0]],
], np.float32)
SCORES = np.array([
    [[0.9, 0.75, 0.6, 0.95, 0.5, 0.3], [0.1, 0.8, 0.8, 0.2, 0.9, 0.7]],
    [[0.4, 0.9, 0.3, 0.35, 0.2, 0.4], [0.5, 0.5, 0.5, 0.6, 0.1, 0.7]],
], np.float32)
NMS_INPUTS = {"boxes": (np.float32, (2, 6, 4)), "scores": (np.float32, (2, 2, 6))}


def _nms(limits: dict[str, np.ndarray], runtime: bool = False, **attrs):
    names = ["max", "iou", "score"]
    node_inputs = ["boxes", "scores"] + [n if n in limits else "" for n in names]
    while node_inputs[-1] == "":
        node_inputs.pop()
    if runtime:
        inputs = dict(NMS_INPUTS, **{n: (v.dtype, v.shape) for n, v in limits.items()})
        return single_op("NonMaxSuppression", node_inputs, inputs, **attrs), dict(limits)
    return single_op("NonMaxSuppression", node_inputs, NMS_INPUTS, initializers=limits, **attrs), {}


@pytest.mark.parametrize("limits", [
    {"max": np.array([3], np.int64), "iou": np.array([0.5], np.float32), "score": np.array([0.25], np.float32)},
    {"max": np.array([10], np.int64), "iou": np.array([0.0], np.float32)},
    {"max": np.array([1], np.int64)},
    {},  # max_output_boxes_per_class absent: 0, nothing is selected
], ids=["all", "no-score", "max-only", "none"])
def test_non_max_suppression(limits):
    model, extra = _nms(limits)
    assert_parity(model, feeds={"boxes": BOXES, "scores": SCORES, **extra}, expect_layers=("class NonMaxSuppression(nn.Cell)",))


def test_non_max_suppression_center_point_box_with_runtime_limits():
    limits = {"max": np.array([2], np.int64), "iou": np.array([0.4], np.float32), "score": np.array([0.0], np.float32)}
    model, extra = _nms(limits, runtime=True, center_point_box=1)
    boxes = np.abs(rand(2, 6, 4, seed=4)) + np.array([0, 0, 0.5, 0.5], np.float32)
    scores = np.random.default_rng(5).random((2, 2, 6)).astype(np.float32)
    code = assert_parity(model, feeds={"boxes": boxes, "scores": scores, **extra})
    assert "NonMaxSuppression(center_point_box=1)" in code


@pytest.mark.parametrize("attrs, image, block, cols", [
    ({}, [5, 5], [1, 5], (1, 5, 5)),
    ({"strides": [2, 2], "pads": [0, 1, 1, 0]}, [5, 4], [3, 3], (2, 18, 4)),
    ({"dilations": [1, 2]}, [6, 6], [2, 2], (1, 8, 20)),
    ({}, [3, 4, 5], [1, 1, 5], (1, 10, 12)),
], ids=["basic", "strides-pads", "dilations", "3d"])
def test_col2im(attrs, image, block, cols):
    shapes = {"image": np.array(image, np.int64), "block": np.array(block, np.int64)}
    model = single_op("Col2Im", ["x", "image", "block"], {"x": (np.float32, cols)}, initializers=shapes, opset=18, **attrs)
    assert_parity(model, feeds={"x": rand(*cols)}, expect_layers=('ops.tensor_scatter_elements(ops.zeros((', '"add")'))


def test_col2im_with_a_runtime_block_shape():
    inputs = {"x": (np.float32, (2, 18, 4)), "block": (np.int64, (2,))}
    model = single_op("Col2Im", ["x", "image", "block"], inputs, initializers={"image": np.array([5, 4], np.int64)},
                      opset=18, strides=[2, 2], pads=[0, 1, 1, 0])
    # shape inference cannot tell the channels (18 / prod(block)): declare them, as exporters usually do
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 2
    feeds = {"x": rand(2, 18, 4), "block": np.array([3, 3], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("class Col2Im(nn.Cell)",))


UNIQUE_X = np.array([[2.0, 1.0, 2.0, -1.0], [1.0, 3.0, 1.0, 0.5], [2.0, 1.0, 2.0, -1.0]], np.float32)


@pytest.mark.parametrize("attrs", [{}, {"sorted": 0}, {"axis": 0}, {"axis": -1}, {"axis": 1, "sorted": 0}],
                         ids=["flat", "flat-unsorted", "axis0", "axis-1", "axis1-unsorted"])
def test_unique(attrs):
    model = single_op("Unique", ["x"], {"x": (np.float32, (3, 4))}, opset=11, outputs=4, **attrs)
    assert_parity(model, feeds={"x": UNIQUE_X}, expect_layers=("class Unique(nn.Cell)",))


def test_unique_3d_int_with_only_y():
    x = np.array([[[1, 1], [0, 1], [2, 1], [0, 1]], [[1, 1], [0, 1], [2, 1], [0, 1]]], np.int64)
    model = single_op("Unique", ["x"], {"x": (np.int64, (2, 4, 2))}, opset=11, axis=1)
    code = assert_parity(model, feeds={"x": x})
    assert "(x)[0]" in code
