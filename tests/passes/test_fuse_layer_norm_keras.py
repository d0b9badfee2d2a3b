"""fuse-layer-norm on tf.nn.batch_normalization's form, x * inv + (beta - mean * inv), as Keras 3's LayerNormalization writes it."""

import numpy as np

from mindconverter.ir.parser import parse
from mindconverter.passes.testing import check_pass, run_pass_on_text
from mindconverter.runtime_check.evaluate import run_ir

# tf2onnx: the means are GlobalAveragePool (a mean over the last axis of a 3-D tensor), rsqrt is
# Reciprocal(Sqrt), the shift is Neg(mean) * inv + beta, and the weights are broadcast as (1, 1, C).
KERAS3 = """
      func @main(%x: tensor<1x6x16xf32>) -> tensor<1x6x16xf32> {
        %g = "ir.const"() {value = dense<[[[0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375, 1., 1.0625, 1.125, 1.1875, 1.25, 1.3125, 1.375, 1.4375]]]>} : () -> tensor<1x1x16xf32>
        %b = "ir.const"() {value = dense<[[[-0.40, -0.35, -0.30, -0.25, -0.20, -0.15, -0.10, -0.05, 0.00, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35]]]>} : () -> tensor<1x1x16xf32>
        %0 = "ir.const"() {value = dense<1e-06>} : () -> tensor<f32>
        %1 = "onnx.GlobalAveragePool"(%x) : (tensor<1x6x16xf32>) -> tensor<1x6x1xf32> loc("norm1/moments/mean")
        %2 = "onnx.Neg"(%1) : (tensor<1x6x1xf32>) -> tensor<1x6x1xf32> loc("norm1/Neg")
        %3 = "onnx.Sub"(%x, %1) : (tensor<1x6x16xf32>, tensor<1x6x1xf32>) -> tensor<1x6x16xf32> loc("norm1/moments/SquaredDifference")
        %4 = "onnx.Mul"(%3, %3) : (tensor<1x6x16xf32>, tensor<1x6x16xf32>) -> tensor<1x6x16xf32> loc("norm1/moments/SquaredDifference__12")
        %5 = "onnx.GlobalAveragePool"(%4) : (tensor<1x6x16xf32>) -> tensor<1x6x1xf32> loc("norm1/moments/variance")
        %6 = "onnx.Add"(%5, %0) : (tensor<1x6x1xf32>, tensor<f32>) -> tensor<1x6x1xf32> loc("norm1/add")
        %7 = "onnx.Sqrt"(%6) : (tensor<1x6x1xf32>) -> tensor<1x6x1xf32> loc("norm1/Rsqrt")
        %8 = "onnx.Reciprocal"(%7) : (tensor<1x6x1xf32>) -> tensor<1x6x1xf32> loc("norm1/Rsqrt__13")
        %9 = "onnx.Mul"(%8, %g) : (tensor<1x6x1xf32>, tensor<1x1x16xf32>) -> tensor<1x6x16xf32> loc("norm1/mul")
        %10 = "onnx.Mul"(%x, %9) : (tensor<1x6x16xf32>, tensor<1x6x16xf32>) -> tensor<1x6x16xf32> loc("norm1/mul_2")
        %11 = "onnx.Mul"(%2, %9) : (tensor<1x6x1xf32>, tensor<1x6x16xf32>) -> tensor<1x6x16xf32> loc("norm1/mul_1")
        %12 = "onnx.Add"(%11, %b) : (tensor<1x6x16xf32>, tensor<1x1x16xf32>) -> tensor<1x6x16xf32> loc("norm1/add_1")
        %13 = "onnx.Add"(%10, %12) : (tensor<1x6x16xf32>, tensor<1x6x16xf32>) -> tensor<1x6x16xf32> loc("norm1/add_2")
        "ir.return"(%13) : (tensor<1x6x16xf32>) -> ()
      }"""

