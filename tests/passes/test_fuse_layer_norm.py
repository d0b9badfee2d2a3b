"""fuse-layer-norm: the mean/variance decomposition and LayerNormalization with weights become mc.layer_norm."""

from mindconverter.passes.testing import check_pass


def test_decomposed_layer_norm_becomes_layer_norm():
    check_pass("fuse-layer-norm", changed=True, before="""
      func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
        %g = "ir.param"() {key = "ln.weight"} : () -> tensor<4xf32>
        %b = "ir.param"() {key = "ln.bias"} : () -> tensor<4xf32>
        %0 = "ir.const"() {value = dense<2.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1e-12>} : () -> tensor<f32>
        %2 = "onnx.ReduceMean"(%x) {axes = [-1], keepdims = 1} : (tensor<2x4xf32>) -> tensor<2x1xf32> loc("/ln/ReduceMean")
        %3 = "onnx.Sub"(%x, %2) : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32> loc("/ln/Sub")
        %4 = "onnx.Pow"(%3, %0) : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32> loc("/ln/Pow")
        %5 = "onnx.ReduceMean"(%4) {axes = [-1], keepdims = 1} : (tensor<2x4xf32>) -> tensor<2x1xf32> loc("/ln/ReduceMean_1")
        %6 = "onnx.Add"(%5, %1) : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32> loc("/ln/Add")
        %7 = "onnx.Sqrt"(%6) : (tensor<2x1xf32>) -> tensor<2x1xf32> loc("/ln/Sqrt")
        %8 = "onnx.Div"(%3, %7) : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32> loc("/ln/Div")
        %9 = "onnx.Mul"(%g, %8) : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32> loc("/ln/Mul")
        %10 = "onnx.Add"(%9, %b) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln/Add_1")
        "ir.return"(%10) : (tensor<2x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
        %g = "ir.param"() {key = "ln.weight"} : () -> tensor<4xf32>
        %b = "ir.param"() {key = "ln.bias"} : () -> tensor<4xf32>
        %0 = "ir.const"() {value = dense<2.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1e-12>} : () -> tensor<f32>
        %2 = "mc.layer_norm"(%x, %g, %b) {epsilon = 1e-12} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc(fused["/ln/ReduceMean", "/ln/Sub", "/ln/Pow", "/ln/ReduceMean_1", "/ln/Add", "/ln/Sqrt", "/ln/Div", "/ln/Mul", "/ln/Add_1"])
        "ir.return"(%2) : (tensor<2x4xf32>) -> ()
      }""")


def test_variance_over_other_axes_stays():
    check_pass("fuse-layer-norm", changed=False, before="""
      func @main(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
        %g = "ir.param"() {key = "ln.weight"} : () -> tensor<4xf32>
        %b = "ir.param"() {key = "ln.bias"} : () -> tensor<4xf32>
        %0 = "ir.const"() {value = dense<2.0>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<1e-12>} : () -> tensor<f32>
        %2 = "onnx.ReduceMean"(%x) {axes = [-1], keepdims = 1} : (tensor<2x4xf32>) -> tensor<2x1xf32> loc("/ln/ReduceMean")
        %3 = "onnx.Sub"(%x, %2) : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32> loc("/ln/Sub")
        %4 = "onnx.Pow"(%3, %0) : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32> loc("/ln/Pow")
        %5 = "onnx.ReduceMean"(%4) {axes = [0], keepdims = 1} : (tensor<2x4xf32>) -> tensor<1x4xf32> loc("/ln/ReduceMean_1")
        %6 = "onnx.Add"(%5, %1) : (tensor<1x4xf32>, tensor<f32>) -> tensor<1x4xf32> loc("/ln/Add")
        %7 = "onnx.Sqrt"(%6) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/ln/Sqrt")
        %8 = "onnx.Div"(%3, %7) : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32> loc("/ln/Div")
        %9 = "onnx.Mul"(%g, %8) : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32> loc("/ln/Mul")
        %10 = "onnx.Add"(%9, %b) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln/Add_1")
        "ir.return"(%10) : (tensor<2x4xf32>) -> ()
      }""")


def test_layer_normalization_with_weights_becomes_layer_norm_and_with_runtime_scale_stays():
    check_pass("fuse-layer-norm", changed=True, before="""
      func @main(%x: tensor<2x4xf32>, %s: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
        %g = "ir.param"() {key = "ln.weight"} : () -> tensor<4xf32>
        %0 = "onnx.LayerNormalization"(%x, %g) {epsilon = 1e-06} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln/LayerNormalization")
        %1 = "onnx.LayerNormalization"(%x, %s) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln2/LayerNormalization")
        "ir.return"(%0, %1) : (tensor<2x4xf32>, tensor<2x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x4xf32>, %s: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
        %g = "ir.param"() {key = "ln.weight"} : () -> tensor<4xf32>
        %0 = "mc.layer_norm"(%x, %g) {epsilon = 1e-06} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln/LayerNormalization")
        %1 = "onnx.LayerNormalization"(%x, %s) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("/ln2/LayerNormalization")
        "ir.return"(%0, %1) : (tensor<2x4xf32>, tensor<2x4xf32>) -> ()
      }""")
