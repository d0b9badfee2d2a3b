"""torch's GroupNorm export (Reshape, InstanceNormalization without weights, Reshape, per-channel `* w + b`) becomes
nn.GroupNorm, checked against onnxruntime in PYNATIVE and GRAPH."""

from __future__ import annotations

import numpy as np
import pytest
from builders import rand
from helpers import assert_parity, make_model
from onnx import helper

COVERS = {"mc.group_norm"}


def _torch_group_norm(shape: tuple[int, ...], groups: int, weight_shape: tuple[int, ...] | None, eps: float = 1e-5,
                      scale: np.ndarray | None = None):
    """The nodes and weights torch.onnx.export writes for nn.GroupNorm(groups, C) (weights None: affine=False, whose
    export multiplies by 1.0 and adds 0.0)."""
    c = helper.make_node
    channels = shape[1]
    inits = {"grouped": np.array([0, groups, -1], np.int64), "ones": np.ones(groups, np.float32),
             "zeros": np.zeros(groups, np.float32), "shape": np.array(shape, np.int64)}
    if weight_shape is None:
        inits.update(w=np.array(1.0, np.float32), b=np.array(0.0, np.float32))
    else:
        inits.update(w=rand(channels).reshape(weight_shape), b=rand(channels, seed=2).reshape(weight_shape))
    if scale is not None:
        inits["w"] = scale
    nodes = [
        c("Reshape", ["x", "grouped"], ["g"], name="/norm/Reshape"),
        c("InstanceNormalization", ["g", "ones", "zeros"], ["n"], name="/norm/InstanceNormalization", epsilon=eps),
        c("Reshape", ["n", "shape"], ["r"], name="/norm/Reshape_1"),
        c("Mul", ["r", "w"], ["s"], name="/norm/Mul"),
        c("Add", ["s", "b"], ["y"], name="/norm/Add"),
    ]
    return make_model(nodes, {"x": (np.float32, shape)}, ["y"], inits)


@pytest.mark.parametrize("shape, groups, weight_shape, layer", [
    ((2, 8, 10), 2, (8, 1), "nn.GroupNorm(2, 8, eps=1e-05)"),                  # Conv1d features (wav2vec2)
    ((2, 6, 3, 4), 3, (6, 1, 1), "nn.GroupNorm(3, 6, eps=0.001)"),             # images
    ((1, 4, 5), 1, (1, 4, 1), "nn.GroupNorm(1, 4, eps=1e-05)"),                 # one group (layer norm over C, L)
    ((2, 8, 10), 4, None, "nn.GroupNorm(4, 8, eps=1e-05, affine=False)"),
])
def test_torch_group_norm_export_becomes_nn_group_norm(shape, groups, weight_shape, layer):
    eps = 1e-3 if len(shape) == 4 else 1e-5
    code = assert_parity(_torch_group_norm(shape, groups, weight_shape, eps), expect_layers=(layer,))
    assert "ops.group_norm" not in code and "ops.reshape" not in code and " * " not in code, code


def test_instance_norm_over_whole_channels_then_per_channel_weights_becomes_nn_group_norm():
    """With one channel per group the exporter's reshapes fold away: InstanceNormalization(x, 1, 0) * w + b."""
    c = helper.make_node
    inits = {"ones": np.ones(4, np.float32), "zeros": np.zeros(4, np.float32), "w": rand(4, 1), "b": rand(4, 1, seed=2)}
    nodes = [
        c("InstanceNormalization", ["x", "ones", "zeros"], ["n"], name="/norm/InstanceNormalization"),
        c("Mul", ["n", "w"], ["s"], name="/norm/Mul"),
        c("Add", ["s", "b"], ["y"], name="/norm/Add"),
    ]
    code = assert_parity(make_model(nodes, {"x": (np.float32, (2, 4, 6))}, ["y"], inits),
                         expect_layers=("nn.GroupNorm(4, 4, eps=1e-05)",))
    assert "ops.group_norm" not in code, code


def test_a_weight_along_another_axis_stays_outside_the_group_norm():
    """(1, 1, L) scales positions, not channels: it stays a Mul after the weightless nn.GroupNorm."""
    code = assert_parity(_torch_group_norm((2, 8, 10), 2, (8, 1), scale=rand(1, 1, 10)),
                         expect_layers=("nn.GroupNorm(2, 8, eps=1e-05, affine=False)",))
    assert "self.group_norm(x) * self.w + self.b" in code, code
