"""fuse-gelu: 0.5 * x * (1 + erf(x / sqrt(2))) becomes mc.gelu; other constants do not fuse."""

from mindconverter.ir import parse
from mindconverter.passes.pattern import explain
from mindconverter.passes.testing import check_pass


def test_erf_gelu_becomes_gelu():
    check_pass("fuse-gelu", changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<1.4142135> } : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<0.5>} : () -> tensor<f32>
        %3 = "onnx.Div"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Div")
        %4 = "onnx.Erf"(%3) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Erf")
        %5 = "onnx.Add"(%4, %1) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Add")
        %6 = "onnx.Mul"(%x, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        %7 = "onnx.Mul"(%6, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Mul_1")
        "ir.return"(%7) : (tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<1.4142135>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<0.5>} : () -> tensor<f32>
        %3 = "mc.gelu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["/act/Div", "/act/Erf", "/act/Add", "/act/Mul", "/act/Mul_1"])
        "ir.return"(%3) : (tensor<2x3xf32>) -> ()
      }""")


WRONG_SCALE = """
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<1.5>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<0.5>} : () -> tensor<f32>
        %3 = "onnx.Div"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Div")
        %4 = "onnx.Erf"(%3) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Erf")
        %5 = "onnx.Add"(%4, %1) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Add")
        %6 = "onnx.Mul"(%x, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        %7 = "onnx.Mul"(%6, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Mul_1")
        "ir.return"(%7) : (tensor<2x3xf32>) -> ()
      }"""


def test_erf_of_x_over_another_constant_stays():
    check_pass("fuse-gelu", changed=False, before=WRONG_SCALE)


def test_explain_says_why():
    reasons = {c.node: c.reason for c in explain(parse(WRONG_SCALE), "fuse-gelu")}
    assert reasons["/act/Mul_1"] == "the Erf input is not x / sqrt(2)"
