"""fuse-hard-activations: x * relu6(x + 3) / 6 becomes HardSwish and relu6(x + 3) / 6 HardSigmoid; other bounds stay."""

from mindconverter.passes.testing import check_pass


def test_fuse_hard_activations_rewrites():
    check_pass('fuse-hard-activations', changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "ir.const"() {value = dense<3.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<0.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<6.0>} : () -> tensor<f32>
        %3 = "onnx.Add"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Add")
        %4 = "onnx.Clip"(%3, %1, %2) : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Clip")
        %5 = "onnx.Mul"(%x, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        %6 = "onnx.Div"(%5, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Div")
        %7 = "onnx.Add"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Add")
        %8 = "onnx.Clip"(%7, %1, %2) : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Clip")
        %9 = "onnx.Div"(%8, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Div")
        "ir.return"(%6, %9) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "ir.const"() {value = dense<3.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<0.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<6.0>} : () -> tensor<f32>
        %3 = "onnx.HardSwish"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["/act/Add", "/act/Clip", "/act/Mul", "/act/Div"])
        %4 = "onnx.HardSigmoid"(%x) {alpha = 0.16666667, beta = 0.5} : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["/gate/Add", "/gate/Clip", "/gate/Div"])
        "ir.return"(%3, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")


def test_other_bounds_stay():
    check_pass('fuse-hard-activations', changed=False, before="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "ir.const"() {value = dense<3.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<0.0>} : () -> tensor<f32>
        %2 = "ir.const"() {value = dense<5.0>} : () -> tensor<f32>
        %3 = "onnx.Add"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Add")
        %4 = "onnx.Clip"(%3, %1, %2) : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Clip")
        %5 = "onnx.Mul"(%x, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        %6 = "onnx.Div"(%5, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/act/Div")
        %7 = "onnx.Add"(%x, %0) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Add")
        %8 = "onnx.Clip"(%7, %1, %2) : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Clip")
        %9 = "onnx.Div"(%8, %2) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/gate/Div")
        "ir.return"(%6, %9) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")
