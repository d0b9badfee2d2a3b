"""cleanup: ops that forward their input unchanged disappear; real work stays."""

from mindconverter.passes.testing import check_pass


def test_identity_and_noop_cast_are_removed():
    check_pass("cleanup", changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Identity_0")
        %1 = "onnx.Cast"(%0) {to = 1} : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Cast_1")
        %2 = "onnx.Relu"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Relu_2")
        "ir.return"(%2) {names = ["y"]} : (tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Relu_2")
        "ir.return"(%0) {names = ["y"]} : (tensor<2x3xf32>) -> ()
      }""")


def test_noop_reshape_and_identity_transpose_are_removed():
    check_pass("cleanup", changed=True, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<[2, 3]>} : () -> tensor<2xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
        %2 = "onnx.Transpose"(%1) {perm = [0, 1]} : (tensor<2x3xf32>) -> tensor<2x3xf32>
        "ir.return"(%2) : (tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<[2, 3]>} : () -> tensor<2xi64>
        "ir.return"(%x) : (tensor<2x3xf32>) -> ()
      }""")


def test_real_casts_reshapes_transposes_and_dropout_stay():
    check_pass("cleanup", changed=False, before="""
      func @main(%x: tensor<2x3xf32>) -> (tensor<3x2xi64>, tensor<6xf32>, tensor<2x3xf32>) {
        %0 = "onnx.Transpose"(%x) {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32>
        %1 = "onnx.Cast"(%0) {to = 7} : (tensor<3x2xf32>) -> tensor<3x2xi64>
        %2 = "ir.const"() {value = dense<[6]>} : () -> tensor<1xi64>
        %3 = "onnx.Reshape"(%x, %2) : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<6xf32>
        %4 = "onnx.Dropout"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
        "ir.return"(%1, %3, %4) : (tensor<3x2xi64>, tensor<6xf32>, tensor<2x3xf32>) -> ()
      }""")


def test_reshape_with_symbolic_dims_is_kept():
    # Equal-looking symbolic types do not prove the reshape is a no-op at run time.
    check_pass("cleanup", changed=False, before="""
      func @main(%x: tensor<?Nx3xf32>, %s: tensor<2xi64>) -> tensor<?Nx3xf32> {
        %0 = "onnx.Reshape"(%x, %s) : (tensor<?Nx3xf32>, tensor<2xi64>) -> tensor<?Nx3xf32>
        "ir.return"(%0) : (tensor<?Nx3xf32>) -> ()
      }""")
