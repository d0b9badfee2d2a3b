"""Integer inputs that act as shapes, sizes, counts or indices get values the model accepts, at every test size."""

from __future__ import annotations

import numpy as np
import pytest

from mindconverter.ir.parser import parse
from mindconverter.runtime_check.evaluate import run_ir
from mindconverter.runtime_check.inputs import input_role
from mindconverter.runtime_check.sizes import CheckInputs


def cases(text: str, **kwargs):
    module = parse(text)
    found = CheckInputs(module, seed=0, **kwargs).cases(module)
    for case in found:  # the reference (here: the IR in onnxruntime) runs on every generated input
        run_ir(module, case.inputs)
    return module, found


def test_a_shape_input_gets_the_reshape_result_dims_at_each_size():
    module, found = cases("""
    func @main(%x: tensor<?batchx12xf32>, %shape: tensor<4xi64>) -> tensor<?batchx3x2x2xf32> {
      %0 = "onnx.Reshape"(%x, %shape) : (tensor<?batchx12xf32>, tensor<4xi64>) -> tensor<?batchx3x2x2xf32>
      "ir.return"(%0) : (tensor<?batchx3x2x2xf32>) -> ()
    }""")
    assert [c.inputs[1].tolist() for c in found] == [[1, 3, 2, 2], [3, 3, 2, 2]]
    assert input_role(module.main.args[1], module).what == ["Reshape shape"]


def test_a_scalar_size_is_followed_through_unsqueeze_and_concat():
    _, found = cases("""
    func @main(%x: tensor<2x?kxf32>, %n: tensor<i64>) -> tensor<2x?kxf32> {
      %axes = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
      %0 = "onnx.Unsqueeze"(%n, %axes) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
      %two = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
      %1 = "onnx.Concat"(%two, %0) {axis = 0} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
      %2 = "onnx.Reshape"(%x, %1) : (tensor<2x?kxf32>, tensor<2xi64>) -> tensor<2x?kxf32>
      "ir.return"(%2) : (tensor<2x?kxf32>) -> ()
    }""")
    assert [(c.sizes["k"], int(c.inputs[1])) for c in found] == [(16, 16), (9, 9)]


def test_expand_tile_and_constant_of_shape_operands():
    _, found = cases("""
    func @main(%x: tensor<1x3xf32>, %shape: tensor<2xi64>, %reps: tensor<2xi64>, %zeros: tensor<2xi32>, %y: tensor<?batchx1xf32>)
        -> (tensor<?batchx3xf32>, tensor<2x6xf32>, tensor<?batchx5xf32>) {
      %0 = "onnx.Expand"(%y, %shape) : (tensor<?batchx1xf32>, tensor<2xi64>) -> tensor<?batchx3xf32>
      %1 = "onnx.Tile"(%x, %reps) : (tensor<1x3xf32>, tensor<2xi64>) -> tensor<2x6xf32>
      %2 = "onnx.Cast"(%zeros) {to = 7} : (tensor<2xi32>) -> tensor<2xi64>
      %3 = "onnx.ConstantOfShape"(%2) : (tensor<2xi64>) -> tensor<?batchx5xf32>
      "ir.return"(%0, %1, %3) : (tensor<?batchx3xf32>, tensor<2x6xf32>, tensor<?batchx5xf32>) -> ()
    }""")
    assert [c.inputs[1].tolist() for c in found] == [[1, 3], [3, 3]]
    assert all(c.inputs[2].tolist() == [2, 2] for c in found)
    assert [c.inputs[3].tolist() for c in found] == [[1, 5], [3, 5]] and found[0].inputs[3].dtype == np.int32


