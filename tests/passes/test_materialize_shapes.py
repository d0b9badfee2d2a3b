"""materialize-shapes: shape operands computed at run time become mc.dims (sizes read off tensors)."""

import numpy as np
import pytest

from mindconverter.ir import parse, print_func, verify
from mindconverter.ir.dialect import lower_to_onnx
from mindconverter.ir.dialect_verify import verify_op
from mindconverter.passes.testing import check_pass, run_pass_on_text


def test_reshape_shape_from_shape_gather_concat_becomes_mc_dims():
    check_pass("materialize-shapes", changed=True, before="""
      func @main(%x: tensor<?Nx?Sx8xf32>) -> tensor<?Nx?Sx2x4xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<?Nx?Sx8xf32>) -> tensor<3xi64>
        %1 = "ir.const"() {value = dense<[0, 1]>} : () -> tensor<2xi64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
        %3 = "ir.const"() {value = dense<[2, 4]>} : () -> tensor<2xi64>
        %4 = "onnx.Concat"(%2, %3) {axis = 0} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
        %5 = "onnx.Reshape"(%x, %4) : (tensor<?Nx?Sx8xf32>, tensor<4xi64>) -> tensor<?Nx?Sx2x4xf32>
        "ir.return"(%5) : (tensor<?Nx?Sx2x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?Nx?Sx8xf32>) -> tensor<?Nx?Sx2x4xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<?Nx?Sx8xf32>) -> tensor<3xi64>
        %1 = "ir.const"() {value = dense<[0, 1]>} : () -> tensor<2xi64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
        %3 = "ir.const"() {value = dense<[2, 4]>} : () -> tensor<2xi64>
        %4 = "onnx.Concat"(%2, %3) {axis = 0} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
        %5 = "mc.dims"(%x) {dims = ["?N", "?S", 2, 4]} : (tensor<?Nx?Sx8xf32>) -> tensor<4xi64>
        %6 = "onnx.Reshape"(%x, %5) : (tensor<?Nx?Sx8xf32>, tensor<4xi64>) -> tensor<?Nx?Sx2x4xf32>
        "ir.return"(%6) : (tensor<?Nx?Sx2x4xf32>) -> ()
      }""")


def test_sizes_of_another_tensor_and_arithmetic_then_dce_removes_the_chain():
    text, changed = run_pass_on_text("materialize-shapes", """
      func @main(%x: tensor<?Nx?Sx8xf32>, %y: tensor<?Nx12xf32>) -> tensor<?(N*S)x8xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx?Sx8xf32>) -> tensor<?Nx?Sx8xf32>
        %1 = "onnx.Shape"(%0) {start = 0, end = 2} : (tensor<?Nx?Sx8xf32>) -> tensor<2xi64>
        %2 = "onnx.ReduceProd"(%1) {keepdims = 1} : (tensor<2xi64>) -> tensor<1xi64>
        %3 = "ir.const"() {value = dense<[-1]>} : () -> tensor<1xi64>
        %4 = "onnx.Concat"(%2, %3) {axis = 0} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
        %5 = "onnx.Reshape"(%0, %4) : (tensor<?Nx?Sx8xf32>, tensor<2xi64>) -> tensor<?(N*S)x8xf32>
        "ir.return"(%5) : (tensor<?(N*S)x8xf32>) -> ()
      }""")
    assert changed
    assert '"mc.dims"(%0) {dims = ["?(N*S)", -1]} : (tensor<?Nx?Sx8xf32>) -> tensor<2xi64>' in text
    module = parse(text)
    from mindconverter.passes.dce import dce
    from mindconverter.passes.manager import PassContext

    dce(module, PassContext())
    verify(module)
    assert "onnx.Shape" not in print_func(module.main) and "ReduceProd" not in print_func(module.main)


