"""Parity tests for the resize emitters (onnx.Resize at opsets 10 and >= 11, onnx.Upsample)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {"onnx.Resize", "onnx.Resize@10..10", "onnx.Upsample@7..9", "onnx.GridSample", "onnx.RoiAlign"}


def resize(shape: tuple, scales=None, sizes=None, opset: int = 17, **attrs):
    inits, names = {}, ["x", ""]
    if scales is not None:
        inits["scales"] = np.array(scales, np.float32)
        names.append("scales")
    else:
        inits["sizes"] = np.array(sizes, np.int64)
        names += ["", "sizes"]
    return single_op("Resize", names, {"x": (np.float32, shape)}, inits, opset=opset, **attrs)


@pytest.mark.parametrize(
    "shape, scales, sizes, attrs, expected",
    [
        ((1, 2, 4, 4), [1, 1, 2, 2], None, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
         "ops.interpolate(x, size=(8, 8))"),
        # ONNX's default half_pixel + round_prefer_floor reads the same pixels for these sizes
        ((1, 2, 4, 4), [1, 1, 2, 2], None, {}, "ops.interpolate(x, size=(8, 8))"),
        ((1, 2, 4, 4), None, [1, 2, 6, 6], {}, "ops.interpolate(x, size=(6, 6))"),
        ((1, 2, 8, 8), [1, 1, 0.5, 0.5], None, {}, "ops.interpolate(x, size=(4, 4))"),
        ((1, 2, 5), [1, 1, 3], None, {}, "ops.interpolate(x, size=(15,))"),
        ((1, 2, 2, 3, 3), [1, 1, 2, 2, 2], None, {}, "ops.interpolate(x, size=(4, 6, 6))"),
        # where ops.interpolate would read other pixels: exact gathers with precomputed indices
        ((1, 2, 4, 4), [1, 1, 2, 2], None, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "round_prefer_ceil"},
         "ops.gather(ops.gather(x, "),
        ((1, 2, 4, 4), None, [1, 2, 7, 5], {"coordinate_transformation_mode": "align_corners"}, "ops.gather("),
        ((1, 2, 4, 4), [1, 1, 1.7, 1.7], None, {"nearest_mode": "ceil"}, "ops.gather("),
        ((1, 2, 4, 4), [1, 1, 3, 2], None, {"coordinate_transformation_mode": "tf_half_pixel_for_nn"}, "ops.gather("),
    ],
)
def test_resize_nearest(shape, scales, sizes, attrs, expected):
    assert_parity(resize(shape, scales, sizes, mode="nearest", **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "shape, scales, sizes, ctm, expected",
    [
        ((1, 2, 4, 4), [1, 1, 2, 2], None, "half_pixel", 'size=(8, 8), mode="bilinear")'),
        ((1, 2, 4, 4), None, [1, 2, 6, 7], "pytorch_half_pixel", 'size=(6, 7), mode="bilinear")'),
        ((1, 2, 8, 8), None, [1, 2, 6, 3], "half_pixel", 'size=(6, 3), mode="bilinear")'),
        ((1, 2, 4, 4), None, [1, 2, 6, 6], "align_corners", 'size=(6, 6), mode="bilinear", align_corners=True'),
        ((1, 2, 4, 4), None, [1, 2, 6, 7], "asymmetric", "self.resize(x, (6, 7))"),
        ((1, 2, 4), [1, 1, 2], None, "half_pixel", 'size=(8,), mode="linear")'),
        ((1, 2, 3, 4, 4), [1, 1, 2, 2, 2], None, "half_pixel", 'size=(6, 8, 8), mode="trilinear")'),
        ((1, 2, 3, 4, 4), None, [1, 2, 5, 6, 6], "align_corners", 'mode="trilinear", align_corners=True'),
    ],
)
def test_resize_linear(shape, scales, sizes, ctm, expected):
    code = assert_parity(resize(shape, scales, sizes, mode="linear", coordinate_transformation_mode=ctm), expect_layers=(expected,))
    if ctm == "asymmetric":
        assert "self.resize = ops.ResizeBilinearV2()" in code


def test_resize_linear_to_size_1_half_pixel():
    model = resize((1, 2, 4, 4), sizes=[1, 2, 1, 3], mode="linear")
    assert_parity(model, expect_layers=('ops.interpolate(x, size=(1, 3), mode="bilinear")',))


def test_resize_linear_to_size_1_pytorch_half_pixel_is_a_matmul():
    # ONNX reads pixel 0 for a size-1 output, ops.interpolate the centre: an interpolation matrix is exact
    model = resize((1, 2, 4, 4), sizes=[1, 2, 1, 3], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
    assert_parity(model, expect_layers=("ops.matmul(",))


def test_resize_sizes_with_axes_opset_18():
    model = single_op("Resize", ["x", "", "", "sizes"], {"x": (np.float32, (1, 2, 4, 4))}, {"sizes": np.array([6, 8], np.int64)},
                      opset=18, mode="linear", axes=[2, 3])
    assert_parity(model, expect_layers=('size=(6, 8), mode="bilinear"',))


@pytest.mark.parametrize("attrs", [{}, {"coordinate_transformation_mode": "align_corners"},
                                   {"cubic_coeff_a": -0.5, "exclude_outside": 1}])
def test_resize_cubic_is_a_pair_of_matmuls(attrs):
    code = assert_parity(resize((1, 2, 4, 4), [1, 1, 2, 1.5], mode="cubic", **attrs))
    assert "ops.matmul(self.resize_rows" in code and "self.resize_cols)" in code


def test_resize_linear_with_a_fractional_scale_is_a_matmul():
    # ONNX maps back with the given scale 1.7, MindSpore's resizers with 6/4: the matrix uses 1.7
    assert_parity(resize((1, 2, 4, 4), [1, 1, 1.7, 1.7], mode="linear"), expect_layers=("ops.matmul(",))


def test_resize_with_runtime_sizes_uses_the_static_output_shape():
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="cubic")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4]),
                                            helper.make_tensor_value_info("sizes", TensorProto.INT64, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 6, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": rand(1, 1, 4, 4), "sizes": np.array([1, 1, 6, 3], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.matmul(",))


@pytest.mark.parametrize("mode, ctm", [("linear", "pytorch_half_pixel"), ("linear", "align_corners"), ("nearest", "asymmetric")])
def test_resize_of_a_dynamic_batch_to_constant_spatial_sizes(mode, ctm):
    """torch's F.interpolate(x, size=(6, 5)) with a dynamic batch: sizes = Concat(Shape(x)[:2], [6, 5]), known at run time only."""
    from onnx import TensorProto, helper, numpy_helper

    c = helper.make_node
    nodes = [c("Shape", ["x"], ["shape"]), c("Slice", ["shape", "zero", "two"], ["nc"]),
             c("Concat", ["nc", "hw"], ["sizes"], axis=0),
             c("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, coordinate_transformation_mode=ctm, nearest_mode="floor")]
    inits = {"zero": np.array([0], np.int64), "two": np.array([2], np.int64), "hw": np.array([6, 5], np.int64)}
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 6, 5])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    code = assert_parity(model, feeds={"x": rand(3, 2, 4, 4)})
    assert "UnsupportedOp" not in code and "NotImplementedError" not in code, code


