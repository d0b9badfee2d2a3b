"""fuse-dense: MatMul (+ bias Add) and Gemm by a known weight become mc.dense; anything else stays."""

from mindconverter.ir import parse
from mindconverter.passes.pattern import explain
from mindconverter.passes.testing import check_pass


def test_matmul_add_becomes_dense():
    check_pass("fuse-dense", changed=True, before="""
      func @main(%x: tensor<2x5x4xf32>) -> tensor<2x5x3xf32> {
        %w = "ir.param"() {key = "w"} : () -> tensor<4x3xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %0 = "onnx.MatMul"(%x, %w) : (tensor<2x5x4xf32>, tensor<4x3xf32>) -> tensor<2x5x3xf32> loc("/fc/MatMul")
        %1 = "onnx.Add"(%b, %0) : (tensor<3xf32>, tensor<2x5x3xf32>) -> tensor<2x5x3xf32> loc("/fc/Add")
        "ir.return"(%1) : (tensor<2x5x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x5x4xf32>) -> tensor<2x5x3xf32> {
        %w = "ir.param"() {key = "w"} : () -> tensor<4x3xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %0 = "mc.dense"(%x, %w, %b) {transpose_w = false} : (tensor<2x5x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x5x3xf32> loc(fused["/fc/MatMul", "/fc/Add"])
        "ir.return"(%0) : (tensor<2x5x3xf32>) -> ()
      }""")


def test_gemm_and_bare_matmul_by_a_weight_become_dense():
    check_pass("fuse-dense", changed=True, before="""
      func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %w = "ir.param"() {key = "w"} : () -> tensor<3x4xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %v = "ir.param"() {key = "v"} : () -> tensor<4x3xf32>
        %0 = "onnx.Gemm"(%x, %w, %b) {alpha = 1.0, beta = 1.0, transB = 1} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/fc/Gemm")
        %1 = "onnx.MatMul"(%x, %v) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("/proj/MatMul")
        "ir.return"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %w = "ir.param"() {key = "w"} : () -> tensor<3x4xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %v = "ir.param"() {key = "v"} : () -> tensor<4x3xf32>
        %0 = "mc.dense"(%x, %w, %b) : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/fc/Gemm")
        %1 = "mc.dense"(%x, %v) {transpose_w = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("/proj/MatMul")
        "ir.return"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")


NOT_FUSABLE = """
  func @main(%x: tensor<2x4xf32>, %y: tensor<4x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
    %w = "ir.param"() {key = "w"} : () -> tensor<3x4xf32>
    %b = "ir.param"() {key = "b"} : () -> tensor<2x3xf32>
    %0 = "onnx.MatMul"(%x, %y) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("MatMul_0")
    %1 = "onnx.Add"(%0, %b) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Add_1")
    %2 = "onnx.Gemm"(%x, %w, %b) {alpha = 2.0, transB = 1} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Gemm_2")
    "ir.return"(%0, %1, %2) : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> ()
  }"""


def test_runtime_weights_and_scaled_gemm_do_not_fuse():
    check_pass("fuse-dense", changed=False, before=NOT_FUSABLE)


def test_explain_lists_each_candidate_with_its_reason():
    got = {(c.op_name, c.node): c.reason for c in explain(parse(NOT_FUSABLE), "fuse-dense")}
    assert got == {
        ("onnx.Add", "Add_1"): "MatMul: the weight is computed at run time",
        ("onnx.Gemm", "Gemm_2"): "alpha = 2.0, not 1",
        ("onnx.MatMul", "MatMul_0"): "the weight is computed at run time",
    }


def test_matmul_waits_for_its_bias_add_and_runtime_operands_stay():
    text = """
      func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %w = "ir.param"() {key = "w"} : () -> tensor<4x3xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %0 = "onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("/fc/MatMul")
        %1 = "onnx.Add"(%0, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/fc/Add")
        %2 = "onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("/head/MatMul")
        "ir.return"(%1, %2) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }"""
    reasons = {c.node: c.reason for c in explain(parse(text), "fuse-dense")}
    assert reasons["/fc/MatMul"] == "its bias Add makes it a Dense with a bias"
    check_pass("fuse-dense", changed=True, before=text, after="""
      func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %w = "ir.param"() {key = "w"} : () -> tensor<4x3xf32>
        %b = "ir.param"() {key = "b"} : () -> tensor<3xf32>
        %0 = "mc.dense"(%x, %w, %b) {transpose_w = false} : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc(fused["/fc/MatMul", "/fc/Add"])
        %1 = "mc.dense"(%x, %w) {transpose_w = false} : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("/head/MatMul")
        "ir.return"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> ()
      }""")
