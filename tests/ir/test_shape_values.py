"""contents(): the symbolic elements of shape tensors computed at run time."""

from __future__ import annotations

from mindconverter.ir import parse
from mindconverter.ir import symbolic as S
from mindconverter.ir.shape_values import all_known, all_static, contents
from mindconverter.ir.types import UNKNOWN, Sym

B, L = Sym("batch"), Sym("seq")


def _result(text: str, index: int = -1):
    module = parse(text)
    ops = module.funcs[0].body.ops
    return ops[index].results[0], module


def test_head_split_shape_from_shape_gather_concat():
    v, m = _result("""
    func @main(%x: tensor<?batchx?seqx768xf32>) -> tensor<4xi64> {
      %0 = "onnx.Shape"(%x) : (tensor<?batchx?seqx768xf32>) -> tensor<3xi64>
      %1 = "ir.const"() {value = dense<0>} : () -> tensor<i64>
      %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
      %3 = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %4 = "onnx.Gather"(%0, %3) {axis = 0} : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
      %5 = "onnx.Unsqueeze"(%2, %3) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
      %6 = "ir.const"() {value = dense<[12, 64]>} : () -> tensor<2xi64>
      %7 = "onnx.Concat"(%5, %4, %6) {axis = 0} : (tensor<1xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<4xi64>
      "ir.return"(%7) : (tensor<4xi64>) -> ()
    }""", index=-2)
    c = contents(v, m.weights)
    assert c == (B, L, 12, 64)
    assert all_known(c) and not all_static(c)


def test_arithmetic_and_float_division_with_ceil():
    v, m = _result("""
    func @main(%x: tensor<1x3x?hx10xf32>) -> tensor<1xi64> {
      %0 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
      %1 = "ir.const"() {value = dense<[3]>} : () -> tensor<1xi64>
      %2 = "onnx.Slice"(%s, %0, %1) : (tensor<4xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
      %s = "onnx.Shape"(%x) : (tensor<1x3x?hx10xf32>) -> tensor<4xi64>
      %3 = "onnx.Cast"(%2) {to = 1} : (tensor<1xi64>) -> tensor<1xf32>
      %4 = "ir.const"() {value = dense<[7.0]>} : () -> tensor<1xf32>
      %5 = "onnx.Div"(%3, %4) : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
      %6 = "onnx.Ceil"(%5) : (tensor<1xf32>) -> tensor<1xf32>
      %7 = "onnx.Cast"(%6) {to = 7} : (tensor<1xf32>) -> tensor<1xi64>
      %8 = "ir.const"() {value = dense<[7]>} : () -> tensor<1xi64>
      %9 = "onnx.Mul"(%7, %8) : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
      "ir.return"(%9) : (tensor<1xi64>) -> ()
    }""", index=-2)
    (d,) = contents(v, m.weights)
    assert d == S.mul(S.ceildiv(Sym("h"), 7), 7)
    assert S.evaluate(d, {"h": 10}) == 14


def test_static_chain_is_all_ints_and_unknown_entries_stay_unknown():
    v, m = _result("""
    func @main(%x: tensor<2x?x5xf32>) -> tensor<2xi64> {
      %0 = "onnx.Shape"(%x) {start = 1} : (tensor<2x?x5xf32>) -> tensor<2xi64>
      "ir.return"(%0) : (tensor<2xi64>) -> ()
    }""", index=-2)
    assert contents(v, m.weights) == (UNKNOWN, 5)
    assert not all_known(contents(v, m.weights))


def test_where_equal_minus_one_pattern_resolves():
    # torch's Expand export: Where(Equal(shape, -1), ones, shape)
    v, m = _result("""
    func @main(%x: tensor<?batchx4xf32>) -> tensor<2xi64> {
      %0 = "onnx.Shape"(%x) : (tensor<?batchx4xf32>) -> tensor<2xi64>
      %1 = "ir.const"() {value = dense<[-1, -1]>} : () -> tensor<2xi64>
      %2 = "onnx.Equal"(%0, %1) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xbool>
      %3 = "ir.const"() {value = dense<[1, 1]>} : () -> tensor<2xi64>
      %4 = "onnx.Where"(%2, %3, %0) : (tensor<2xbool>, tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
      "ir.return"(%4) : (tensor<2xi64>) -> ()
    }""", index=-2)
    assert contents(v, m.weights) == (B, 4)


def test_data_tensors_are_not_shapes():
    v, m = _result("""
    func @main(%x: tensor<100xi64>) -> tensor<100xi64> {
      %0 = "onnx.Neg"(%x) : (tensor<100xi64>) -> tensor<100xi64>
      "ir.return"(%0) : (tensor<100xi64>) -> ()
    }""", index=-2)
    assert contents(v, m.weights) is None


def test_torch_pad_pairs_are_reversed_through_a_matrix():
    """torch exports F.pad's pads as pairs reshaped to (n, 2), rows flipped by Slice, transposed, flattened."""
    v, m = _result("""
    func @main(%x: tensor<1x?hx8xf32>) -> tensor<6xi64> {
      %0 = "onnx.Shape"(%x) : (tensor<1x?hx8xf32>) -> tensor<3xi64>
      %1 = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
      %3 = "ir.const"() {value = dense<[0, 3]>} : () -> tensor<2xi64>
      %4 = "onnx.Concat"(%3, %2, %3) {axis = 0} : (tensor<2xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<5xi64>
      %5 = "ir.const"() {value = dense<[7]>} : () -> tensor<1xi64>
      %6 = "onnx.Concat"(%4, %5) {axis = 0} : (tensor<5xi64>, tensor<1xi64>) -> tensor<6xi64>
      %7 = "ir.const"() {value = dense<[-1, 2]>} : () -> tensor<2xi64>
      %8 = "onnx.Reshape"(%6, %7) : (tensor<6xi64>, tensor<2xi64>) -> tensor<3x2xi64>
      %9 = "ir.const"() {value = dense<[-1]>} : () -> tensor<1xi64>
      %10 = "ir.const"() {value = dense<[-9223372036854775807]>} : () -> tensor<1xi64>
      %11 = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
      %12 = "onnx.Slice"(%8, %9, %10, %11, %9) : (tensor<3x2xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x2xi64>
      %13 = "onnx.Transpose"(%12) {perm = [1, 0]} : (tensor<3x2xi64>) -> tensor<2x3xi64>
      %14 = "ir.const"() {value = dense<[-1]>} : () -> tensor<1xi64>
      %15 = "onnx.Reshape"(%13, %14) : (tensor<2x3xi64>, tensor<1xi64>) -> tensor<6xi64>
      "ir.return"(%15) : (tensor<6xi64>) -> ()
    }""", index=-2)
    h = Sym("h")
    # pairs (0, 3), (h, 0), (3, 7) -> rows flipped (3, 7), (h, 0), (0, 3) -> begins 3, h, 0 and ends 7, 0, 3
    assert contents(v, m.weights) == (3, h, 0, 7, 0, 3)
    matrix = m.funcs[0].body.ops[8].results[0]
    assert contents(matrix, m.weights) is None  # a matrix is no shape: only chains read through it