def test_static_positions_of_a_weight_are_read_by_position():
    check_pass("materialize-shapes", changed=True, before="""
      func @main(%ids: tensor<1x64xi64>) -> tensor<64x8xf32> {
        %wpe = "ir.param"() {key = "wpe"} : () -> tensor<1024x8xf32>
        %0 = "onnx.Shape"(%ids) : (tensor<1x64xi64>) -> tensor<2xi64>
        %1 = "ir.const"() {value = dense<1>} : () -> tensor<i64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
        %3 = "ir.const"() {value = dense<0>} : () -> tensor<i64>
        %4 = "onnx.Range"(%3, %2, %1) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<64xi64>
        %5 = "onnx.Gather"(%wpe, %4) {axis = 0} : (tensor<1024x8xf32>, tensor<64xi64>) -> tensor<64x8xf32>
        "ir.return"(%5) : (tensor<64x8xf32>) -> ()
      }""", after="""
      func @main(%ids: tensor<1x64xi64>) -> tensor<64x8xf32> {
        %wpe = "ir.param"() {key = "wpe"} : () -> tensor<1024x8xf32>
        %0 = "onnx.Shape"(%ids) : (tensor<1x64xi64>) -> tensor<2xi64>
        %1 = "ir.const"() {value = dense<1>} : () -> tensor<i64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
        %3 = "ir.const"() {value = dense<0>} : () -> tensor<i64>
        %4 = "mc.dims"(%ids) {dims = ["?s0_1"], bind = [["s0_1", 0, 1]], scalar = true} : (tensor<1x64xi64>) -> tensor<i64>
        %5 = "onnx.Range"(%3, %4, %1) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<64xi64>
        %6 = "onnx.Gather"(%wpe, %5) {axis = 0} : (tensor<1024x8xf32>, tensor<64xi64>) -> tensor<64x8xf32>
        "ir.return"(%6) : (tensor<64x8xf32>) -> ()
      }""")


def test_data_operands_and_unknown_sizes_stay():
    check_pass("materialize-shapes", changed=False, before="""
      func @main(%x: tensor<?Nx8xf32>, %shape: tensor<2xi64>, %y: tensor<?x8xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>) {
        %0 = "onnx.Reshape"(%x, %shape) : (tensor<?Nx8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
        %1 = "onnx.Shape"(%y) : (tensor<?x8xf32>) -> tensor<2xi64>
        %2 = "onnx.Reshape"(%x, %1) : (tensor<?Nx8xf32>, tensor<2xi64>) -> tensor<?x?xf32>
        "ir.return"(%0, %2) : (tensor<?x?xf32>, tensor<?x?xf32>) -> ()
      }""")


def test_mc_dims_decomposes_into_shape_arithmetic_that_computes_the_sizes():
    import onnxruntime as ort

    from mindconverter.ir.onnx_bridge import func_to_onnx

    module = parse("""
      func @main(%x: tensor<?Nx?Sx8xf32>) -> tensor<3xi64> {
        %0 = "mc.dims"(%x) {dims = ["?(N*S)", "?((S + 3)//4)", 8]} : (tensor<?Nx?Sx8xf32>) -> tensor<3xi64>
        "ir.return"(%0) : (tensor<3xi64>) -> ()
      }""")
    verify(module)
    model, _ = func_to_onnx(lower_to_onnx(module), lower_to_onnx(module).main, with_weights=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, s in ((1, 5), (3, 8)):
        out = session.run(None, {session.get_inputs()[0].name: np.zeros((n, s, 8), np.float32)})[0]
        assert out.tolist() == [n * s, (s + 3) // 4, 8]


@pytest.mark.parametrize(("attrs", "problem"), [
    ('{dims = ["?T"]}', "no operand has the size '?T' as a dim"),
    ('{dims = ["?s"], bind = [["s", 0, 5]]}', "'s' is bound to dim 5 of operand 0"),
    ('{dims = [1.5]}', "dims entries are ints or dim text"),
    ('{dims = [1, 2], scalar = true}', "a scalar mc.dims has one entry"),
])
def test_malformed_mc_dims_is_reported(attrs, problem):
    module = parse(f"""
      func @main(%x: tensor<?Nx8xf32>) -> tensor<1xi64> {{
        %0 = "mc.dims"(%x) {attrs} : (tensor<?Nx8xf32>) -> tensor<1xi64>
        "ir.return"(%0) : (tensor<1xi64>) -> ()
      }}""")
    assert problem in verify_op(module.main.body.ops[0])