# The `beta - mean * inv` shift with ReduceMean, operands in the other order.
SUB_SHIFT = """
      func @main(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
        %g = "ir.param"() {key = "ln/gamma"} : () -> tensor<4xf32>
        %b = "ir.param"() {key = "ln/beta"} : () -> tensor<4xf32>
        %0 = "ir.const"() {value = dense<0.001>} : () -> tensor<f32>
        %1 = "onnx.ReduceMean"(%x) {axes = [-1], keepdims = 1} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32> loc("ln/moments/mean")
        %2 = "onnx.Sub"(%x, %1) : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32> loc("ln/moments/SquaredDifference")
        %3 = "onnx.Mul"(%2, %2) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("ln/moments/SquaredDifference__1")
        %4 = "onnx.ReduceMean"(%3) {axes = [-1], keepdims = 1} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32> loc("ln/moments/variance")
        %5 = "onnx.Add"(%4, %0) : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32> loc("ln/add")
        %6 = "onnx.Sqrt"(%5) : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32> loc("ln/Rsqrt")
        %7 = "onnx.Reciprocal"(%6) : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32> loc("ln/Rsqrt__2")
        %8 = "onnx.Mul"(%g, %7) : (tensor<4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32> loc("ln/mul")
        %9 = "onnx.Mul"(%8, %x) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("ln/mul_1")
        %10 = "onnx.Mul"(%1, %8) : (tensor<2x3x1xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("ln/mul_2")
        %11 = "onnx.Sub"(%b, %10) : (tensor<4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("ln/sub")
        %12 = "onnx.Add"(%9, %11) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("ln/add_1")
        "ir.return"(%12) : (tensor<2x3x4xf32>) -> ()
      }"""


def test_keras3_layer_norm_becomes_layer_norm_with_weights_in_the_normalized_shape():
    check_pass("fuse-layer-norm", changed=True, before=KERAS3, after="""
      func @main(%x: tensor<1x6x16xf32>) -> tensor<1x6x16xf32> {
        %0 = "ir.const"() {value = dense<[[[0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375, 1.0, 1.0625, 1.125, 1.1875, 1.25, 1.3125, 1.375, 1.4375]]]>} : () -> tensor<1x1x16xf32>
        %1 = "ir.const"() {value = dense<[[[-0.4, -0.35, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]]]>} : () -> tensor<1x1x16xf32>
        %2 = "ir.const"() {value = dense<1e-06>} : () -> tensor<f32>
        %3 = "ir.const"() {value = dense<[0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375, 1.0, 1.0625, 1.125, 1.1875, 1.25, 1.3125, 1.375, 1.4375]>} : () -> tensor<16xf32>
        %4 = "ir.const"() {value = dense<[-0.4, -0.35, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]>} : () -> tensor<16xf32>
        %5 = "mc.layer_norm"(%x, %3, %4) {epsilon = 1e-06} : (tensor<1x6x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<1x6x16xf32> loc(fused["norm1/moments/mean", "norm1/Neg", "norm1/moments/SquaredDifference", "norm1/moments/SquaredDifference__12", "norm1/moments/variance", "norm1/add", "norm1/Rsqrt", "norm1/Rsqrt__13", "norm1/mul", "norm1/mul_2", "norm1/mul_1", "norm1/add_1", "norm1/add_2"])
        "ir.return"(%5) : (tensor<1x6x16xf32>) -> ()
      }""")


def test_beta_minus_mean_times_inv_becomes_layer_norm():
    check_pass("fuse-layer-norm", changed=True, before=SUB_SHIFT, after="""
      func @main(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
        %g = "ir.param"() {key = "ln/gamma"} : () -> tensor<4xf32>
        %b = "ir.param"() {key = "ln/beta"} : () -> tensor<4xf32>
        %0 = "ir.const"() {value = dense<0.001>} : () -> tensor<f32>
        %1 = "mc.layer_norm"(%x, %g, %b) {epsilon = 0.001} : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32> loc(fused["ln/moments/mean", "ln/moments/SquaredDifference", "ln/moments/SquaredDifference__1", "ln/moments/variance", "ln/add", "ln/Rsqrt", "ln/Rsqrt__2", "ln/mul", "ln/mul_1", "ln/mul_2", "ln/sub", "ln/add_1"])
        "ir.return"(%1) : (tensor<2x3x4xf32>) -> ()
      }""")


def test_an_intermediate_with_another_user_stays():
    before = SUB_SHIFT.replace('"ir.return"(%12) : (tensor<2x3x4xf32>) -> ()', '"ir.return"(%12, %8) : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> ()')
    before = before.replace("-> tensor<2x3x4xf32> {", "-> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {", 1)
    check_pass("fuse-layer-norm", changed=False, before=before)


def test_the_fused_keras3_layer_norm_computes_the_same():
    after, _ = run_pass_on_text("fuse-layer-norm", KERAS3)
    x = np.random.default_rng(0).standard_normal((1, 6, 16)).astype(np.float32)
    (want,) = run_ir(parse(KERAS3), [x]).outputs
    (got,) = run_ir(parse(after), [x]).outputs
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
