"""structure_repeats: cut points, structural keys and the choice of repeated units (no source scopes)."""

from mindconverter.ir import parse
from mindconverter.passes.structure_repeats import (
    MIN_UNIT_OPS,
    atomic_segments,
    make_segment,
    plan_repeats,
    structure_key,
)
from mindconverter.passes.testing import run_pass_on_text

T = "tensor<1x4xf32>"


def chain(ops: list[str]) -> str:
    """A function applying the unary ops one after another (no scopes in the node names)."""
    lines, prev = [], "%x"
    for i, name in enumerate(ops):
        lines.append(f'    %{i} = "onnx.{name}"({prev}) : ({T}) -> {T} loc("{name}_{i}")')
        prev = f"%{i}"
    body = "\n".join(lines)
    return f'  func @main(%x: {T}) -> {T} {{\n{body}\n    "ir.return"({prev}) : ({T}) -> ()\n  }}'


RESIDUAL = f"""
  func @main(%x: {T}) -> {T} {{
    %0 = "onnx.Relu"(%x) : ({T}) -> {T} loc("Relu_0")
    %1 = "onnx.Neg"(%0) : ({T}) -> {T} loc("Neg_1")
    %2 = "onnx.Add"(%1, %x) : ({T}, {T}) -> {T} loc("Add_2")
    %3 = "onnx.Relu"(%2) : ({T}) -> {T} loc("Relu_3")
    %4 = "onnx.Sigmoid"(%3) : ({T}) -> {T} loc("Sigmoid_4")
    %5 = "onnx.Neg"(%2) : ({T}) -> {T} loc("Neg_5")
    %6 = "onnx.Add"(%4, %5) : ({T}, {T}) -> {T} loc("Add_6")
    %7 = "onnx.Tanh"(%6) : ({T}) -> {T} loc("Tanh_7")
    "ir.return"(%7) : ({T}) -> ()
  }}"""


def op_types(segment) -> list[str]:
    return [op.op_type for op in segment]


def test_cuts_fall_where_one_value_is_live():
    body = parse(RESIDUAL).main.body
    assert [op_types(s) for s in atomic_segments(body)] == [
        ["Relu", "Neg", "Add"], ["Relu", "Sigmoid", "Neg", "Add"], ["Tanh"]]


def test_a_projection_shortcut_is_keyed_as_the_identity():
    module = parse(RESIDUAL.replace('"onnx.Neg"(%0)', '"onnx.Sigmoid"(%0)'))  # block 1: Relu, Sigmoid, Add(., x)
    first, second, _ = (make_segment(ops) for ops in atomic_segments(module.main.body))
    assert first.residual and not first.shortcut
    assert second.residual and op_types(second.shortcut) == ["Neg"]
    assert first.key == second.key
    assert structure_key(second.ops) != structure_key(first.ops)


def test_every_occurrence_counts_so_the_module_beats_a_coarser_period():
    # Floor, (Relu Neg Tanh) x2, Floor, (Relu Neg Tanh) x3: the 3-op module occurs 5 times (15 ops);
    # Floor + module x2 occurs once back to back.
    module = parse(chain(["Floor"] + ["Relu", "Neg", "Tanh"] * 2 + ["Floor"] + ["Relu", "Neg", "Tanh"] * 3))
    runs = plan_repeats(module.main.body)
    assert [len(r.instances) for r in runs] == [2, 3]
    assert all(op_types(i.ops) == ["Relu", "Neg", "Tanh"] for r in runs for i in r.instances)
    assert {r.cls for r in runs} == {"Block"}


def test_a_coarser_unit_holds_its_finer_repeats_as_sub_cells():
    text, changed = run_pass_on_text("structure-modules", chain((["Floor"] + ["Relu", "Neg", "Tanh"] * 2) * 2 + ["Floor"]))
    assert changed
    names = [line.split('name = "')[1].split('"')[0] for line in text.splitlines() if "name = " in line]
    assert names == ["stage1.0.stage1.0", "stage1.0.stage1.1", "stage1.0.stage1", "stage1.0",
                     "stage1.1.stage1.0", "stage1.1.stage1.1", "stage1.1.stage1", "stage1.1", "stage1"]
    assert text.count('cls = "Block"') == 2 and text.count('cls = "Block2"') == 4  # the outer unit is named first


def test_units_below_the_threshold_or_of_a_shorter_period_are_not_repeats():
    assert MIN_UNIT_OPS == 3
    assert plan_repeats(parse(chain(["Relu", "Neg"] * 4)).main.body) == []  # 2-op unit; `Relu Neg Relu` has period 2
    assert plan_repeats(parse(chain(["Relu", "Neg", "Tanh", "Sigmoid"])).main.body) == []
    assert plan_repeats(parse(chain(["Relu"])).main.body) == []  # a conformance model: one op
