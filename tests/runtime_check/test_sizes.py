"""Test sizes for symbolic input dims: defaults, --check-sizes, constraints read from the IR, combinations."""

from __future__ import annotations

import pytest

from mindconverter.errors import ArgumentError
from mindconverter.ir.parser import parse
from mindconverter.runtime_check.sizes import (
    MAX_COMBINATIONS,
    CheckInputs,
    input_symbols,
    parse_check_sizes,
    plan_sizes,
    size_lines,
    size_summary,
)

TOKENS = """
func @main(%input_ids: tensor<?batchx?seqxi64>, %attention_mask: tensor<?batchx?seqxi64>) -> tensor<?batchx?seqx4xf32> {
  %emb = "ir.param"() {key = "emb"} : () -> tensor<7x4xf32>
  %0 = "onnx.Gather"(%emb, %input_ids) : (tensor<7x4xf32>, tensor<?batchx?seqxi64>) -> tensor<?batchx?seqx4xf32>
  %1 = "onnx.Cast"(%attention_mask) {to = 1} : (tensor<?batchx?seqxi64>) -> tensor<?batchx?seqxf32>
  %2 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
  %3 = "onnx.Unsqueeze"(%1, %2) : (tensor<?batchx?seqxf32>, tensor<1xi64>) -> tensor<?batchx?seqx1xf32>
  %4 = "onnx.Mul"(%0, %3) : (tensor<?batchx?seqx4xf32>, tensor<?batchx?seqx1xf32>) -> tensor<?batchx?seqx4xf32>
  "ir.return"(%4) : (tensor<?batchx?seqx4xf32>) -> ()
}"""

CONV = """
func @main(%input: tensor<?batchx3x?hx?wxf32>) -> tensor<?batchx4x?((h - 7)//2 + 1)x?((w - 7)//2 + 1)xf32> {
  %k = "ir.param"() {key = "k"} : () -> tensor<4x3x7x7xf32>
  %0 = "onnx.Conv"(%input, %k) {strides = [2, 2]} : (tensor<?batchx3x?hx?wxf32>, tensor<4x3x7x7xf32>) -> tensor<?batchx4x?((h - 7)//2 + 1)x?((w - 7)//2 + 1)xf32>
  "ir.return"(%0) : (tensor<?batchx4x?((h - 7)//2 + 1)x?((w - 7)//2 + 1)xf32>) -> ()
}"""


def test_default_sizes_batch_one_and_three_sequence_sixteen_and_nine():
    plan = plan_sizes(parse(TOKENS))
    assert [(s.name, s.kind, s.sizes) for s in plan.symbols] == [("batch", "batch", (1, 3)), ("seq", "size", (16, 9))]
    assert plan.combinations == [{"batch": 1, "seq": 16}, {"batch": 1, "seq": 9}, {"batch": 3, "seq": 16}, {"batch": 3, "seq": 9}]


def test_export_size_from_metadata_is_the_first_sequence_size():
    plan = plan_sizes(parse(TOKENS), export_sizes={"seq": 128})
    assert plan.symbols[1].sizes == (128, 65) and plan.symbols[1].source == "export size"


def test_user_sizes_run_every_combination_and_defaults_fill_the_rest():
    plan = plan_sizes(parse(TOKENS), parse_check_sizes(["seq=5,16,40"]))
    assert plan.symbols[1].sizes == (5, 16, 40) and plan.symbols[1].source == "--check-sizes"
    assert len(plan.combinations) == 6 and {c["seq"] for c in plan.combinations} == {5, 16, 40}
    plan = plan_sizes(parse(TOKENS), {"batch": [1, 3, 8], "seq": [5, 16, 40]})
    assert len(plan.combinations) == 9


def test_an_unknown_symbol_name_lists_the_model_symbols():
    with pytest.raises(ArgumentError, match="names 'sequence', which is not a symbolic dim") as info:
        plan_sizes(parse(TOKENS), {"sequence": [4]})
    assert "batch, seq" in info.value.fix


