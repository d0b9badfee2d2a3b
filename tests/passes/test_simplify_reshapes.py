"""simplify-reshapes: Transpose and Reshape chains collapse; a chain with a shared middle value stays."""

from mindconverter.passes.testing import check_pass, run_pass_on_text


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


# torch's qkv.unbind(2): a Split into one-element parts, each squeezed.
UNBIND = """
            func @main(%x: tensor<2x7x3x8xf32>) -> (tensor<2x7x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) {
              %0 = "ir.const"() {value = dense<[1, 1, 1]>} : () -> tensor<3xi64>
              %p0, %p1, %p2 = "onnx.Split"(%x, %0) {axis = 2} : (tensor<2x7x3x8xf32>, tensor<3xi64>) -> (tensor<2x7x1x8xf32>, tensor<2x7x1x8xf32>, tensor<2x7x1x8xf32>) loc("/attn/Split")
              %2 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
              %3 = "onnx.Squeeze"(%p0, %2) : (tensor<2x7x1x8xf32>, tensor<1xi64>) -> tensor<2x7x8xf32> loc("/attn/Squeeze")
              %4 = "onnx.Squeeze"(%p1, %2) : (tensor<2x7x1x8xf32>, tensor<1xi64>) -> tensor<2x7x8xf32> loc("/attn/Squeeze_1")
              %5 = "onnx.Squeeze"(%p2, %2) : (tensor<2x7x1x8xf32>, tensor<1xi64>) -> tensor<2x7x8xf32> loc("/attn/Squeeze_2")
              "ir.return"(%3, %4, %5) : (tensor<2x7x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) -> ()
            }"""


def test_squeezed_one_element_parts_of_a_split_become_gathers_of_their_index():
    check_pass("simplify-reshapes", changed=True, before=UNBIND, after="""
      func @main(%x: tensor<2x7x3x8xf32>) -> (tensor<2x7x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) {
        %0 = "ir.const"() {value = dense<[1, 1, 1]>} : () -> tensor<3xi64>
        %1 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
        %2 = "ir.const"() {value = dense<0>} : () -> tensor<i64>
        %3 = "onnx.Gather"(%x, %2) {axis = 2} : (tensor<2x7x3x8xf32>, tensor<i64>) -> tensor<2x7x8xf32> loc(fused["/attn/Split", "/attn/Squeeze"])
        %4 = "ir.const"() {value = dense<1>} : () -> tensor<i64>
        %5 = "onnx.Gather"(%x, %4) {axis = 2} : (tensor<2x7x3x8xf32>, tensor<i64>) -> tensor<2x7x8xf32> loc(fused["/attn/Split", "/attn/Squeeze_1"])
        %6 = "ir.const"() {value = dense<2>} : () -> tensor<i64>
        %7 = "onnx.Gather"(%x, %6) {axis = 2} : (tensor<2x7x3x8xf32>, tensor<i64>) -> tensor<2x7x8xf32> loc(fused["/attn/Split", "/attn/Squeeze_2"])
        "ir.return"(%3, %5, %7) : (tensor<2x7x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) -> ()
      }""")


def test_a_squeeze_of_another_axis_or_a_part_after_run_time_sizes_stays():
    other_axis = UNBIND.replace("tensor<2x7x3x8xf32>", "tensor<1x7x3x8xf32>").replace("tensor<2x7x1x8xf32>", "tensor<1x7x1x8xf32>")
    other_axis = other_axis.replace("dense<[2]>", "dense<[0]>").replace("tensor<2x7x8xf32>", "tensor<7x1x8xf32>")
    assert run_pass_on_text("simplify-reshapes", other_axis)[1] is False
    dynamic = UNBIND.replace("tensor<2x7x3x8xf32>", "tensor<2x7x?Sx8xf32>").replace(
        "(tensor<2x7x1x8xf32>, tensor<2x7x1x8xf32>, tensor<2x7x1x8xf32>) loc",
        "(tensor<2x7x?x8xf32>, tensor<2x7x1x8xf32>, tensor<2x7x1x8xf32>) loc")
    dynamic = dynamic.replace('%3 = "onnx.Squeeze"(%p0, %2) : (tensor<2x7x1x8xf32>, tensor<1xi64>) -> tensor<2x7x8xf32>',
                              '%3 = "onnx.Relu"(%p0) : (tensor<2x7x?x8xf32>) -> tensor<2x7x?x8xf32>')
    dynamic = dynamic.replace("-> (tensor<2x7x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) {",
                              "-> (tensor<2x7x?x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) {").replace(
        '"ir.return"(%3, %4, %5) : (tensor<2x7x8xf32>,', '"ir.return"(%3, %4, %5) : (tensor<2x7x?x8xf32>,')
    assert run_pass_on_text("simplify-reshapes", dynamic)[1] is False
