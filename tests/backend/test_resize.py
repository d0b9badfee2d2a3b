"""Parity tests for the resize emitters (onnx.Resize at opsets 10 and >= 11, onnx.Upsample)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model

from tests.backend.builders import single_op

COVERS = {"onnx.Resize", "onnx.Resize@10..10", "onnx.Upsample@7..9"}


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


def test_resize_linear_to_size_1_pytorch_half_pixel_gives_up():
    # ONNX reads pixel 0 for a size-1 output; ops.interpolate reads the centre (half_pixel)
    gen, _, _ = convert_model(resize((1, 2, 4, 4), sizes=[1, 2, 1, 3], mode="linear", coordinate_transformation_mode="pytorch_half_pixel"))
    assert "pytorch_half_pixel" in gen.unsupported[0].reason


def test_resize_sizes_with_axes_opset_18():
    model = single_op("Resize", ["x", "", "", "sizes"], {"x": (np.float32, (1, 2, 4, 4))}, {"sizes": np.array([6, 8], np.int64)},
                      opset=18, mode="linear", axes=[2, 3])
    assert_parity(model, expect_layers=('size=(6, 8), mode="bilinear"',))


def test_resize_cubic_gives_up():
    gen, _, _ = convert_model(resize((1, 2, 4, 4), [1, 1, 2, 2], mode="cubic"))
    assert [u.op_name for u in gen.unsupported] == ["onnx.Resize"]
    assert "cubic" in gen.unsupported[0].reason


def test_resize_linear_with_a_fractional_scale_gives_up():
    gen, _, _ = convert_model(resize((1, 2, 4, 4), [1, 1, 1.7, 1.7], mode="linear"))
    assert "MindSpore resizes with 6/4" in gen.unsupported[0].reason


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
