"""fuse-pad: a zero Pad before a Conv becomes the Conv's pads; a reflect Pad stays."""

from mindconverter.passes.testing import check_pass


def test_fuse_pad_rewrites():
    check_pass('fuse-pad', changed=True, before="""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x3x5x5xf32> {
        %w = "ir.param"() {key = "conv.weight"} : () -> tensor<3x2x3x3xf32>
        %0 = "ir.const"() {value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>} : () -> tensor<8xi64>
        %1 = "onnx.Pad"(%x, %0) {mode = "constant"} : (tensor<1x2x5x5xf32>, tensor<8xi64>) -> tensor<1x2x7x7xf32> loc("zero_pad/Pad")
        %2 = "onnx.Conv"(%1, %w) {kernel_shape = [3, 3], pads = [0, 0, 0, 0]} : (tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x5x5xf32> loc("conv/Conv2D")
        "ir.return"(%2) : (tensor<1x3x5x5xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x3x5x5xf32> {
        %w = "ir.param"() {key = "conv.weight"} : () -> tensor<3x2x3x3xf32>
        %0 = "ir.const"() {value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>} : () -> tensor<8xi64>
        %1 = "onnx.Conv"(%x, %w) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x5x5xf32> loc(fused["zero_pad/Pad", "conv/Conv2D"])
        "ir.return"(%1) : (tensor<1x3x5x5xf32>) -> ()
      }""")


def test_reflect_pad_stays():
    check_pass('fuse-pad', changed=False, before="""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x3x5x5xf32> {
        %w = "ir.param"() {key = "conv.weight"} : () -> tensor<3x2x3x3xf32>
        %0 = "ir.const"() {value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>} : () -> tensor<8xi64>
        %1 = "onnx.Pad"(%x, %0) {mode = "reflect"} : (tensor<1x2x5x5xf32>, tensor<8xi64>) -> tensor<1x2x7x7xf32> loc("zero_pad/Pad")
        %2 = "onnx.Conv"(%1, %w) {kernel_shape = [3, 3], pads = [0, 0, 0, 0]} : (tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x5x5xf32> loc("conv/Conv2D")
        "ir.return"(%2) : (tensor<1x3x5x5xf32>) -> ()
      }""")
