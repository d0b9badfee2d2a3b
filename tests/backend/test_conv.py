"""Parity tests for the convolution emitters (onnx.Conv, onnx.ConvTranspose)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model

from tests.backend.builders import rand, single_op

COVERS = {"onnx.Conv", "onnx.ConvTranspose"}


def conv_model(op_type: str, x_shape: tuple, w_shape: tuple, bias: bool = True, **attrs):
    inits = {"w": rand(*w_shape)}
    out_c = w_shape[0] if op_type == "Conv" else w_shape[1] * attrs.get("group", 1)
    if bias:
        inits["b"] = rand(out_c, seed=2)
    return single_op(op_type, ["x", "w", "b"] if bias else ["x", "w"], {"x": (np.float32, x_shape)}, inits, **attrs)


@pytest.mark.parametrize(
    "x_shape, w_shape, attrs, expected",
    [
        # 1-D: nn.Conv1d with a (out, in, 1, k) weight
        ((1, 3, 8), (4, 3, 3), {"pads": [1, 1]}, 'nn.Conv1d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)'),
        ((1, 3, 8), (4, 3, 3), {"pads": [0, 2], "strides": [2]}, "ops.pad(x, (0, 2))"),
        # 2-D
        ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}, 'nn.Conv2d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)'),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [0, 1, 1, 2]}, "padding=(0, 1, 1, 2)"),
        ((1, 3, 8, 8), (4, 3, 3, 2), {"strides": [2, 1]}, 'nn.Conv2d(3, 4, (3, 2), stride=(2, 1), pad_mode="valid"'),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, "dilation=2"),
        ((1, 4, 8, 8), (6, 2, 3, 3), {"group": 2, "strides": [2, 2], "pads": [1, 1, 1, 1]}, "group=2"),
        ((1, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, "group=4"),
        ((1, 3, 7, 8), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, "padding=(1, 1, 0, 1)"),
        ((1, 3, 7, 8), (4, 3, 2, 2), {"auto_pad": "SAME_LOWER"}, "padding=(1, 0, 1, 0)"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"auto_pad": "VALID"}, 'pad_mode="valid"'),
        # 3-D
        ((1, 2, 4, 5, 6), (3, 2, 3, 3, 3), {"pads": [1, 1, 1, 1, 1, 1]}, "nn.Conv3d(2, 3, 3"),
        ((1, 2, 4, 5, 6), (3, 2, 2, 3, 1), {"strides": [1, 2, 1], "pads": [0, 1, 0, 1, 0, 0]}, "padding=(0, 1, 1, 0, 0, 0)"),
    ],
)
def test_conv(x_shape, w_shape, attrs, expected):
    assert_parity(conv_model("Conv", x_shape, w_shape, **attrs), expect_layers=(expected,))


def test_conv_without_bias_names_members_after_the_source():
    code = assert_parity(conv_model("Conv", (1, 3, 8, 8), (4, 3, 3, 3), bias=False, pads=[1, 1, 1, 1]))
    assert "self.conv = nn.Conv2d(3, 4, 3, pad_mode=\"pad\", padding=1)" in code


@pytest.mark.parametrize(
    "x_shape, w_shape, attrs, expected",
    [
        # 1-D: nn.Conv1dTranspose; asymmetric pads crop the extra row
        ((1, 3, 6), (3, 2, 3), {"strides": [2], "pads": [1, 1]}, "nn.Conv1dTranspose(3, 2, 3, stride=2"),
        ((1, 3, 6), (3, 2, 3), {"strides": [2], "pads": [0, 1]}, "[:, :, :-1]"),
        ((1, 3, 6), (3, 2, 4), {"strides": [2], "pads": [2, 1]}, "[:, :, 1:]"),
        # 2-D
        ((1, 3, 5, 5), (3, 2, 3, 3), {}, 'nn.Conv2dTranspose(3, 2, 3, pad_mode="valid", has_bias=True)'),
        ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}, "padding=1"),
        # output_padding folded into the end padding (PyTorch's ConvTranspose2d(k3, s2, p1, op1))
        ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
         "padding=(1, 0, 1, 0)"),
        # output_padding larger than the end padding: the primitive with the output shape (trap 7)
        ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_padding": [1, 0]}, "ops.Conv2DTranspose("),
        ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [8, 10]}, "padding=(1, 0, 1, 0)"),
        ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [10, 11]}, "ops.Conv2DTranspose("),
        ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, "padding=(0, 1, 0, 1)"),
        ((1, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 1], "auto_pad": "SAME_LOWER"}, "padding=(1, 0, 1, 1)"),
        ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "group": 2, "pads": [0, 1, 1, 0]}, "group=2"),
        ((1, 3, 5, 5), (3, 2, 3, 3), {"dilations": [2, 2], "pads": [1, 1, 1, 1]}, "dilation=2"),
        # 3-D
        ((1, 2, 3, 4, 4), (2, 3, 3, 3, 3), {"strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1]}, "nn.Conv3dTranspose(2, 3, 3"),
        ((1, 2, 3, 4, 4), (2, 3, 3, 3, 3), {"strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1], "output_padding": [1, 1, 1]},
         "padding=(1, 0, 1, 0, 1, 0)"),
        ((1, 2, 3, 4, 4), (2, 3, 2, 2, 2), {"strides": [2, 2, 2], "output_padding": [1, 1, 1]}, "output_padding=1"),
    ],
)
def test_conv_transpose(x_shape, w_shape, attrs, expected):
    assert_parity(conv_model("ConvTranspose", x_shape, w_shape, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize("pads, expected", [([1, 1, 1, 1], "has_bias=False"), ([0, 0, 0, 0], "ops.Conv2DTranspose(")])
def test_conv_transpose_without_bias(pads, expected):
    model = conv_model("ConvTranspose", (1, 3, 5, 5), (3, 2, 3, 3), bias=False, strides=[2, 2], pads=pads, output_padding=[1, 1])
    code = assert_parity(model, expect_layers=(expected,))
    assert "bias" not in code.replace("has_bias=False", "")


@pytest.mark.parametrize("w_shape, attrs, expected", [
    ((4, 3, 3, 3), {"pads": [0, 1, 1, 2], "strides": [2, 1]}, "ops.conv2d(ops.pad(x, (1, 2, 0, 1)), w, b, stride=(2, 1))"),
    ((6, 1, 3), {"group": 3, "dilations": [2]}, "ops.conv1d(x, w, b, dilation=2, groups=3)"),
])
def test_conv_with_a_runtime_weight(w_shape, attrs, expected):
    x_shape = (1, 3, 8, 8) if len(w_shape) == 4 else (1, 3, 9)
    inputs = {"x": (np.float32, x_shape), "w": (np.float32, w_shape), "b": (np.float32, (w_shape[0],))}
    assert_parity(single_op("Conv", ["x", "w", "b"], inputs, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 1]}),
    ((1, 4, 6), (4, 1, 3), {"strides": [2], "group": 2, "output_padding": [1]}),
])
def test_conv_transpose_with_a_runtime_weight(x_shape, w_shape, attrs):
    inputs = {"x": (np.float32, x_shape), "w": (np.float32, w_shape), "b": (np.float32, (w_shape[1] * attrs.get("group", 1),))}
    assert_parity(single_op("ConvTranspose", ["x", "w", "b"], inputs, **attrs), expect_layers=("ops.Conv2DTranspose(",))


def test_conv_transpose_1d_growing_past_the_output_gives_up():
    gen, _, _ = convert_model(conv_model("ConvTranspose", (1, 3, 6), (3, 2, 3), strides=[2], output_padding=[1]))
    assert "output_padding" in gen.unsupported[0].reason
