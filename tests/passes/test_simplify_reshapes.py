"""simplify-reshapes: Transpose and Reshape chains collapse; a chain with a shared middle value stays."""

from mindconverter.passes.testing import check_pass


def test_simplify_reshapes_rewrites():
    check_pass('simplify-reshapes', changed=True, before="""
      func @main(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>, tensor<6x4xf32>) {
        %0 = "onnx.Transpose"(%x) {perm = [0, 2, 1]} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32> loc("t0")
        %1 = "onnx.Transpose"(%0) {perm = [0, 2, 1]} : (tensor<2x4x3xf32>) -> tensor<2x3x4xf32> loc("t1")
        %2 = "onnx.Transpose"(%x) {perm = [1, 0, 2]} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32> loc("t2")
        %3 = "onnx.Transpose"(%2) {perm = [2, 1, 0]} : (tensor<3x2x4xf32>) -> tensor<4x2x3xf32> loc("t3")
        %4 = "ir.const"() {value = dense<[24]>} : () -> tensor<1xi64>
        %5 = "ir.const"() {value = dense<[6, 4]>} : () -> tensor<2xi64>
        %6 = "onnx.Reshape"(%x, %4) : (tensor<2x3x4xf32>, tensor<1xi64>) -> tensor<24xf32> loc("r0")
        %7 = "onnx.Reshape"(%6, %5) : (tensor<24xf32>, tensor<2xi64>) -> tensor<6x4xf32> loc("r1")
        "ir.return"(%1, %3, %7) : (tensor<2x3x4xf32>, tensor<4x2x3xf32>, tensor<6x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>, tensor<6x4xf32>) {
        %0 = "onnx.Transpose"(%x) {perm = [2, 0, 1]} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32> loc(fused["t2", "t3"])
        %1 = "ir.const"() {value = dense<[24]>} : () -> tensor<1xi64>
        %2 = "ir.const"() {value = dense<[6, 4]>} : () -> tensor<2xi64>
        %3 = "onnx.Reshape"(%x, %2) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32> loc(fused["r0", "r1"])
        "ir.return"(%x, %0, %3) : (tensor<2x3x4xf32>, tensor<4x2x3xf32>, tensor<6x4xf32>) -> ()
      }""")


def test_transposes_with_a_shared_middle_value_stay():
    check_pass("simplify-reshapes", changed=False, before="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<3x2xf32>, tensor<2x3xf32>) {
        %0 = "onnx.Transpose"(%x) {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32> loc("t0")
        %1 = "onnx.Transpose"(%0) {perm = [1, 0]} : (tensor<3x2xf32>) -> tensor<2x3xf32> loc("t1")
        "ir.return"(%0, %1) : (tensor<3x2xf32>, tensor<2x3xf32>) -> ()
      }""")
