"""dce: unused pure ops and weights disappear; used ones and returns stay."""

import numpy as np

from mindconverter.ir import parse, print_func
from mindconverter.passes.manager import PassContext
from mindconverter.passes.testing import check_pass


def test_unused_ops_are_erased_transitively():
    check_pass("dce", changed=True, before="""
      func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
        %0 = "onnx.Exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
        %1 = "onnx.Neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
        %2 = "onnx.Relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
        "ir.return"(%2) : (tensor<4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }""")


def test_live_code_is_kept():
    check_pass("dce", changed=False, before="""
      func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
        %0 = "onnx.Exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
        %1 = "onnx.Neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
        "ir.return"(%1, %0) : (tensor<4xf32>, tensor<4xf32>) -> ()
      }""")


def test_unused_param_and_its_weight_are_dropped():
    from mindconverter.passes.dce import dce

    module = parse("""
      func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
        %w = "ir.param"() {key = "w"} : () -> tensor<4xf32>
        %v = "ir.param"() {key = "v"} : () -> tensor<4xf32>
        %0 = "onnx.Add"(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }""")
    module.weights.set("w", np.ones(4, np.float32))
    module.weights.set("v", np.ones(4, np.float32))
    assert dce(module, PassContext())
    assert module.weights.keys() == ["w"]
    assert '"ir.param"() {key = "v"}' not in print_func(module.main)


def test_unused_optional_outputs_are_dropped():
    check_pass("dce", changed=True, before="""
      func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
        %0, %1 = "onnx.Dropout"(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xbool>)
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
        %0 = "onnx.Dropout"(%x) : (tensor<4xf32>) -> tensor<4xf32>
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }""")


def test_used_optional_outputs_are_kept():
    check_pass("dce", changed=False, before="""
      func @main(%x: tensor<4xf32>) -> tensor<4xbool> {
        %0, %1 = "onnx.Dropout"(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xbool>)
        "ir.return"(%1) : (tensor<4xbool>) -> ()
      }""")


def test_a_dead_if_goes_with_its_regions_and_the_ops_only_its_regions_used():
    check_pass("dce", changed=True, before="""
      func @main(%c: tensor<bool>, %x: tensor<3xf32>) -> tensor<3xf32> {
        %0 = "onnx.Exp"(%x) : (tensor<3xf32>) -> tensor<3xf32>
        %1 = "onnx.If"(%c) ({
          %2 = "onnx.Neg"(%0) : (tensor<3xf32>) -> tensor<3xf32>
          %3 = "onnx.Abs"(%x) : (tensor<3xf32>) -> tensor<3xf32>
          "ir.yield"(%2) : (tensor<3xf32>) -> ()
        }, {
          "ir.yield"(%x) : (tensor<3xf32>) -> ()
        }) : (tensor<bool>) -> tensor<3xf32>
        %4 = "onnx.Relu"(%x) : (tensor<3xf32>) -> tensor<3xf32>
        "ir.return"(%4) : (tensor<3xf32>) -> ()
      }""", after="""
      func @main(%c: tensor<bool>, %x: tensor<3xf32>) -> tensor<3xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<3xf32>) -> tensor<3xf32>
        "ir.return"(%0) : (tensor<3xf32>) -> ()
      }""")


def test_a_long_dead_chain_goes_in_one_walk(monkeypatch):
    """Linear work: erasing a dead chain must not take a round (a use count of the whole function) per op."""
    from mindconverter.passes import dce

    n = 400
    lines = [f'%{i + 1} = "onnx.Neg"(%{i}) : (tensor<4xf32>) -> tensor<4xf32>' for i in range(n)]
    module = parse(f"""func @main(%0: tensor<4xf32>) -> tensor<4xf32> {{
        {chr(10).join(lines)}
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }}""")
    calls = []
    real = dce.use_counts
    monkeypatch.setattr(dce, "use_counts", lambda f: calls.append(1) or real(f))
    assert dce.dce(module, PassContext())
    assert [op.name for op in module.main.walk()] == ["ir.return"]
    assert len(calls) <= 3  # the optional-outputs count, the round that erases all, the round that finds nothing
