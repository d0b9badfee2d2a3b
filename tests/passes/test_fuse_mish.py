"""fuse-mish: x * tanh(softplus(x)) becomes mc.mish; a softplus of another value, or used elsewhere, stays."""

from mindconverter.passes.testing import check_pass


def test_x_times_tanh_softplus_x_becomes_mish_in_either_operand_order():
    check_pass("fuse-mish", changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "onnx.Softplus"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Softplus")
        %1 = "onnx.Tanh"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Tanh")
        %2 = "onnx.Mul"(%x, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        %3 = "onnx.Softplus"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Softplus_3")
        %4 = "onnx.Tanh"(%3) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Tanh_4")
        %5 = "onnx.Mul"(%4, %2) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_5")
        "ir.return"(%2, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "mc.mish"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["/act/Softplus", "/act/Tanh", "/act/Mul"])
        %1 = "mc.mish"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["Softplus_3", "Tanh_4", "Mul_5"])
        "ir.return"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")


def test_softplus_of_another_value_or_with_other_users_stays():
    check_pass("fuse-mish", changed=False, before="""
      func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "onnx.Softplus"(%y) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Softplus_0")
        %1 = "onnx.Tanh"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Tanh_1")
        %2 = "onnx.Mul"(%x, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_2")
        %3 = "onnx.Softplus"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Softplus_3")
        %4 = "onnx.Tanh"(%3) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Tanh_4")
        %5 = "onnx.Mul"(%x, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_5")
        "ir.return"(%2, %5, %4) : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")