@pytest.mark.parametrize("attrs", [{"mode": "bilinear", "padding_mode": "border"},
                                   {"mode": "nearest", "align_corners": 1}])
def test_grid_sample(attrs):
    model = single_op("GridSample", ["x", "grid"], {"x": (np.float32, (1, 2, 4, 5)), "grid": (np.float32, (1, 3, 3, 2))},
                      opset=16, **attrs)
    feeds = {"x": rand(1, 2, 4, 5), "grid": rand(1, 3, 3, 2, seed=2) * 0.8}
    assert_parity(model, feeds=feeds, expect_layers=("ops.grid_sample(",))


def test_resize_opset_10(keep_opset):
    model = single_op("Resize", ["x", "scales"], {"x": (np.float32, (1, 2, 4, 4))}, {"scales": np.array([1, 1, 2, 3], np.float32)},
                      opset=10, mode="nearest")
    assert_parity(model, expect_layers=("ops.interpolate(x, size=(8, 12))",))


@pytest.mark.parametrize("mode, expected", [("nearest", "ops.interpolate(x, size=(8, 8))"), ("linear", "self.upsample(x, (8, 8))")])
def test_upsample_opset_9(keep_opset, mode, expected):
    model = single_op("Upsample", ["x", "scales"], {"x": (np.float32, (1, 2, 4, 4))}, {"scales": np.array([1, 1, 2, 2], np.float32)},
                      opset=9, mode=mode)
    assert_parity(model, expect_layers=(expected,))


