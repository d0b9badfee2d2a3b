"""The use index (ir/uses.py): answers like `users(func)` and stays current through the edits made with it."""

from __future__ import annotations

import textwrap

from mindconverter.ir import Builder, parse, print_func, users
from mindconverter.ir.uses import Uses, ancestor, inside, place

TEXT = """
func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "onnx.Relu"(%x) : (tensor<4xf32>) -> tensor<4xf32> loc("relu")
  %1 = "onnx.Mul"(%0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("square")
  %2 = "onnx.Neg"(%1) : (tensor<4xf32>) -> tensor<4xf32> loc("neg")
  %3 = "onnx.Add"(%2, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("add")
  "ir.return"(%3) : (tensor<4xf32>) -> ()
}
"""

NESTED = """
func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "onnx.Relu"(%x) : (tensor<4xf32>) -> tensor<4xf32> loc("relu")
  %1 = "mc.cell"(%0) ({
  ^bb(%a: tensor<4xf32>):
    %2 = "onnx.Neg"(%a) : (tensor<4xf32>) -> tensor<4xf32> loc("neg")
    %3 = "onnx.Add"(%2, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("add")
    "ir.yield"(%3) : (tensor<4xf32>) -> ()
  }) {name = "block"} : (tensor<4xf32>) -> tensor<4xf32>
  "ir.return"(%1) : (tensor<4xf32>) -> ()
}
"""


def _func(text: str):
    return parse(textwrap.dedent(text).strip() + "\n").funcs[0]


def _ops(func):
    return {op.loc_name: op for op in func.walk()}


def test_answers_like_a_scan_of_the_function():
    func = _func(NESTED)
    index, scan = Uses(func), users(func)
    values = [v for op in func.walk() for v in op.results] + list(func.args)
    for v in values:
        assert index.users(v) == scan.get(v, [])
    ops = _ops(func)
    x = func.args[0]
    assert [op.loc_name for op in index.users(x)] == ["relu", "add"]  # the nested Add too
    assert index.only_user(ops["relu"].result) is func.body.ops[1]  # the cell


def test_only_user_needs_one_use_by_one_op():
    func = _func(TEXT)
    index, ops = Uses(func), _ops(func)
    assert index.only_user(ops["relu"].result) is None  # one op, two uses
    assert index.count(ops["relu"].result) == 2
    assert index.only_user(ops["square"].result) is ops["neg"]
    assert index.only_user(func.args[0]) is None  # two ops


def test_replace_and_erase_keep_the_index_current():
    func = _func(TEXT)
    index, ops = Uses(func), _ops(func)
    relu = ops["relu"].result
    b = Builder.before(ops["neg"], uses=index)
    new = b.op1("onnx.Abs", [relu], relu.type, loc=("abs",))
    assert index.replace({ops["neg"].result: new}) == 1
    index.erase(ops["neg"])
    assert index.users(relu) == [ops["square"], new.op]  # indexed by the builder: last
    assert index.only_user(new) is ops["add"]
    assert index.users(ops["square"].result) == []
    index.erase(ops["square"])
    assert index.only_user(relu) is new.op
    for v in [v for op in func.walk() for v in op.results]:
        assert index.users(v) == users(func).get(v, [])
    assert "onnx.Neg" not in print_func(func) and "onnx.Mul" not in print_func(func)


def test_replace_indexes_ops_created_without_the_index():
    func = _func(TEXT)
    index, ops = Uses(func), _ops(func)
    relu = ops["relu"].result
    b = Builder.before(ops["add"])  # no uses=: the index does not see the new ops being made
    inner = b.op1("onnx.Abs", [relu], relu.type)
    outer = b.op1("onnx.Sqrt", [inner], relu.type)
    index.replace({ops["neg"].result: outer})
    assert index.only_user(inner) is outer.op
    assert inner.op in index.users(relu)


def test_replace_where_limits_the_uses_changed():
    func = _func(NESTED)
    index, ops = Uses(func), _ops(func)
    cell = func.body.ops[1]
    region = cell.regions[0]
    x = func.args[0]
    relu = ops["relu"].result
    index.replace({x: relu}, where=lambda op: inside(op, region))
    assert ops["add"].operands[1] is relu
    assert ops["relu"].operands[0] is x  # outside the region: unchanged
    assert index.users(x) == [ops["relu"]]


def test_ancestor_and_place_under_a_block():
    func = _func(NESTED)
    ops = _ops(func)
    cell = func.body.ops[1]
    assert ancestor(ops["add"], func.body) is cell
    assert ancestor(ops["relu"], cell.regions[0]) is None
    assert place(ops["add"], func.body) == (1, 0, 1)
    order = sorted(func.walk(), key=lambda op: place(op, func.body))
    assert order == list(func.walk())
