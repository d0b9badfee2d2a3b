"""Parity tests for the activation emitters (onnx.Relu, LeakyRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Softmax)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, make_model
from onnx import helper

from tests.backend.builders import assert_same_dtypes, single_op

COVERS = {
    "onnx.Relu", "onnx.LeakyRelu", "onnx.Sigmoid", "onnx.Tanh", "onnx.Clip", "onnx.HardSigmoid",
    "onnx.HardSwish", "onnx.Softmax", "onnx.Clip@6..10", "onnx.Softmax@1..12",
    "onnx.LogSoftmax", "onnx.LogSoftmax@1..12", "onnx.Hardmax", "onnx.Hardmax@1..12", "onnx.Gelu", "onnx.Mish",
    "onnx.Softplus", "onnx.Softsign", "onnx.Elu", "onnx.Selu", "onnx.Celu", "onnx.PRelu", "onnx.ThresholdedRelu",
    "onnx.Shrink", "onnx.Swish", "onnx.SwiGLU",
}

X = {"x": (np.float32, (2, 3, 4))}


@pytest.mark.parametrize(("op_type", "layer", "fn"), [("Relu", "nn.ReLU()", "relu"), ("Sigmoid", "nn.Sigmoid()", "sigmoid"),
                                                     ("Tanh", "nn.Tanh()", "tanh"), ("HardSwish", "nn.HSwish()", "hardswish")])
def test_an_activation_module_is_a_layer_and_a_functional_call_a_function(op_type, layer, fn):
    code = assert_parity(single_op(op_type, ["x"], X))  # named like torch's `/relu/Relu`: a module
    assert f"self.{op_type.lower()} = {layer}" in code, code
    code = assert_parity(single_op(op_type, ["x"], X, name=f"/{op_type}"))  # torch's F.relu: no module
    assert f"ops.{fn}(x)" in code and layer not in code, code


def test_activations_of_an_unscoped_export_share_one_layer_per_cell():
    """Exporter node names without scopes (`n1`, Caffe2's) say nothing against a module: one `self.relu`,
    called at each use, as hand-written MindSpore has it."""
    c = helper.make_node
    nodes = [c("Gemm", ["x", "w", "b"], ["h"], name="n0", transB=1), c("Relu", ["h"], ["r"], name="n1"),
             c("Gemm", ["r", "w", "b"], ["h2"], name="n2", transB=1), c("Relu", ["h2"], ["r2"], name="n3"),
             c("Add", ["r2", "r"], ["y"], name="n4")]
    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((4, 4)).astype(np.float32), "b": rng.standard_normal(4).astype(np.float32)}
    code = assert_parity(make_model(nodes, {"x": (np.float32, (2, 4))}, ["y"], inits))
    assert code.count("= nn.ReLU()") == 1 and code.count("self.relu(") == 2 and "ops.relu" not in code, code


def test_torch_hardsigmoid_is_a_layer_for_a_module_and_a_function_for_a_call():
    code = assert_parity(single_op("HardSigmoid", ["x"], X, alpha=1 / 6))
    assert "self.hardsigmoid = nn.HSigmoid()" in code, code
    assert "ops.hardsigmoid(x)" in assert_parity(single_op("HardSigmoid", ["x"], X, name="/HardSigmoid", alpha=1 / 6))


@pytest.mark.parametrize("alpha", [None, 0.1])
def test_leaky_relu(alpha):
    attrs = {} if alpha is None else {"alpha": alpha}
    expected = "nn.LeakyReLU(alpha=0.01)" if alpha is None else "nn.LeakyReLU(alpha=0.1)"
    assert_parity(single_op("LeakyRelu", ["x"], X, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "alpha, beta, expected",
    [(None, None, "ops.clamp(x * 0.2 + 0.5, 0.0, 1.0)"), (1 / 6, 0.5, "nn.HSigmoid()"), (0.3, 0.4, "x * 0.3 + 0.4")],
)
def test_hard_sigmoid(alpha, beta, expected):
    attrs = {k: v for k, v in {"alpha": alpha, "beta": beta}.items() if v is not None}
    assert_parity(single_op("HardSigmoid", ["x"], X, **attrs), expect_layers=(expected,))


@pytest.mark.parametrize(
    "bounds, expected",
    [
        ({"lo": -0.5, "hi": 0.5}, "self.clip = nn.Hardtanh(-0.5, 0.5)"),
        ({"lo": 0.0}, "ops.clamp(x, 0.0)"),
        ({"hi": 6.0}, "ops.clamp(x, max=6.0)"),
        ({}, "= x"),
    ],
)
def test_clip_float(bounds, expected):
    inits = {k: np.array(v, np.float32) for k, v in bounds.items()}
    node_inputs = ["x", "lo" if "lo" in bounds else "", "hi" if "hi" in bounds else ""]
    while node_inputs[-1] == "":
        node_inputs.pop()
    assert_parity(single_op("Clip", node_inputs, X, inits), expect_layers=(expected,))


RELU6_FEEDS = {"x": np.linspace(-9, 9, 24, dtype=np.float32).reshape(2, 3, 4)}  # past both bounds


def test_clip_0_6_is_relu6_a_layer_for_a_module_and_a_function_for_a_call():
    """torch's nn.ReLU6 / F.relu6 and Keras' ReLU6 export as Clip(x, 0, 6): one ReLU6 kernel, not clamp's two."""
    inits = {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    code = assert_parity(single_op("Clip", ["x", "lo", "hi"], X, inits), feeds=RELU6_FEEDS)
    assert "self.clip = nn.ReLU6()" in code and "ops.clamp" not in code, code
    code = assert_parity(single_op("Clip", ["x", "lo", "hi"], X, inits, name="/Clip"), feeds=RELU6_FEEDS)
    assert "ops.relu6(x)" in code and "nn.ReLU6" not in code, code


def test_clip_with_other_constant_bounds_is_hardtanh_a_layer_for_a_module_and_clamp_for_a_call():
    """torch's nn.Hardtanh(-0.5, 0.5) exports as Clip(x, -0.5, 0.5); F.hardtanh / torch.clamp in a module's own scope stay a clamp."""
    inits = {"lo": np.array(-0.5, np.float32), "hi": np.array(0.1, np.float32)}
    code = assert_parity(single_op("Clip", ["x", "lo", "hi"], X, inits, name="/act/Clip"), feeds=RELU6_FEEDS)
    assert "self.act = nn.Hardtanh(-0.5, 0.1)" in code and "ops.clamp" not in code, code
    code = assert_parity(single_op("Clip", ["x", "lo", "hi"], X, inits, name="/Clip"), feeds=RELU6_FEEDS)
    assert "ops.clamp(x, -0.5, 0.1)" in code and "nn.Hardtanh" not in code, code


def test_clip_0_6_attributes_opset_6_is_relu6(keep_opset):
    code = assert_parity(single_op("Clip", ["x"], X, opset=6, min=0.0, max=6.0, name="/Clip"), feeds=RELU6_FEEDS)
    assert "ops.relu6(x)" in code, code


@pytest.mark.parametrize(("dtype", "bounds"), [(np.float64, (0, 6)), (np.float32, (0, 5)), (np.float32, (-1, 6))])
def test_clip_is_relu6_only_for_bounds_0_6_on_float16_32(dtype, bounds):
    """The ReLU6 kernel has no float64 variant (nor Hardtanh's): other float32 bounds are a Hardtanh, float64 a clamp."""
    inits = {"lo": np.array(bounds[0], dtype), "hi": np.array(bounds[1], dtype)}
    feeds = {"x": RELU6_FEEDS["x"].astype(dtype)}
    code = assert_parity(single_op("Clip", ["x", "lo", "hi"], {"x": (dtype, (2, 3, 4))}, inits), feeds=feeds)
    assert "relu6" not in code.lower() and ("ops.clamp(x, " in code) == (dtype == np.float64), code
    assert ("nn.Hardtanh(" in code) == (dtype == np.float32), code


def test_clip_int64():
    inits = {"lo": np.array(-3, np.int64), "hi": np.array(4, np.int64)}
    model = single_op("Clip", ["x", "lo", "hi"], {"x": (np.int64, (3, 4))}, inits)
    assert_parity(model, expect_layers=("ops.clamp(x, -3, 4)",))
    assert_same_dtypes(model)


def test_clip_runtime_bounds():
    inputs = {"x": (np.float32, (3, 4)), "lo": (np.float32, ()), "hi": (np.float32, ())}
    feeds = {"x": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), "lo": np.array(-1, np.float32), "hi": np.array(0.5, np.float32)}
    assert_parity(single_op("Clip", ["x", "lo", "hi"], inputs), feeds=feeds)


def test_clip_attributes_opset_6(keep_opset):
    code = assert_parity(single_op("Clip", ["x"], X, opset=6, min=-0.25, max=0.75, name="/Clip"))
    assert "ops.clamp(x, -0.25, 0.75)" in code
    code = assert_parity(single_op("Clip", ["x"], X, opset=6, min=-0.25, max=0.75))
    assert "nn.Hardtanh(-0.25, 0.75)" in code


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(axis):
    assert_parity(single_op("Softmax", ["x"], X, axis=axis))


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_softmax_opset_11_coerces_to_2d(keep_opset, axis):
    code = assert_parity(single_op("Softmax", ["x"], X, opset=11, axis=axis))
    assert ("ops.reshape" in code) == (axis == 1)


def _chain(ops: list[tuple[str, dict]], opset: int = 20):
    """One model applying each (op_type, attrs) to x, one output each."""
    from helpers import make_model
    from onnx import helper

    nodes = [helper.make_node(op, ["x"], [f"y{i}"], name=f"/{op.lower()}{i}/{op}", **attrs) for i, (op, attrs) in enumerate(ops)]
    return make_model(nodes, X, [f"y{i}" for i in range(len(ops))], opset=opset)


def test_more_activations():
    ops = [("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Mish", {}), ("Softplus", {}), ("Softsign", {}),
           ("Elu", {}), ("Elu", {"alpha": 0.5}), ("Selu", {}), ("Selu", {"alpha": 2.0, "gamma": 3.0}),
           ("Celu", {"alpha": 2.0}), ("ThresholdedRelu", {"alpha": 0.5}), ("Shrink", {"lambd": 0.5, "bias": 0.2}),
           ("LogSoftmax", {"axis": 1}), ("Hardmax", {"axis": -1})]
    code = assert_parity(_chain(ops))
    assert "ops.where(x > 0, x, 0.5 * (ops.exp(x) - 1))" in code and "ops.argmax(x, 2)" in code and "ops.one_hot(" in code


def test_prelu_slope_broadcasts():
    model = single_op("PRelu", ["x", "s"], X, {"s": np.array([[0.1], [0.2], [0.3]], np.float32)})
    assert_parity(model, expect_layers=("ops.where(x < 0, x * self.s, x)",))


@pytest.mark.parametrize("axis", [1, 2])
def test_log_softmax_and_hardmax_opset_11_coerce_to_2d(keep_opset, axis):
    code = assert_parity(_chain([("LogSoftmax", {"axis": axis}), ("Hardmax", {"axis": axis})], opset=11))
    assert ("ops.reshape(ops.log_softmax" in code) == (axis == 1)


def test_swish_and_swiglu():
    from helpers import make_model
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    nodes = [helper.make_node("Swish", ["a"], ["y0"], name="/swish/Swish", alpha=1.5),
             helper.make_node("SwiGLU", ["a", "b"], ["y1"], name="/swiglu/SwiGLU")]
    model = make_model(nodes, {"a": (np.float32, (2, 3)), "b": (np.float32, (2, 3))}, ["y0", "y1"], opset=28)
    # onnxruntime has no Swish (opset 24) or SwiGLU (opset 28) yet.
    assert_parity(model, reference=lambda feeds: ReferenceEvaluator(model).run(None, feeds))


def test_softmax_bfloat16_computes_in_float32():
    from helpers import make_model
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16),
        helper.make_node("Softmax", ["xb"], ["yb"], name="/softmax/Softmax", axis=1),
        helper.make_node("Cast", ["yb"], ["y"], to=TensorProto.FLOAT),
    ]
    model = make_model(nodes, X, ["y"])

    def reference(feeds):
        x = feeds["x"]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return [e / e.sum(axis=1, keepdims=True)]

    code = assert_parity(model, reference=reference, rtol=2e-2, atol=1e-2)
    assert "ops.cast(ops.softmax(ops.cast(" in code
