"""infer-shapes: types get more precise, symbols survive, known sizes are never lost."""

from mindconverter.ir import DType, Sym, TensorType
from mindconverter.passes.infer_shapes import merge
from mindconverter.passes.testing import check_pass


def test_unknown_types_are_inferred_and_symbols_kept():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?Nx3x8x8xf32>) -> tensor<*xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx3x8x8xf32>) -> tensor<*xf32>
        %1 = "onnx.GlobalAveragePool"(%0) : (tensor<*xf32>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x1x1xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x8x8xf32>
        %1 = "onnx.GlobalAveragePool"(%0) : (tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x1x1xf32>
        "ir.return"(%1) : (tensor<?Nx3x1x1xf32>) -> ()
      }""")


def test_reshape_shape_is_propagated_from_constants():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<2x3x4xf32>) -> tensor<*xf32> {
        %0 = "ir.const"() {value = dense<[2, -1]>} : () -> tensor<2xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
        %0 = "ir.const"() {value = dense<[2, -1]>} : () -> tensor<2xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
        "ir.return"(%1) : (tensor<2x12xf32>) -> ()
      }""")


def test_fully_typed_ir_is_unchanged():
    check_pass("infer-shapes", changed=False, before="""
      func @main(%x: tensor<?Nx4xf32>) -> tensor<?Nx4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx4xf32>) -> tensor<?Nx4xf32>
        "ir.return"(%0) : (tensor<?Nx4xf32>) -> ()
      }""")


def test_merge_prefers_sizes_over_symbols_over_unknown():
    from mindconverter.ir.types import UNKNOWN

    old = TensorType(DType.F32, (Sym("N"), UNKNOWN, 3))
    new = TensorType(DType.F32, (UNKNOWN, 5, Sym("M")))
    assert merge(old, new) == TensorType(DType.F32, (Sym("N"), 5, 3))
    assert merge(old, TensorType(DType.F32, None)) == old
