"""restore-dropout: Identity ops in dropout scopes become Dropout(p) again; other Identity ops stay."""

from mindconverter.passes.testing import check_pass


def test_restore_dropout_rewrites():
    check_pass('restore-dropout', changed=True, options={'dropout-rates': {'layers.0/drop': 0.1}, 'dropout-rate': 0.2}, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("model/dropout_1/Identity")
        %1 = "onnx.Identity"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("/layers.0/drop/Identity")
        %2 = "onnx.Identity"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("model/dense/Identity")
        "ir.return"(%2) : (tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "ir.const"() {value = dense<0.2>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<false>} : () -> tensor<bool>
        %2 = "onnx.Dropout"(%x, %0, %1) : (tensor<2x3xf32>, tensor<f32>, tensor<bool>) -> tensor<2x3xf32> loc("model/dropout_1/Identity")
        %3 = "ir.const"() {value = dense<0.1>} : () -> tensor<f32>
        %4 = "ir.const"() {value = dense<false>} : () -> tensor<bool>
        %5 = "onnx.Dropout"(%2, %3, %4) : (tensor<2x3xf32>, tensor<f32>, tensor<bool>) -> tensor<2x3xf32> loc("/layers.0/drop/Identity")
        %6 = "onnx.Identity"(%5) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("model/dense/Identity")
        "ir.return"(%6) : (tensor<2x3xf32>) -> ()
      }""")


def test_identity_outside_dropout_scopes_stays():
    check_pass("restore-dropout", changed=False, before="""
      func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
        %0 = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("model/dense/Identity")
        %1 = "onnx.Identity"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Identity_3")
        "ir.return"(%1) : (tensor<2x3xf32>) -> ()
      }""")