@pytest.mark.parametrize("bad", [["seq"], ["seq=0"], ["seq=a,b"], ["=3"]])
def test_malformed_check_sizes_are_argument_errors(bad):
    with pytest.raises(ArgumentError, match="--check-sizes"):
        parse_check_sizes(bad)


def test_check_sizes_accepts_api_spellings():
    assert parse_check_sizes({"batch": 2, "seq": "5, 16", "h": range(3, 5)}) == {"batch": (2,), "seq": (5, 16), "h": (3, 4)}
    assert parse_check_sizes(["batch=1,3", "seq=5,5,16"]) == {"batch": (1, 3), "seq": (5, 16)}


def test_spatial_sizes_grow_until_the_convolution_output_is_not_empty():
    plan = plan_sizes(parse(CONV), export_sizes={"h": 4, "w": 6})
    h, w = plan.symbols[1], plan.symbols[2]
    assert h.sizes == (7, 8) and w.sizes == (7, 8)  # (h - 7)//2 + 1 >= 1 needs h >= 7
    assert any("'h' is checked at 7 instead of 4" in n for n in plan.notes)
    assert all(c["h"] >= 7 and c["w"] >= 7 for c in plan.combinations)


def test_user_sizes_that_break_a_constraint_are_refused():
    with pytest.raises(ArgumentError, match=r"--check-sizes .*h=5.* cannot run: 'onnx.Conv' has a dim"):
        plan_sizes(parse(CONV), {"h": [5]})


def test_a_symbol_broadcast_against_a_static_size_is_checked_at_that_size():
    module = parse("""
    func @main(%x: tensor<?batchx?seqx4xf32>) -> tensor<?batchx?seqx4xf32> {
      %pos = "ir.param"() {key = "pos"} : () -> tensor<64x4xf32>
      %0 = "onnx.Add"(%x, %pos) : (tensor<?batchx?seqx4xf32>, tensor<64x4xf32>) -> tensor<?batchx?seqx4xf32>
      "ir.return"(%0) : (tensor<?batchx?seqx4xf32>) -> ()
    }""")
    plan = plan_sizes(module)
    assert plan.symbols[1].sizes == (64,) and "tied to 64" in plan.symbols[1].source
    assert plan.combinations == [{"batch": 1, "seq": 64}, {"batch": 3, "seq": 64}]


def test_input_dims_that_are_expressions_are_evaluated():
    module = parse("""
    func @main(%x: tensor<?nx?(2*n)xf32>) -> tensor<?nx?(2*n)xf32> {
      %0 = "onnx.Relu"(%x) : (tensor<?nx?(2*n)xf32>) -> tensor<?nx?(2*n)xf32>
      "ir.return"(%0) : (tensor<?nx?(2*n)xf32>) -> ()
    }""")
    check = CheckInputs(module, seed=0)
    shapes = [c.inputs[0].shape for c in check.cases(module)]
    assert shapes == [(1, 2), (3, 6)]


def test_unnamed_dims_at_the_same_axis_share_one_size():
    module = parse("""
    func @main(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
      %0 = "onnx.Add"(%a, %b) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
      "ir.return"(%0) : (tensor<?x?xf32>) -> ()
    }""")
    symbols = input_symbols(module.main.args)
    assert [(s.name, s.aliases) for s in symbols] == [("a[0]", ["b[0]"]), ("a[1]", ["b[1]"])]
    cases = CheckInputs(module, requested={"b[1]": [5]}).cases(module)
    assert [(c.inputs[0].shape, c.inputs[1].shape) for c in cases] == [((1, 5), (1, 5)), ((3, 5), (3, 5))]


