"""Our own ops (mc.*) emitted as MindSpore layers, checked against onnxruntime on the ONNX patterns they replace."""

from __future__ import annotations

import numpy as np
from builders import rand
from helpers import assert_parity, make_model
from onnx import helper

COVERS = {"mc.dense", "mc.layer_norm", "mc.gelu", "mc.silu", "mc.mish", "mc.embedding"}


def test_matmul_add_becomes_nn_dense():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "b"], ["y"], name="/fc/Add"),
    ]
    model = make_model(nodes, {"x": (np.float32, (2, 5, 4))}, ["y"], {"w": rand(4, 3), "b": rand(3, seed=2)})
    code = assert_parity(model, expect_layers=("nn.Dense(4, 3)",))
    assert "ops.matmul" not in code


def test_gemm_without_bias_becomes_nn_dense_without_bias():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="/proj/Gemm", transB=1)]
    model = make_model(nodes, {"x": (np.float32, (3, 4))}, ["y"], {"w": rand(6, 4)})
    assert_parity(model, expect_layers=("nn.Dense(4, 6, has_bias=False)",))


def test_layer_normalization_with_weights_becomes_nn_layer_norm():
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="/ln/LayerNormalization", epsilon=1e-3)]
    model = make_model(nodes, {"x": (np.float32, (2, 5, 8))}, ["y"], {"g": rand(8), "b": rand(8, seed=3)})
    assert_parity(model, expect_layers=("nn.LayerNorm((8,), epsilon=0.001)",))


def test_decomposed_layer_norm_over_two_axes_becomes_nn_layer_norm():
    c = helper.make_node
    consts = {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32)}
    nodes = [
        c("ReduceMean", ["x"], ["mean"], axes=[-2, -1], name="/ln/ReduceMean"),
        c("Sub", ["x", "mean"], ["d"], name="/ln/Sub"),
        c("Pow", ["d", "two"], ["sq"], name="/ln/Pow"),
        c("ReduceMean", ["sq"], ["var"], axes=[-2, -1], name="/ln/ReduceMean_1"),
        c("Add", ["var", "eps"], ["ve"], name="/ln/Add"),
        c("Sqrt", ["ve"], ["std"], name="/ln/Sqrt"),
        c("Div", ["d", "std"], ["n"], name="/ln/Div"),
        c("Mul", ["n", "g"], ["s"], name="/ln/Mul"),
        c("Add", ["s", "b"], ["y"], name="/ln/Add_1"),
    ]
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32) * 0.01}  # small variance: eps matters
    model = make_model(nodes, {"x": (np.float32, (2, 3, 4))}, ["y"], {"g": rand(3, 4), "b": rand(3, 4, seed=3), **consts})
    code = assert_parity(model, feeds=feeds, expect_layers=("nn.LayerNorm((3, 4), begin_norm_axis=1, begin_params_axis=1, epsilon=1e-05)",))
    assert "ops.mean" not in code


def _gelu_erf_nodes(x: str = "x") -> list:
    c = helper.make_node
    return [
        c("Div", [x, "sqrt2"], ["g0"], name="/act/Div"),
        c("Erf", ["g0"], ["g1"], name="/act/Erf"),
        c("Add", ["g1", "one"], ["g2"], name="/act/Add"),
        c("Mul", [x, "g2"], ["g3"], name="/act/Mul"),
        c("Mul", ["g3", "half"], ["y"], name="/act/Mul_1"),
    ]


GELU_CONSTS = {"sqrt2": np.array(1.4142135, np.float32), "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}


def test_erf_gelu_becomes_exact_nn_gelu():
    model = make_model(_gelu_erf_nodes(), {"x": (np.float32, (2, 6))}, ["y"], GELU_CONSTS)
    code = assert_parity(model, expect_layers=("nn.GELU(approximate=False)",))
    assert "ops.erf" not in code


def test_tanh_gelu_becomes_approximate_nn_gelu():
    c = helper.make_node
    nodes = [
        c("Mul", ["x", "half"], ["h"], name="/act/Mul"),
        c("Pow", ["x", "three"], ["x3"], name="/act/Pow"),
        c("Mul", ["x3", "k"], ["t0"], name="/act/Mul_1"),
        c("Add", ["x", "t0"], ["t1"], name="/act/Add"),
        c("Mul", ["t1", "s"], ["t2"], name="/act/Mul_2"),
        c("Tanh", ["t2"], ["t3"], name="/act/Tanh"),
        c("Add", ["t3", "one"], ["t4"], name="/act/Add_1"),
        c("Mul", ["h", "t4"], ["y"], name="/act/Mul_3"),
    ]
    consts = {"half": np.array(0.5, np.float32), "three": np.array(3.0, np.float32), "one": np.array(1.0, np.float32),
              "k": np.array(0.044715, np.float32), "s": np.array(0.7978845608, np.float32)}
    model = make_model(nodes, {"x": (np.float32, (2, 6))}, ["y"], consts)
    code = assert_parity(model, expect_layers=("nn.GELU()",))
    assert "ops.tanh" not in code


def test_x_times_sigmoid_becomes_nn_silu():
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="/act/Sigmoid"), helper.make_node("Mul", ["x", "s"], ["y"], name="/act/Mul")]
    model = make_model(nodes, {"x": (np.float32, (2, 6))}, ["y"])
    assert_parity(model, expect_layers=("nn.SiLU()",))


def test_x_times_tanh_softplus_becomes_nn_mish():
    c = helper.make_node
    nodes = [c("Softplus", ["x"], ["s"], name="/act/Softplus"), c("Tanh", ["s"], ["t"], name="/act/Tanh"),
             c("Mul", ["x", "t"], ["y"], name="/act/Mul")]
    model = make_model(nodes, {"x": (np.float32, (2, 6))}, ["y"])
    code = assert_parity(model, expect_layers=("nn.Mish()",))
    assert "ops.softplus" not in code


def test_gather_from_a_weight_table_becomes_nn_embedding():
    nodes = [helper.make_node("Gather", ["table", "ids"], ["y"], name="/embed/Gather")]
    model = make_model(nodes, {"ids": (np.int64, (2, 5))}, ["y"], {"table": rand(20, 6)})
    feeds = {"ids": np.random.default_rng(0).integers(0, 20, (2, 5)).astype(np.int64)}  # token ids are non-negative
    assert_parity(model, feeds=feeds, expect_layers=("self.embed = nn.Embedding(20, 6)",))
