"""pattern.py: a registered pattern runs as a pass of the same name, and explain() gives each candidate's reason."""

from __future__ import annotations

from typing import Any

from mindconverter.ir import parse
from mindconverter.ir.core import Op
from mindconverter.passes.manager import PASSES
from mindconverter.passes.pattern import PATTERNS, Rewriter, explain, fused_loc, register_pattern
from mindconverter.passes.testing import check_pass


@register_pattern("test-double-neg", root="onnx.Neg")
class DoubleNeg:
    """Replace Neg(Neg(x)) by x."""

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        inner = rw.producer(op.operands[0], "onnx.Neg")
        if inner is None:
            return "the input is not a Neg"
        if rw.only_user(inner.result) is not op:
            return "the inner Neg has other users"
        m["inner"] = inner
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        assert fused_loc(m["inner"], op) == ("n0", "n1")
        rw.replace(op, [m["inner"].operands[0]], matched=[m["inner"]])


TEXT = """
  func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
    %0 = "onnx.Neg"(%x) : (tensor<2xf32>) -> tensor<2xf32> loc("n0")
    %1 = "onnx.Neg"(%0) : (tensor<2xf32>) -> tensor<2xf32> loc("n1")
    "ir.return"(%1) : (tensor<2xf32>) -> ()
  }"""


def test_a_pattern_is_a_pass_and_erases_the_matched_ops():
    assert "test-double-neg" in PATTERNS and PASSES["test-double-neg"].summary == "Replace Neg(Neg(x)) by x."
    check_pass("test-double-neg", changed=True, before=TEXT, after="""
      func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
        "ir.return"(%x) : (tensor<2xf32>) -> ()
      }""")


def test_explain_lists_every_root_candidate():
    got = [(c.op_name, c.node, c.reason, c.matched) for c in explain(parse(TEXT), "test-double-neg")]
    assert got == [("onnx.Neg", "n0", "the input is not a Neg", False), ("onnx.Neg", "n1", None, True)]


def test_a_pattern_that_matches_nothing_reports_no_change():
    check_pass("test-double-neg", changed=False, before="""
      func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
        %0 = "onnx.Neg"(%x) : (tensor<2xf32>) -> tensor<2xf32> loc("n0")
        "ir.return"(%0) : (tensor<2xf32>) -> ()
      }""")