def test_range_topk_slice_and_onehot_operands():
    _, found = cases("""
    func @main(%start: tensor<i64>, %limit: tensor<i64>, %delta: tensor<i64>, %x: tensor<3x10xf32>, %k: tensor<1xi64>,
               %ends: tensor<1xi64>, %ids: tensor<6xi64>, %depth: tensor<i64>)
        -> (tensor<6xi64>, tensor<3x4xf32>, tensor<3x4xi64>, tensor<3x7xf32>, tensor<6x5xf32>) {
      %0 = "onnx.Range"(%start, %limit, %delta) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<6xi64>
      %1, %2 = "onnx.TopK"(%x, %k) : (tensor<3x10xf32>, tensor<1xi64>) -> (tensor<3x4xf32>, tensor<3x4xi64>)
      %s = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
      %a = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %3 = "onnx.Slice"(%x, %s, %ends, %a) : (tensor<3x10xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x7xf32>
      %v = "ir.const"() {value = dense<[0.0, 1.0]>} : () -> tensor<2xf32>
      %4 = "onnx.OneHot"(%ids, %depth, %v) : (tensor<6xi64>, tensor<i64>, tensor<2xf32>) -> tensor<6x5xf32>
      "ir.return"(%0, %1, %2, %3, %4) : (tensor<6xi64>, tensor<3x4xf32>, tensor<3x4xi64>, tensor<3x7xf32>, tensor<6x5xf32>) -> ()
    }""")
    start, limit, delta, _, k, ends, ids, depth = found[0].inputs
    assert (int(start), int(limit), int(delta)) == (0, 6, 1)
    assert k.tolist() == [4] and ends.tolist() == [7] and int(depth) == 5
    assert ids.min() >= 0 and ids.max() < 5


def test_indices_into_a_symbolic_dim_stay_below_its_size():
    _, found = cases("""
    func @main(%x: tensor<?seqx4xf32>, %i: tensor<8xi64>) -> tensor<8x4xf32> {
      %0 = "onnx.Gather"(%x, %i) : (tensor<?seqx4xf32>, tensor<8xi64>) -> tensor<8x4xf32>
      "ir.return"(%0) : (tensor<8x4xf32>) -> ()
    }""", requested={"seq": [2, 40]})
    assert found[0].inputs[1].max() < 2 and found[1].inputs[1].max() >= 4  # the bound is the size checked


@pytest.mark.parametrize("dtype", ["f32", "i64", "bool"])
def test_masks_are_zero_or_one(dtype):
    module = parse(f"""
    func @main(%attention_mask: tensor<?batchx8x{dtype}>) -> tensor<?batchx8x{dtype}> {{
      %0 = "onnx.Identity"(%attention_mask) : (tensor<?batchx8x{dtype}>) -> tensor<?batchx8x{dtype}>
      "ir.return"(%0) : (tensor<?batchx8x{dtype}>) -> ()
    }}""")
    for case in CheckInputs(module, seed=2).cases(module):
        assert set(np.unique(case.inputs[0].astype(np.float64)).tolist()) <= {0.0, 1.0}


def test_resize_scales_and_sizes_inputs_give_the_result_size():
    _, found = cases("""
    func @main(%x: tensor<1x1x4x4xf32>, %scales: tensor<4xf32>, %sizes: tensor<4xi64>) -> (tensor<1x1x8x12xf32>, tensor<1x1x2x6xf32>) {
      %0 = "onnx.Resize"(%x, none, %scales) {mode = "nearest"} : (tensor<1x1x4x4xf32>, none, tensor<4xf32>) -> tensor<1x1x8x12xf32>
      %1 = "onnx.Resize"(%x, none, none, %sizes) {mode = "nearest"} : (tensor<1x1x4x4xf32>, none, none, tensor<4xi64>) -> tensor<1x1x2x6xf32>
      "ir.return"(%0, %1) : (tensor<1x1x8x12xf32>, tensor<1x1x2x6xf32>) -> ()
    }""")
    assert found[0].inputs[1].tolist() == [1.0, 1.0, 2.0, 3.0] and found[0].inputs[2].tolist() == [1, 1, 2, 6]
