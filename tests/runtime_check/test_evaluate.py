"""Running the IR in onnxruntime, lowering our own ops, localising divergence, and meaningful inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mindconverter.ir import parse
from mindconverter.runtime_check.divergence import pass_divergence
from mindconverter.runtime_check.evaluate import NotExecutable, run_ir, snapshot
from mindconverter.runtime_check.inputs import random_inputs, value_range

TEXT = """
func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("Relu_0")
  %1 = "onnx.Add"(%0, %x) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Add_1")
  %2 = "onnx.Mul"(%1, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Mul_2")
  "ir.return"(%2) : (tensor<2x3xf32>) -> ()
}
"""


def test_run_ir_gives_outputs_and_every_intermediate():
    module = parse(TEXT)
    x = np.arange(-3, 3, dtype=np.float32).reshape(2, 3)
    run = run_ir(module, [x], intermediates=True)
    want = (np.maximum(x, 0) + x) ** 2
    np.testing.assert_allclose(run.outputs[0], want)
    ops = [op for op in module.main.body.ops if op.name != "ir.return"]
    np.testing.assert_allclose(run.values[ops[0].result], np.maximum(x, 0))
    assert len(run.values) == 3


def test_foreign_ops_are_not_executable():
    module = parse("""
    func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
      %0 = "com.example.Frobnicate"(%x) : (tensor<2xf32>) -> tensor<2xf32>
      "ir.return"(%0) : (tensor<2xf32>) -> ()
    }""")
    with pytest.raises(NotExecutable, match="com.example.Frobnicate"):
        run_ir(module, [np.zeros(2, np.float32)])


def test_pass_divergence_names_the_changed_op():
    module = parse(TEXT)
    snap = snapshot(module)
    add = [op for op in module.ops() if op.name == "onnx.Add"][0]
    add.name = "onnx.Sub"  # a "pass" that turns the Add into a Sub in place
    x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    div = pass_divergence("bad-pass", snap, module, [x], None, None)
    assert div is not None and div.op == "onnx.Sub" and div.loc == "Add_1" and div.value == "%1"
    assert div.stage == "bad-pass" and div.max_abs_err == pytest.approx(12.0) and div.index == [1, 2]
    assert div.ir_line.startswith('%1 = "onnx.Sub"(%0, %x)')


def test_token_ids_stay_within_the_embedding_and_masks_are_binary():
    module = parse("""
    func @main(%ids: tensor<2x5xi64>, %attention_mask: tensor<2x5xi64>) -> tensor<2x5x4xf32> {
      %emb = "ir.param"() {key = "emb"} : () -> tensor<7x4xf32>
      %0 = "onnx.Cast"(%ids) {to = 7} : (tensor<2x5xi64>) -> tensor<2x5xi64>
      %1 = "onnx.Gather"(%emb, %0) : (tensor<7x4xf32>, tensor<2x5xi64>) -> tensor<2x5x4xf32>
      %2 = "onnx.Cast"(%attention_mask) {to = 1} : (tensor<2x5xi64>) -> tensor<2x5xf32>
      %4 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
      %3 = "onnx.Unsqueeze"(%2, %4) : (tensor<2x5xf32>, tensor<1xi64>) -> tensor<2x5x1xf32>
      %5 = "onnx.Mul"(%1, %3) : (tensor<2x5x4xf32>, tensor<2x5x1xf32>) -> tensor<2x5x4xf32>
      "ir.return"(%5) : (tensor<2x5x4xf32>) -> ()
    }""")
    ids, mask = module.main.args
    assert value_range(ids, module) == (0, 7) and value_range(mask, module) == (0, 2)
    a, m = random_inputs(module.main.args, seed=3, module=module)
    assert a.min() >= 0 and a.max() < 7 and a.max() >= 4  # the whole range is used, not just [0, 4)
    assert set(np.unique(m)) <= {0, 1}
