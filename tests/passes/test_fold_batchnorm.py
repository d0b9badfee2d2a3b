"""fold-batchnorm (opt-in, --fold-batchnorm): an inference BatchNormalization after a Conv is folded into its weights."""

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import helper

from mindconverter.ir import parse
from mindconverter.passes.manager import DEFAULT_PIPELINE
from mindconverter.passes.pattern import explain
from mindconverter.passes.testing import check_pass

BEFORE = """
      func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
        %0 = "ir.const"() {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]]]>} : () -> tensor<3x2x1x1xf32>
        %1 = "ir.const"() {value = dense<[1.0, 2.0, 0.5]>} : () -> tensor<3xf32>
        %2 = "ir.const"() {value = dense<[0.0, 1.0, -1.0]>} : () -> tensor<3xf32>
        %3 = "ir.const"() {value = dense<[1.0, 0.0, 2.0]>} : () -> tensor<3xf32>
        %4 = "ir.const"() {value = dense<[0.999, 3.999, 0.249]>} : () -> tensor<3xf32>
        %5 = "onnx.Conv"(%x, %0) {kernel_shape = [1, 1]} : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>) -> tensor<1x3x4x4xf32> loc("/conv/Conv")
        %6 = "onnx.BatchNormalization"(%5, %1, %2, %3, %4) {epsilon = 0.001} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32> loc("/bn/BatchNormalization")
        "ir.return"(%6) : (tensor<1x3x4x4xf32>) -> ()
      }"""


def test_batchnorm_is_not_folded_by_default():
    assert "fold-batchnorm" not in DEFAULT_PIPELINE  # training needs nn.BatchNorm2d and its moving statistics


def test_conv_batchnorm_becomes_one_conv_with_bias():
    # s = scale / sqrt(var + eps) = [1, 1, 1]: w stays, b = (0 - mean) * s + beta = [-1, 1, -3]
    module = parse(BEFORE)
    from mindconverter.passes.manager import PASSES, PassContext, load_builtin_passes

    load_builtin_passes()
    assert PASSES["fold-batchnorm"].fn(module, PassContext())
    np.testing.assert_allclose(module.weights.get("conv.weight").reshape(3, 2), [[1, 2], [3, 4], [5, 6]], rtol=1e-6)
    np.testing.assert_allclose(module.weights.get("conv.bias"), [-1, 1, -3], rtol=1e-6)
    check_pass("fold-batchnorm", changed=True, before=BEFORE, after="""
      func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
        %0 = "ir.const"() {value = dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]]]>} : () -> tensor<3x2x1x1xf32>
        %1 = "ir.const"() {value = dense<[1.0, 2.0, 0.5]>} : () -> tensor<3xf32>
        %2 = "ir.const"() {value = dense<[0.0, 1.0, -1.0]>} : () -> tensor<3xf32>
        %3 = "ir.const"() {value = dense<[1.0, 0.0, 2.0]>} : () -> tensor<3xf32>
        %4 = "ir.const"() {value = dense<[0.999, 3.999, 0.249]>} : () -> tensor<3xf32>
        %conv.weight = "ir.param"() {key = "conv.weight"} : () -> tensor<3x2x1x1xf32>
        %conv.bias = "ir.param"() {key = "conv.bias"} : () -> tensor<3xf32>
        %5 = "onnx.Conv"(%x, %conv.weight, %conv.bias) {kernel_shape = [1, 1]} : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32> loc(fused["/conv/Conv", "/bn/BatchNormalization"])
        "ir.return"(%5) : (tensor<1x3x4x4xf32>) -> ()
      }""")


def test_conv_with_other_users_is_not_folded():
    text = BEFORE.replace('"ir.return"(%6) : (tensor<1x3x4x4xf32>) -> ()',
                          '"ir.return"(%6, %5) : (tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) -> ()').replace(
        "-> tensor<1x3x4x4xf32> {", "-> (tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) {")
    check_pass("fold-batchnorm", changed=False, before=text)
    reasons = {c.node: c.reason for c in explain(parse(text), "fold-batchnorm")}
    assert reasons["/bn/BatchNormalization"] == "the Conv result has other users"


@pytest.mark.parametrize("bias", [False, True])
def test_fold_batchnorm_flag_keeps_parity(tmp_path, bias):
    from mindconverter import convert

    rng = np.random.default_rng(0)
    inits = {
        "w": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "scale": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "beta": rng.uniform(-0.5, 0.5, 4).astype(np.float32),
        "mean": rng.uniform(-0.5, 0.5, 4).astype(np.float32),
        "var": rng.uniform(0.5, 1.5, 4).astype(np.float32),
    }
    conv_inputs = ["x", "w"]
    if bias:
        inits["b"] = rng.normal(size=4).astype(np.float32)
        conv_inputs.append("b")
    model = make_model(
        [
            helper.make_node("Conv", conv_inputs, ["c"], name="/conv/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "scale", "beta", "mean", "var"], ["y"], name="/bn/BN", epsilon=1e-3),
        ],
        {"x": (np.float32, (1, 3, 6, 6))}, ["y"], inits,
    )
    onnx.save(model, tmp_path / "convbn.onnx")
    kept = convert(tmp_path / "convbn.onnx", output=tmp_path / "kept", check_mode="both")
    assert "nn.BatchNorm2d(4" in kept.script.read_text()  # the default: trainable BatchNorm
    folded = convert(tmp_path / "convbn.onnx", output=tmp_path / "folded", check_mode="both", fold_batchnorm=True)
    code = folded.script.read_text()
    assert "BatchNorm" not in code and "nn.Conv2d(3, 4, 3" in code and "has_bias=False" not in code, code
    assert folded.parity_passed and len(folded.parity) == 2, folded.parity


def test_fold_batchnorm_command_line_flag(tmp_path):
    from helpers import convert_and_check

    rng = np.random.default_rng(1)
    model = make_model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv", kernel_shape=[1, 1]),
            helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], name="/bn/BN"),
        ],
        {"x": (np.float32, (1, 2, 4, 4))}, ["y"],
        {"w": rng.normal(size=(3, 2, 1, 1)).astype(np.float32), "s": np.ones(3, np.float32),
         "b": np.zeros(3, np.float32), "m": rng.normal(size=3).astype(np.float32), "v": np.full(3, 2.0, np.float32)},
    )
    onnx.save(model, tmp_path / "m.onnx")
    _, script = convert_and_check(tmp_path / "m.onnx", tmp_path / "out", "--fold-batchnorm")
    assert "BatchNorm" not in script.read_text()
