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


def _maxpool(producer: str, value: str = "") -> str:
    """A Pad of `pad_value` (operand 3 when given) feeding a MaxPool, the Pad's input made by `producer`."""
    value_const = f'%v = "ir.const"() {{value = dense<{value}>}} : () -> tensor<f32>\n        ' if value else ""
    value_operand = ", %v" if value else ""
    value_type = ", tensor<f32>" if value else ""
    return f"""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {{
        {value_const}%0 = "ir.const"() {{value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>}} : () -> tensor<8xi64>
        %1 = "{producer}"(%x) : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> loc("act")
        %2 = "onnx.Pad"(%1, %0{value_operand}) {{mode = "constant"}} : (tensor<1x2x5x5xf32>, tensor<8xi64>{value_type}) -> tensor<1x2x7x7xf32> loc("pool_pad/Pad")
        %3 = "onnx.MaxPool"(%2) {{kernel_shape = [3, 3], strides = [2, 2]}} : (tensor<1x2x7x7xf32>) -> tensor<1x2x3x3xf32> loc("pool/MaxPool")
        "ir.return"(%3) : (tensor<1x2x3x3xf32>) -> ()
      }}"""


def test_zero_pad_before_max_pool_of_a_relu_becomes_the_pool_padding():
    # Keras ResNet50: ZeroPadding2D then MaxPooling2D after a ReLU. The zeros never win a max over
    # non-negative values (every window holds an input value), so the pool's own padding computes the same.
    check_pass("fuse-pad", changed=True, before=_maxpool("onnx.Relu"), after="""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
        %0 = "ir.const"() {value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>} : () -> tensor<8xi64>
        %1 = "onnx.Relu"(%x) : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> loc("act")
        %2 = "onnx.MaxPool"(%1) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> loc(fused["pool_pad/Pad", "pool/MaxPool"])
        "ir.return"(%2) : (tensor<1x2x3x3xf32>) -> ()
      }""")


def test_minus_infinity_pad_before_max_pool_fuses_whatever_the_input():
    check_pass("fuse-pad", changed=True, before=_maxpool("onnx.Neg", "-inf"), after="""
      func @main(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
        %0 = "ir.const"() {value = dense<-inf>} : () -> tensor<f32>
        %1 = "ir.const"() {value = dense<[0, 0, 1, 1, 0, 0, 1, 1]>} : () -> tensor<8xi64>
        %2 = "onnx.Neg"(%x) : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> loc("act")
        %3 = "onnx.MaxPool"(%2) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> loc(fused["pool_pad/Pad", "pool/MaxPool"])
        "ir.return"(%3) : (tensor<1x2x3x3xf32>) -> ()
      }""")


def test_zero_pad_before_max_pool_of_a_signed_value_stays():
    from mindconverter.ir import parse
    from mindconverter.passes.pattern import explain

    check_pass("fuse-pad", changed=False, before=_maxpool("onnx.Neg"))
    reasons = {c.node: c.reason for c in explain(parse(_maxpool("onnx.Neg")), "fuse-pad")}
    assert reasons["pool/MaxPool"] == "zero padding changes a max pool of values that may be negative"


def test_keras_style_zero_pad_and_max_pool_keep_parity_as_one_pool():
    import numpy as np
    from helpers import assert_parity, make_model
    from onnx import helper

    pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    model = make_model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="conv1_relu/Relu"),
            helper.make_node("Pad", ["r", "pads"], ["p"], name="pool1_pad/Pad"),
            helper.make_node("MaxPool", ["p"], ["y"], name="pool1_pool/MaxPool", kernel_shape=[3, 3], strides=[2, 2]),
        ],
        {"x": (np.float32, (1, 2, 8, 8))}, ["y"], {"pads": pads},
    )
    code = assert_parity(model, expect_layers=('nn.MaxPool2d(3, stride=2, pad_mode="pad", padding=1)',))
    assert "ops.pad" not in code, code
