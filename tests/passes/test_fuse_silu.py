"""fuse-silu: x * sigmoid(x) becomes mc.silu; a sigmoid of another value, or used elsewhere, stays."""

from mindconverter.passes.testing import check_pass


def test_x_times_sigmoid_x_becomes_silu():
    check_pass("fuse-silu", changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "onnx.Sigmoid"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Sigmoid")
        %1 = "onnx.Mul"(%0, %x) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/act/Mul")
        "ir.return"(%1) : (tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "mc.silu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc(fused["/act/Sigmoid", "/act/Mul"])
        "ir.return"(%0) : (tensor<2x3xf32>) -> ()
      }""")


def test_sigmoid_of_another_value_or_with_other_users_stays():
    check_pass("fuse-silu", changed=False, before="""
      func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
        %0 = "onnx.Sigmoid"(%y) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Sigmoid_0")
        %1 = "onnx.Mul"(%x, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_1")
        %2 = "onnx.Sigmoid"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Sigmoid_2")
        %3 = "onnx.Mul"(%x, %2) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_3")
        "ir.return"(%1, %3, %2) : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")