def test_many_symbols_are_capped_to_a_covering_set():
    dims = "x".join(f"?s{i}" for i in range(6))
    module = parse(f"""
    func @main(%x: tensor<{dims}xf32>) -> tensor<{dims}xf32> {{
      %0 = "onnx.Relu"(%x) : (tensor<{dims}xf32>) -> tensor<{dims}xf32>
      "ir.return"(%0) : (tensor<{dims}xf32>) -> ()
    }}""")
    plan = plan_sizes(module, {f"s{i}": [2, 3] for i in range(6)})
    assert len(plan.combinations) <= MAX_COMBINATIONS
    for i in range(6):  # every size of every symbol is checked at least once
        assert {c[f"s{i}"] for c in plan.combinations} == {2, 3}
    assert any("64 size combinations reduced" in n for n in plan.notes)


def test_static_models_have_one_case_without_sizes():
    module = parse("""
    func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %0 = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
      "ir.return"(%0) : (tensor<2x3xf32>) -> ()
    }""")
    cases = CheckInputs(module).cases(module)
    assert len(cases) == 1 and cases[0].sizes == {} and cases[0].inputs[0].shape == (2, 3)


def test_token_ids_and_masks_stay_valid_at_every_size():
    module = parse(TOKENS)
    for case in CheckInputs(module, seed=1).cases(module):
        ids, mask = case.inputs
        assert ids.shape == (case.sizes["batch"], case.sizes["seq"]) == mask.shape
        assert ids.min() >= 0 and ids.max() < 7 and set(mask.reshape(-1).tolist()) <= {0, 1}


def test_one_report_line_per_size():
    rows = [
        {"name": "y", "stage": "backend", "mode": m, "sizes": {"batch": b}, "max_abs_err": e, "max_rel_err": e, "passed": e < 1}
        for m in ("pynative", "graph") for b, e in ((1, 1e-7), (3, 2.0))
    ]
    summary = size_summary(rows)
    assert [(r["sizes"], r["modes"], r["passed"]) for r in summary] == [
        ({"batch": 1}, ["pynative", "graph"], True), ({"batch": 3}, ["pynative", "graph"], False)]
    assert size_lines(rows) == [
        "sizes batch=1 (pynative, graph): max abs err 1e-07, max rel err 1e-07: pass",
        "sizes batch=3 (pynative, graph): max abs err 2, max rel err 2: FAIL: y (pynative), y (graph)",
    ]


POSITIONS = """
func @main(%ids: tensor<?batchx?seqxi64>) -> tensor<1x?seqx4xf32> {
  %table = "ir.param"() {key = "t"} : () -> tensor<8x4xf32>
  %start = "ir.const"() {value = dense<0>} : () -> tensor<i64>
  %one = "ir.const"() {value = dense<1>} : () -> tensor<i64>
  %shape = "onnx.Shape"(%ids) : (tensor<?batchx?seqxi64>) -> tensor<2xi64>
  %n = "onnx.Gather"(%shape, %one) {axis = 0} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %r = "onnx.Range"(%start, %n, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?seqxi64>
  %axes = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
  %u = "onnx.Unsqueeze"(%r, %axes) : (tensor<?seqxi64>, tensor<1xi64>) -> tensor<1x?seqxi64>
  %0 = "mc.embedding"(%u, %table) : (tensor<1x?seqxi64>, tensor<8x4xf32>) -> tensor<1x?seqx4xf32>
  "ir.return"(%0) : (tensor<1x?seqx4xf32>) -> ()
}"""


def test_position_ids_stay_within_the_position_table():
    plan = plan_sizes(parse(POSITIONS))
    assert plan.symbols[1].sizes == (8, 7)  # 16 and 9 need rows the 8-row table does not have
    assert any("'seq' is checked at 8 instead of 16: 'mc.embedding' reads row ?(seq - 1) of a table of 8 rows" in n
               for n in plan.notes)
    with pytest.raises(ArgumentError, match=r"seq=9 cannot run: 'mc.embedding' reads row \?\(seq - 1\) of a table of 8 rows"):
        plan_sizes(parse(POSITIONS), {"seq": [4, 9]})