def test_upsample_opset_7_scales_attribute(keep_opset):
    model = single_op("Upsample", ["x"], {"x": (np.float32, (1, 2, 3, 4))}, opset=7, scales=[1.0, 1.0, 2.0, 3.0])
    assert_parity(model, expect_layers=("ops.interpolate(x, size=(6, 12))",))


def test_resize_opset_11_empty_scales_with_sizes(keep_opset):
    inits = {"roi": np.zeros(0, np.float32), "scales": np.zeros(0, np.float32), "sizes": np.array([1, 2, 8, 6], np.int64)}
    model = single_op("Resize", ["x", "roi", "scales", "sizes"], {"x": (np.float32, (1, 2, 4, 4))}, inits, opset=11,
                      mode="linear", coordinate_transformation_mode="align_corners")
    assert_parity(model, expect_layers=('ops.interpolate(x, size=(8, 6), mode="bilinear", align_corners=True)',))


def test_roi_align_output_half_pixel():
    inputs = {"x": (np.float32, (1, 2, 6, 6)), "rois": (np.float32, (2, 4)), "b": (np.int64, (2,))}
    model = single_op("RoiAlign", ["x", "rois", "b"], inputs, opset=16, coordinate_transformation_mode="output_half_pixel",
                      output_height=2, output_width=2, sampling_ratio=2, spatial_scale=0.5)
    feeds = {"x": rand(1, 2, 6, 6), "rois": np.array([[0, 0, 8, 8], [2, 2, 10, 6]], np.float32), "b": np.zeros(2, np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("ops.ROIAlign(2, 2, 0.5, 2, roi_end_mode=0)",))


@pytest.mark.parametrize("attrs", [{"mode": "linear", "coordinate_transformation_mode": "align_corners"},
                                   {"mode": "nearest", "nearest_mode": "floor"}, {"mode": "cubic"}])
def test_resize_with_runtime_scales_builds_the_matrices_at_run_time(attrs):
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4]),
                                            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    # in * scale is whole: onnxruntime and the ONNX reference differ for fractional ones (align_corners)
    feeds = {"x": rand(1, 2, 4, 4), "scales": np.array([1, 1, 1.5, 0.5], np.float32)}
    assert_parity(model, feeds=feeds, expect_layers=("class ScaledResize(nn.Cell)",))


@pytest.mark.parametrize("policy, out", [("not_larger", [1, 1, 6, 3]), ("not_smaller", [1, 1, 8, 4])])
def test_resize_keep_aspect_ratio(policy, out):
    model = single_op("Resize", ["x", "", "", "sizes"], {"x": (np.float32, (1, 1, 4, 2))}, {"sizes": np.array([6, 4], np.int64)},
                      opset=18, mode="nearest", axes=[2, 3], keep_aspect_ratio_policy=policy)
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == out
    assert_parity(model, expect_layers=("ops.amin(" if policy == "not_larger" else "ops.amax(",))
