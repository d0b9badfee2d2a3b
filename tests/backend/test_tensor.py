"""Parity tests for the tensor plumbing emitters (onnx.Identity, Cast, Concat, Gather, Slice, Pad)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model
from onnx import TensorProto

from tests.backend.builders import assert_same_dtypes, rand, single_op

COVERS = {
    "onnx.Identity", "onnx.Cast", "onnx.Concat", "onnx.Gather", "onnx.Slice", "onnx.Pad", "onnx.CastLike", "onnx.Split",
    "onnx.Expand", "onnx.Tile", "onnx.Range", "onnx.Trilu", "onnx.Size", "onnx.EyeLike", "onnx.DepthToSpace", "onnx.SpaceToDepth",
}

X = {"x": (np.float32, (2, 3, 4))}


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def test_identity():
    code = assert_parity(single_op("Identity", ["x"], X), passes=False)
    assert "identity = x" in code


@pytest.mark.parametrize(
    "src, to, expected",
    [
        (np.float32, TensorProto.INT64, "ops.cast(x, ms.int64)"),  # truncates toward zero, like ONNX
        (np.int64, TensorProto.FLOAT, "ops.cast(x, ms.float32)"),
        (np.float32, TensorProto.BOOL, "ops.cast(x, ms.bool_)"),
        (np.float32, TensorProto.FLOAT16, "ops.cast(x, ms.float16)"),
        (np.int64, TensorProto.INT32, "ops.cast(x, ms.int32)"),
        (np.float32, TensorProto.FLOAT, "cast = x"),
    ],
)
def test_cast(src, to, expected):
    model = single_op("Cast", ["x"], {"x": (src, (3, 4))}, to=to)
    feeds = {"x": (rand(3, 4) * 3).astype(src)}
    assert_parity(model, feeds=feeds, passes=False, expect_layers=(expected,))
    assert_same_dtypes(model, feeds, passes=False)


@pytest.mark.parametrize(
    "shapes, dtype, axis, expected",
    [
        ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], np.float32, 1, "ops.concat((a0, a1, a2), axis=1)"),
        ([(2, 3), (1, 3)], np.int64, 0, "ops.concat((a0, a1), axis=0)"),
        ([(2, 3), (2, 2)], np.float32, -1, "ops.concat((a0, a1), axis=-1)"),
    ],
)
def test_concat(shapes, dtype, axis, expected):
    inputs = {f"a{i}": (dtype, s) for i, s in enumerate(shapes)}
    model = single_op("Concat", list(inputs), inputs, axis=axis)
    assert_parity(model, expect_layers=(expected,))
    assert_same_dtypes(model)


@pytest.mark.parametrize(
    "indices, axis, expected",
    [
        (i64(0, 2), 1, "ops.gather(x, self.indices, 1)"),
        (i64(-1, 0), 1, "ms.Tensor([2, 0], ms.int64)"),  # negative constant indices resolved now (trap 13)
        (np.array([[0, 3], [-2, 1]], np.int64), 2, "ops.gather(x, self.indices, 2)"),
        (np.array(1, np.int64), 0, "x[1]"),
        (np.array(-1, np.int64), 1, "x[:, 2]"),
        (np.array([1], np.int32), 0, "ops.gather(x, self.indices, 0)"),
    ],
)
def test_gather_constant_indices(indices, axis, expected):
    model = single_op("Gather", ["x", "i"], X, {"i": indices}, axis=axis)
    assert_parity(model, expect_layers=(expected,))


def test_gather_runtime_negative_indices():
    model = single_op("Gather", ["x", "i"], {"x": (np.float32, (2, 3, 4)), "i": (np.int64, (2, 2))}, axis=1)
    feeds = {"x": rand(2, 3, 4), "i": np.array([[-1, 0], [2, -3]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.gather(x, i, 1)",))


def test_gather_int64_data():
    model = single_op("Gather", ["x", "i"], {"x": (np.int64, (5,))}, {"i": np.array(3, np.int64)})
    assert_parity(model, expect_layers=("x[3]",))
    assert_same_dtypes(model)


BIG = 2**63 - 1


@pytest.mark.parametrize(
    "starts, ends, axes, steps, expected",
    [
        ([1], [2], [1], None, "x[:, 1:2]"),
        ([0, 1], [BIG, -1], [1, 2], None, "x[:, :, 1:3]"),
        ([1], [BIG], [1], [2], "x[:, 1::2]"),
        ([-1], [-BIG], [2], [-1], "x[:, :, ::-1]"),
        ([2], [0], [2], [-1], "x[:, :, 2:0:-1]"),
        ([10], [-10], [1], [-2], "x[:, ::-2]"),
        ([-3], [100], [-1], None, "x[:, :, 1:]"),
        ([0, 0, 1], [1, 2, 2], None, None, "x[:1, :2, 1:2]"),
    ],
)
def test_slice(starts, ends, axes, steps, expected):
    inits = {"starts": i64(*starts), "ends": i64(*ends)}
    if axes is not None:
        inits["axes"] = i64(*axes)
    if steps is not None:
        inits["steps"] = i64(*steps)
    names = ["x", "starts", "ends"] + (["axes"] if axes is not None else [""] if steps is not None else [])
    names += ["steps"] if steps is not None else []
    assert_parity(single_op("Slice", names, X, inits), expect_layers=(expected,))


def test_slice_dynamic_dim_keeps_raw_bounds():
    inits = {"starts": i64(1), "ends": i64(BIG), "axes": i64(0)}
    model = single_op("Slice", ["x", "starts", "ends", "axes"], {"x": (np.float32, ("N", 3))}, inits)
    assert_parity(model, feeds={"x": rand(5, 3)}, expect_layers=("x[1:]",))


def test_slice_selecting_nothing_is_an_empty_tensor():
    inits = {"starts": i64(3), "ends": i64(1), "axes": i64(1)}
    assert_parity(single_op("Slice", ["x", "starts", "ends", "axes"], X, inits), passes=False, expect_layers=("x[:, 0:0]",))


def test_split_with_an_empty_part():
    code = assert_parity(single_op("Split", ["x", "split"], X, {"split": i64(3, 0)}, outputs=2, axis=1))
    assert "x[:, 3:3]" in code


@pytest.mark.parametrize(
    "shape, pads, mode, value, expected",
    [
        ((1, 2, 4, 5), [0, 0, 1, 2, 0, 0, 2, 1], "constant", 0.5, "ops.pad(x, (2, 1, 1, 2), value=0.5)"),
        ((1, 2, 4, 5), [0, 1, 0, 0, 0, 2, 0, 0], "constant", None, "ops.pad(x, (0, 0, 0, 0, 1, 2))"),
        ((1, 2, 4, 5), [0, 0, 0, -1, 0, 0, -2, 0], "constant", None, "ops.pad(x, (-1, 0, 0, -2))"),
        ((1, 2, 4, 5), [0, 0, 1, 2, 0, 0, 2, 1], "reflect", None, 'ops.pad(x, (2, 1, 1, 2), "reflect")'),
        ((1, 2, 4, 5), [0, 0, 0, 2, 0, 0, 0, 1], "edge", None, 'ops.pad(x, (2, 1, 0, 0), "replicate")'),
        ((1, 2, 4, 5), [0, 0, 1, 2, 0, 0, 2, 1], "wrap", None, 'ops.pad(x, (2, 1, 1, 2), "circular")'),
        ((2, 3, 4), [0, 0, 1, 0, 0, 2], "reflect", None, 'ops.pad(x, (1, 2), "reflect")'),
        ((1, 2, 3, 4, 5), [0, 0, 1, 1, 1, 0, 0, 1, 1, 1], "edge", None, '"replicate"'),
        ((4, 5), [1, 0, 2, 0], "constant", None, "ops.pad(x, (0, 0, 1, 2))"),
    ],
)
def test_pad(shape, pads, mode, value, expected):
    inits = {"pads": i64(*pads)}
    names = ["x", "pads"]
    if value is not None:
        inits["value"] = np.array(value, np.float32)
        names.append("value")
    model = single_op("Pad", names, {"x": (np.float32, shape)}, inits, mode=mode)
    assert_parity(model, expect_layers=(expected,))


def test_pad_int64_constant_value():
    inits = {"pads": i64(1, 0, 0, 2), "value": np.array(7, np.int64)}
    model = single_op("Pad", ["x", "pads", "value"], {"x": (np.int64, (3, 4))}, inits)
    assert_parity(model, expect_layers=("ops.pad(x, (0, 2, 1, 0), value=7)",))
    assert_same_dtypes(model)


def test_pad_axes_opset_18():
    inits = {"pads": i64(1, 2, 0, 1), "axes": i64(-1, 1)}
    model = single_op("Pad", ["x", "pads", "", "axes"], {"x": (np.float32, (1, 2, 4, 5))}, inits, opset=18, mode="edge")
    assert_parity(model, expect_layers=('ops.pad(x, (1, 0, 0, 0, 2, 1), "replicate")',))


def test_pad_reflect_batch_dim_gives_up():
    model = single_op("Pad", ["x", "pads"], X, {"pads": i64(1, 0, 0, 1, 0, 0)}, mode="reflect")
    gen, _, _ = convert_model(model)
    assert "never dim 0" in gen.unsupported[0].reason


def test_cast_like():
    model = single_op("CastLike", ["x", "like"], {"x": (np.float32, (3, 4)), "like": (np.int32, (1,))})
    feeds = {"x": rand(3, 4) * 3, "like": np.zeros(1, np.int32)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.cast(x, ms.int32)",))


@pytest.mark.parametrize("inputs, inits, attrs, outputs, opset", [
    (["x", "split"], {"split": i64(1, 3)}, {"axis": 2}, 2, 13),
    (["x"], {}, {"axis": 1, "num_outputs": 2}, 2, 18),  # uneven: sizes 2 and 1
])
def test_split(inputs, inits, attrs, outputs, opset):
    code = assert_parity(single_op("Split", inputs, X, inits, opset=opset, outputs=outputs, **attrs))
    assert "x[:, " in code


@pytest.mark.parametrize("shape, dtype", [((2, 1, 4), np.float32), ((3, 1), np.bool_)])
def test_expand_with_a_runtime_shape(shape, dtype):
    model = single_op("Expand", ["x", "shape"], {"x": (dtype, (3, 1)), "shape": (np.int64, (len(shape),))})
    feeds = {"x": (rand(3, 1) > 0).astype(dtype), "shape": np.array(shape, np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.zeros(shape",))


def test_expand_bidirectional_to_a_constant_shape():
    model = single_op("Expand", ["x", "shape"], {"x": (np.float32, (3, 4))}, {"shape": i64(2, 1, 1)})
    assert_parity(model, expect_layers=("ops.broadcast_to(x, (2, 3, 4))",))


def test_tile_with_a_runtime_repeats_reads_the_output_shape():
    model = single_op("Tile", ["x", "repeats"], {"x": (np.int64, (2, 3)), "repeats": (np.int64, (2,))},
                      initializers=None)
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 4  # as the model would declare it
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 3
    feeds = {"x": np.arange(6, dtype=np.int64).reshape(2, 3), "repeats": i64(2, 1)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.tile(x, (2, 1))",))


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_range(dtype):
    model = single_op("Range", ["start", "limit", "delta"], {n: (dtype, ()) for n in ("start", "limit", "delta")})
    feeds = {"start": np.array(10, dtype), "limit": np.array(2, dtype), "delta": np.array(-3, dtype)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.range(start, limit, delta)",))


@pytest.mark.parametrize("upper, k, expected", [(1, i64(1), "ops.triu(x, 1)"), (0, None, "ops.where(self.diagonal_offset <= k")])
def test_trilu(upper, k, expected):
    inits = {"k": k} if k is not None else {}
    inputs = dict(X, **({} if k is not None else {"k": (np.int64, ())}))
    feeds = {"x": rand(2, 3, 4)} | ({} if k is not None else {"k": np.array(-1, np.int64)})
    assert_parity(single_op("Trilu", ["x", "k"], inputs, inits, upper=upper), feeds=feeds, expect_layers=(expected,))


def test_size_and_eye_like():
    assert_parity(single_op("Size", ["x"], X), expect_layers=("self.size",))
    model = single_op("EyeLike", ["x"], {"x": (np.int32, (3, 4))}, k=1, dtype=TensorProto.FLOAT)
    assert_parity(model, passes=False)


@pytest.mark.parametrize("op_type, mode, expected", [
    ("DepthToSpace", "DCR", "self.depthtospace = ops.DepthToSpace(2)"),
    ("DepthToSpace", "CRD", "self.depthtospace = nn.PixelShuffle(2)"),
    ("SpaceToDepth", None, "self.spacetodepth = ops.SpaceToDepth(2)"),
])
def test_depth_space(op_type, mode, expected):
    shape = (1, 8, 2, 3) if op_type == "DepthToSpace" else (1, 2, 4, 6)
    attrs = {"blocksize": 2} | ({"mode": mode} if mode else {})
    assert_parity(single_op(op_type, ["x"], {"x": (np.float32, shape)}, **attrs), expect_layers=(expected,))


def test_pixel_shuffle_called_as_a_function_stays_a_function():
    """F.pixel_shuffle(x, 2) in a module's own scope: ops.pixel_shuffle, no member."""
    model = single_op("DepthToSpace", ["x"], {"x": (np.float32, (1, 8, 2, 3))}, blocksize=2, mode="CRD", name="/DepthToSpace")
    code = assert_parity(model)
    assert "ops.pixel_shuffle(x, 2)" in code and "nn.PixelShuffle" not in code, code


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_with_runtime_pads_gathers_to_the_declared_shape(mode):
    from onnx import helper

    node = helper.make_node("Pad", ["x", "pads", "v"] if mode == "constant" else ["x", "pads"], ["y"], mode=mode)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]),
              helper.make_tensor_value_info("pads", TensorProto.INT64, [6])]
    if mode == "constant":
        inputs.append(helper.make_tensor_value_info("v", TensorProto.FLOAT, []))
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": rand(2, 3, 4), "pads": i64(0, 2, 1, 0, 0, -2)} | ({"v": np.array(1.5, np.float32)} if mode == "constant" else {})
    assert_parity(model, feeds=feeds, expect_layers=("class RuntimePad(nn.Cell)",))


def test_size_of_a_dynamic_shape():
    model = single_op("Size", ["x"], {"x": (np.float32, ("N", 3))})
    assert_parity(model, feeds={"x": rand(5, 3)}, expect_layers=("ops.size(x)",))


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu_empty_input(upper):
    model = single_op("Trilu", ["x", "k"], {"x": (np.int64, (3, 0, 5)), "k": (np.int64, ())}, upper=upper)
    assert_parity(model, feeds={"x": np.zeros((3, 0, 5), np.int64), "k": np.array(6, np.int64)})
