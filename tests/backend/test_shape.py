"""Parity tests for the shape emitters (onnx.Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Shape, ConstantOfShape, CenterCropPad)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model
from onnx import TensorProto, helper

from tests.backend.builders import assert_same_dtypes, rand, single_op

COVERS = {
    "onnx.Reshape", "onnx.Flatten", "onnx.Transpose", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Shape",
    "onnx.ConstantOfShape", "onnx.Squeeze@1..12", "onnx.Unsqueeze@1..12", "onnx.CenterCropPad",
}

X = {"x": (np.float32, (2, 3, 4))}


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        (i64(6, 4), {}, "ops.reshape(x, (6, 4))"),
        (i64(2, -1), {}, "ops.reshape(x, (2, -1))"),
        (i64(0, -1), {}, "ops.reshape(x, (2, -1))"),  # 0 copies the input's dim
        (i64(0, 0, 2, 2), {"allowzero": 0}, "ops.reshape(x, (2, 3, 2, 2))"),
        (i64(-1), {}, "ops.reshape(x, (-1,))"),
    ],
)
def test_reshape(shape, attrs, expected):
    assert_parity(single_op("Reshape", ["x", "shape"], X, {"shape": shape}, **attrs), expect_layers=(expected,))


def test_reshape_copies_a_dynamic_dim_from_x():
    model = single_op("Reshape", ["x", "shape"], {"x": (np.float32, ("N", 3, 4))}, {"shape": i64(0, -1)})
    feeds = {"x": rand(5, 3, 4)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.reshape(x, (x.shape[0], -1))",))


def test_reshape_with_a_runtime_shape_gives_up():
    model = single_op("Reshape", ["x", "shape"], {"x": (np.float32, (2, 3, 4)), "shape": (np.int64, (2,))})
    gen, _, _ = convert_model(model, passes=False)
    assert "computed at run time" in gen.unsupported[0].reason


@pytest.mark.parametrize(
    "shape, axis, expected",
    [
        ((2, 3, 4), None, "ops.flatten(x)"),
        ((2, 3, 4), 0, "ops.reshape(x, (1, -1))"),
        ((2, 3, 4), 2, "ops.reshape(x, (6, -1))"),
        ((2, 3, 4, 5), -1, "ops.reshape(x, (24, -1))"),
        ((3, 4), 1, "ops.flatten(x)"),  # a no-op: the cleanup pass would remove it
    ],
)
def test_flatten(shape, axis, expected):
    attrs = {} if axis is None else {"axis": axis}
    model = single_op("Flatten", ["x"], {"x": (np.float32, shape)}, **attrs)
    assert_parity(model, passes=False, expect_layers=(expected,))


def test_flatten_with_dynamic_batch_keeps_it_dynamic():
    model = single_op("Flatten", ["x"], {"x": (np.float32, ("N", 3, 4))}, axis=2)
    assert_parity(model, feeds={"x": rand(3, 3, 4)}, expect_layers=("ops.reshape(x, (-1, 4))",))


@pytest.mark.parametrize("perm, expected", [(None, "ops.transpose(x, (2, 1, 0))"), ([0, 2, 1], "ops.transpose(x, (0, 2, 1))")])
def test_transpose(perm, expected):
    attrs = {} if perm is None else {"perm": perm}
    assert_parity(single_op("Transpose", ["x"], X, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "axes, expected",
    [(None, "ops.squeeze(x)"), (i64(1), "ops.squeeze(x, 1)"), (i64(-1, 1), "ops.squeeze(x, (1, 3))")],
)
def test_squeeze(axes, expected):
    inits = {} if axes is None else {"axes": axes}
    model = single_op("Squeeze", ["x", "axes"] if inits else ["x"], {"x": (np.float32, (2, 1, 3, 1))}, inits)
    assert_parity(model, expect_layers=(expected,))


@pytest.mark.parametrize("axes, expected", [(None, "ops.squeeze(x)"), ([-1], "ops.squeeze(x, 3)")])
def test_squeeze_opset_11_attribute(keep_opset, axes, expected):
    attrs = {} if axes is None else {"axes": axes}
    model = single_op("Squeeze", ["x"], {"x": (np.float32, (2, 1, 3, 1))}, opset=11, **attrs)
    assert_parity(model, expect_layers=(expected,))


@pytest.mark.parametrize(
    "axes, expected",
    [
        (i64(1), "ops.expand_dims(x, 1)"),
        (i64(0, 3), "ops.expand_dims(ops.expand_dims(x, 0), 3)"),
        (i64(-1, 0), "ops.expand_dims(ops.expand_dims(x, 0), 4)"),
    ],
)
def test_unsqueeze(axes, expected):
    model = single_op("Unsqueeze", ["x", "axes"], X, {"axes": axes})
    assert_parity(model, expect_layers=(expected,))


def test_unsqueeze_opset_11_attribute(keep_opset):
    model = single_op("Unsqueeze", ["x"], X, opset=11, axes=[-1, 1])
    assert_parity(model, expect_layers=("ops.expand_dims(ops.expand_dims(x, 1), 4)",))


def test_unsqueeze_scalar():
    model = single_op("Unsqueeze", ["x", "axes"], {"x": (np.float32, ())}, {"axes": i64(0)})
    assert_parity(model, feeds={"x": np.array(1.5, np.float32)})


@pytest.mark.parametrize("passes", [True, False])
@pytest.mark.parametrize(
    "op_type, shape, expected",
    [("Squeeze", (2, 1, 3), "ops.squeeze(x, 1)"), ("Unsqueeze", (2, 3), "ops.expand_dims(x, 2)")],
)
def test_rank_0_axes_constant(op_type, shape, expected, passes):
    # ONNX declares axes 1-D, but some exporters write a scalar for a single axis. onnxruntime's Squeeze
    # rejects that, so numpy is the reference.
    axis = 1 if op_type == "Squeeze" else -1
    model = single_op(op_type, ["x", "axes"], {"x": (np.float32, shape)}, {"axes": np.array(axis, np.int64)})
    numpy_op = np.squeeze if op_type == "Squeeze" else np.expand_dims
    assert_parity(model, passes=passes, expect_layers=(expected,), reference=lambda f: [numpy_op(f["x"], axis)])


@pytest.mark.parametrize("attrs, values", [({}, "[2, 3, 4]"), ({"start": 1}, "[3, 4]"), ({"start": -2, "end": -1}, "[3]")])
def test_shape_of_static_input_is_a_constant(attrs, values):
    model = single_op("Shape", ["x"], X, **attrs)
    code = assert_parity(model, passes=False)
    assert f"ms.Tensor({values}, ms.int64)" in code
    assert_same_dtypes(model, passes=False)


@pytest.mark.parametrize("attrs, expected", [({}, "ops.dyn_shape(x)"), ({"end": 2}, "ops.dyn_shape(x)[0:2]")])
def test_shape_of_dynamic_input(attrs, expected):
    model = single_op("Shape", ["x"], {"x": (np.float32, ("N", 3, 4))}, **attrs)
    assert_parity(model, feeds={"x": rand(5, 3, 4)}, passes=False, expect_layers=(expected,))
    assert_same_dtypes(model, {"x": rand(5, 3, 4)}, passes=False)


def value(dtype: int, v) -> dict:
    return {"value": helper.make_tensor("value", dtype, [1], [v])}


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({}, "ops.zeros((2, 3), ms.float32)"),
        (value(TensorProto.FLOAT, 1.5), "ops.full((2, 3), 1.5, dtype=ms.float32)"),
        (value(TensorProto.FLOAT, 1.0), "ops.ones((2, 3), ms.float32)"),
        (value(TensorProto.INT64, 7), "ops.full((2, 3), 7, dtype=ms.int64)"),
        (value(TensorProto.INT32, 0), "ops.zeros((2, 3), ms.int32)"),
        (value(TensorProto.BOOL, True), "ops.ones((2, 3), ms.bool_)"),
    ],
)
def test_constant_of_shape(attrs, expected):
    model = single_op("ConstantOfShape", ["shape"], {}, {"shape": i64(2, 3)}, **attrs)
    assert_parity(model, feeds={}, passes=False, expect_layers=(expected,))
    assert_same_dtypes(model, {}, passes=False)


@pytest.mark.parametrize("attrs, expected", [({}, "ops.zeros(s, ms.float32)"), (value(TensorProto.FLOAT, 2.5), "ops.fill(ms.float32, s, 2.5)")])
def test_constant_of_runtime_shape(attrs, expected):
    model = single_op("ConstantOfShape", ["s"], {"s": (np.int64, (2,))}, **attrs)
    assert_parity(model, feeds={"s": i64(2, 3)}, passes=False, expect_layers=(expected,))
    assert_same_dtypes(model, {"s": i64(2, 3)}, passes=False)


def test_reshape_allowzero_with_a_zero_gives_up():
    model = single_op("Reshape", ["x", "shape"], {"x": (np.float32, (0, 4))}, {"shape": i64(0, 2, 2)}, allowzero=1)
    gen, _, _ = convert_model(model, passes=False)
    assert "allowzero" in gen.unsupported[0].reason


@pytest.mark.parametrize("op_type, param, out_shape", [
    ("Unsqueeze", np.array([0, 3], np.int64), [1, 2, 3, 1, 4]),
    ("Squeeze", np.array([1], np.int64), [2, 4]),
    ("Reshape", np.array([4, -1], np.int64), [4, 3]),
])
def test_runtime_parameter_with_a_declared_output_shape_is_a_reshape(op_type, param, out_shape):
    shape = (2, 1, 4) if op_type == "Squeeze" else (2, 3, 4) if op_type != "Reshape" else (2, 6)
    node = helper.make_node(op_type, ["x", "p"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)),
                                            helper.make_tensor_value_info("p", TensorProto.INT64, [len(param)])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": rand(*shape), "p": param}
    assert_parity(model, feeds=feeds, expect_layers=(f"ops.reshape(x, {tuple(out_shape)})",))


@pytest.mark.parametrize(
    "shape, target, attrs, expected",
    [
        ((20, 10, 3), (10, 7, 3), {}, "x[5:15, 1:8]"),  # odd difference: the extra row comes off the end
        ((10, 7, 3), (20, 10, 3), {}, "ops.pad(x, (0, 0, 1, 2, 5, 5))"),
        ((20, 8, 3), (10, 9), {"axes": [0, -2]}, "ops.pad(x[5:15], (0, 0, 0, 1))"),
        ((3, 20, 8), (10, 9), {"axes": [1, 2]}, "ops.pad(x[:, 5:15], (0, 1))"),
    ],
)
def test_center_crop_pad(shape, target, attrs, expected):
    model = single_op("CenterCropPad", ["x", "shape"], {"x": (np.float32, shape)}, {"shape": np.array(target, np.int64)},
                      opset=18, **attrs)
    assert_parity(model, feeds={"x": rand(*shape)}, expect_layers=(expected,))


def test_center_crop_pad_runtime_shape_uses_the_declared_output_shape():
    node = helper.make_node("CenterCropPad", ["x", "s"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT64, [5, 4]),
                                            helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2, 7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    feeds = {"x": np.arange(20, dtype=np.int64).reshape(5, 4), "s": i64(2, 7)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.pad(x[1:3], (1, 2))",))
