"""Parity tests for the pooling emitters (onnx.MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model

from tests.backend.builders import single_op

COVERS = {"onnx.MaxPool", "onnx.AveragePool", "onnx.GlobalAveragePool", "onnx.GlobalMaxPool", "onnx.LpPool"}


def pool(op_type: str, shape: tuple, **attrs):
    return single_op(op_type, ["x"], {"x": (np.float32, shape)}, **attrs)


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ((1, 2, 8), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}, 'nn.MaxPool1d(3, stride=2, pad_mode="pad", padding=1)'),
        ((1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}, "nn.MaxPool2d(2, stride=2)"),
        ((1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 'padding=1'),
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, "ceil_mode=True"),
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, "ceil_mode=True"),
        ((1, 2, 8, 8), {"kernel_shape": [2, 2], "dilations": [2, 2]}, "dilation=2"),
        ((1, 2, 8, 7), {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [1, 0, 1, 0]}, "padding=(1, 0)"),
        # asymmetric pads (TF SAME): -inf padding, then a valid pool
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, 'ops.pad(x, (0, 1, 0, 1), value=-float("inf"))'),
        ((1, 2, 8, 8), {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}, "(1, 0, 1, 0)"),
        ((1, 2, 4, 6, 6), {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}, "nn.MaxPool3d(2, stride=2)"),
        ((1, 2, 5, 6, 6), {"kernel_shape": [3, 3, 3], "strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1]}, "nn.MaxPool3d(3"),
    ],
)
def test_max_pool(shape, attrs, expected):
    assert_parity(pool("MaxPool", shape, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "shape, attrs, expected",
    [
        ((1, 2, 8), {"kernel_shape": [3], "strides": [2]}, "nn.AvgPool1d(3, stride=2)"),
        ((1, 2, 8), {"kernel_shape": [3], "pads": [1, 1]}, "count_include_pad=False"),
        ((1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}, "nn.AvgPool2d(2, stride=2)"),
        # ONNX's default count_include_pad=0 differs from MindSpore's: it is written out
        ((1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, "count_include_pad=False"),
        ((1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
         'nn.AvgPool2d(3, stride=2, pad_mode="pad", padding=1)'),
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, "ceil_mode=True, count_include_pad=False"),
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": 1},
         "ceil_mode=True"),
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER", "count_include_pad": 1}, "ops.pad("),
        ((1, 2, 4, 6, 6), {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}, "nn.AvgPool3d(2, stride=2)"),
        ((1, 2, 5, 6, 6), {"kernel_shape": [3, 3, 3], "strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1]}, "count_include_pad=False"),
    ],
)
def test_average_pool(shape, attrs, expected):
    assert_parity(pool("AveragePool", shape, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "shape, attrs",
    [
        ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),  # TF SAME
        ((1, 3, 6, 6), {"kernel_shape": [7, 7], "pads": [0, 0, 1, 1]}),  # light inception_v1's last pool
        ((1, 2, 9, 7), {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1}),
        ((1, 2, 9), {"kernel_shape": [4], "strides": [3], "pads": [2, 0]}),
    ],
)
def test_average_pool_asymmetric_pads_not_counted(shape, attrs):
    """Windows average over their real elements only: a valid pool rescaled by a constant."""
    assert_parity(pool("AveragePool", shape, **attrs), expect_layers=("ops.pad(",))


def test_average_pool_asymmetric_counted_pads_with_ceil_mode_gives_up():
    model = pool("AveragePool", (1, 2, 8, 8), kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1],
                 ceil_mode=1, count_include_pad=1)
    gen, _, _ = convert_model(model)
    assert [u.op_name for u in gen.unsupported] == ["onnx.AveragePool"]
    assert "ceil_mode=1 and count_include_pad=1" in gen.unsupported[0].reason


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices_are_flat_nchw(storage_order):
    model = pool("MaxPool", (2, 2, 6, 5), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], outputs=2,
                 storage_order=storage_order)
    assert_parity(model, expect_layers=("+ self.plane_offset",))


@pytest.mark.parametrize("op_type, attrs", [
    ("AveragePool", {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 0, 1, 1], "opset": 19}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [2, 2, 2, 2], "count_include_pad": 1}),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [2, 2, 2, 2], "ceil_mode": 1, "strides": [2, 2]}),
])
def test_pool_beyond_the_layers_is_a_window_pool(op_type, attrs):
    assert_parity(pool(op_type, (1, 2, 7, 7), **attrs), expect_layers=("class WindowPool(nn.Cell)",))


@pytest.mark.parametrize("shape, attrs", [((1, 2, 8), {"kernel_shape": [3], "p": 1}),
                                          ((1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 0, 1]})])
def test_lp_pool(shape, attrs):
    assert_parity(pool("LpPool", shape, **attrs), expect_layers=('"lp"',))


@pytest.mark.parametrize("shape, axes", [((1, 3, 8), "2"), ((2, 3, 8, 8), "(2, 3)"), ((1, 2, 3, 4, 5), "(2, 3, 4)")])
def test_global_average_pool_of_a_call_is_a_mean(shape, axes):
    """F.adaptive_avg_pool2d(x, 1) in a module's own scope, and every rank but 4."""
    model = single_op("GlobalAveragePool", ["x"], {"x": (np.float32, shape)}, name="/GlobalAveragePool")
    assert_parity(model, expect_layers=(f"ops.mean(x, {axes}, keep_dims=True)",))


def test_global_average_pool_of_a_module_is_an_adaptive_avg_pool_layer():
    """torch's `self.avgpool = nn.AdaptiveAvgPool2d(1)` (or an item of an nn.Sequential) keeps its member; 3-D input keeps the mean."""
    code = assert_parity(single_op("GlobalAveragePool", ["x"], {"x": (np.float32, (2, 3, 8, 8))}, name="/avgpool/GlobalAveragePool"))
    assert "self.avgpool = nn.AdaptiveAvgPool2d(1)" in code and "ops.mean" not in code, code
    code = assert_parity(single_op("GlobalAveragePool", ["x"], {"x": (np.float32, (2, 3, 8))}, name="/avgpool/GlobalAveragePool"))
    assert "ops.mean(x, 2, keep_dims=True)" in code, code


@pytest.mark.parametrize("shape, axes", [((1, 3, 8), "2"), ((2, 3, 8, 8), "(2, 3)"), ((1, 2, 3, 4, 5), "(2, 3, 4)")])
def test_global_max_pool(shape, axes):
    assert_parity(pool("GlobalMaxPool", shape), expect_layers=(f"ops.amax(x, {axes}, keepdims=True)",))
