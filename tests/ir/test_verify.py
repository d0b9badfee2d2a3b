"""The verifier: accepts valid IR and reports each kind of malformed IR with what, where and fix."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mindconverter.errors import VerifyError
from mindconverter.ir import (
    Block,
    Builder,
    Dense,
    Func,
    Module,
    Sym,
    Value,
    WeightStore,
    parse,
    tensor_type,
    verify,
)


def module(body: str, opset: int = 13) -> Module:
    """A module with one func @main whose text is `body` (dedented)."""
    func = textwrap.indent(textwrap.dedent(body).strip("\n"), "  ")
    return parse(f"module @m attributes {{opset = {opset}}} {{\n{func}\n}}\n")


def fails(m: Module, message: str) -> VerifyError:
    with pytest.raises(VerifyError, match=re.escape(message)) as info:
        verify(m)
    error = info.value
    assert error.code == 4000002 and error.where and error.fix
    assert not error.what[0].isupper() and not error.what.endswith(".")
    return error


VALID = """
    func @main(%x: tensor<?Nx3x8x8xf32>, %c: tensor<bool>, %n: tensor<i64>) -> (tensor<?Nx4x8x8xf32>, tensor<3xf32>) {
      %w = "ir.param"() {key = "conv.weight"} : () -> tensor<4x3x3x3xf32>
      %0 = "onnx.Conv"(%x, %w, none) {pads = [1, 1, 1, 1], strides = [1, 1]} : (tensor<?Nx3x8x8xf32>, tensor<4x3x3x3xf32>, none) -> tensor<?Nx4x8x8xf32> loc("/conv/Conv")
      %1 = "ir.const"() {value = dense<[1.0, 2.0, 3.0]>} : () -> tensor<3xf32>
      %2 = "onnx.If"(%c) ({
        %3 = "onnx.Neg"(%1) : (tensor<3xf32>) -> tensor<3xf32>
        "ir.yield"(%3) : (tensor<3xf32>) -> ()
      }, {
        "ir.yield"(%1) : (tensor<3xf32>) -> ()
      }) : (tensor<bool>) -> tensor<3xf32> loc("If_1")
      %4 = "onnx.Loop"(%n, none, %2) ({
      ^bb(%i: tensor<i64>, %cond: tensor<bool>, %v: tensor<3xf32>):
        %5 = "onnx.Add"(%v, %1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
        "ir.yield"(%cond, %5) : (tensor<bool>, tensor<3xf32>) -> ()
      }) : (tensor<i64>, none, tensor<3xf32>) -> tensor<3xf32>
      %6 = "mc.gelu"(%0) {approximate = "tanh"} : (tensor<?Nx4x8x8xf32>) -> tensor<?Nx4x8x8xf32>
      %7 = "ir.const"() {key = "big"} : () -> tensor<100xf32>
      "ir.return"(%6, %4) {names = ["y", "z"]} : (tensor<?Nx4x8x8xf32>, tensor<3xf32>) -> ()
    }
    """


def test_valid_ir_passes() -> None:
    verify(module(VALID))


def test_valid_ir_passes_with_weights_loaded() -> None:
    m = module(VALID)
    m.weights.set("conv.weight", np.zeros((4, 3, 3, 3), np.float32))
    m.weights.set("big", np.zeros(100, np.float32))
    verify(m)


def test_ir_built_with_builder_passes() -> None:
    weights = WeightStore()
    x = Value(tensor_type("f32", Sym("N"), 4), "x")
    func = Func("main", Block([x]))
    b = Builder(func.body)
    w = b.param(np.ones((3, 4), np.float32), weights, "fc.weight")
    y = b.op1("onnx.Gemm", [x, w], tensor_type("f32", Sym("N"), 3), ("Gemm_0",), transB=1)
    c = b.const(np.arange(40, dtype=np.float32).reshape(40), weights)
    b.create("ir.return", [y, c])
    verify(Module("m", [func], {"opset": 17}, weights))


def test_default_opset_is_used_without_an_opset_attribute() -> None:
    m = parse(
        textwrap.dedent("""
        func @main(%x: tensor<f32>) -> tensor<f32> {
          %0 = "onnx.Gelu"(%x) : (tensor<f32>) -> tensor<f32>
          "ir.return"(%0) : (tensor<f32>) -> ()
        }
        """)
    )
    fails(m, "'onnx.Gelu' needs opset 20 or more, but the module has opset 17")


# ----------------------------------------------------------------------------------------------
# structure


def test_use_before_definition() -> None:
    error = fails(
        module("""
        func @main() -> tensor<f32> {
          %0 = "onnx.Neg"(%1) : (tensor<f32>) -> tensor<f32> loc("Neg_0")
          %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
          "ir.return"(%0) : (tensor<f32>) -> ()
        }
        """),
        "operand 0 (%1) is used before its definition",
    )
    assert error.where == "%0 = 'onnx.Neg' loc(\"Neg_0\") in func @main"
    assert "bug in that pass" in error.fix


def test_value_of_another_region_is_not_visible() -> None:
    error = fails(
        module("""
        func @main(%c: tensor<bool>) -> tensor<f32> {
          %0 = "onnx.If"(%c) ({
            %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
            "ir.yield"(%1) : (tensor<f32>) -> ()
          }, {
            "ir.yield"(%1) : (tensor<f32>) -> ()
          }) : (tensor<bool>) -> tensor<f32>
          "ir.return"(%0) : (tensor<f32>) -> ()
        }
        """),
        "operand 0 (%1) is defined inside a region of 'onnx.If' and is not visible here",
    )
    assert error.where == "'ir.yield' in func @main"


def test_region_value_is_not_visible_after_the_region() -> None:
    fails(
        module("""
        func @main(%c: tensor<bool>) -> tensor<f32> {
          %0 = "onnx.If"(%c) ({
            %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
            "ir.yield"(%1) : (tensor<f32>) -> ()
          }, {
            "ir.yield"(%1) : (tensor<f32>) -> ()
          }) : (tensor<bool>) -> tensor<f32>
          "ir.return"(%1) : (tensor<f32>) -> ()
        }
        """),
        "operand 0 (%1) is defined inside a region",
    )


def test_region_cannot_use_its_own_op_results() -> None:
    fails(
        module("""
        func @main(%c: tensor<bool>) -> tensor<f32> {
          %0 = "onnx.If"(%c) ({
            "ir.yield"(%0) : (tensor<f32>) -> ()
          }, {
            "ir.yield"(%0) : (tensor<f32>) -> ()
          }) : (tensor<bool>) -> tensor<f32>
          "ir.return"(%0) : (tensor<f32>) -> ()
        }
        """),
        "operand 0 (%0) is used before its definition",
    )


def test_value_from_outside_the_func() -> None:
    stray = Builder(Block()).op1("onnx.Relu", [], tensor_type("f32"), ("Relu_9",))
    func = Func("main", Block())
    Builder(func.body).create("ir.return", [stray])
    fails(
        Module("m", [func]),
        "operand 0 (of type tensor<f32>) is not defined in func @main; it is a result of "
        "'onnx.Relu' loc(\"Relu_9\") that is not in this func",
    )


def test_missing_return() -> None:
    error = fails(
        module("""
        func @main(%x: tensor<f32>) -> () {
          %0 = "onnx.Relu"(%x) : (tensor<f32>) -> tensor<f32>
        }
        """),
        "func @main does not end with 'ir.return' (its last op is 'onnx.Relu')",
    )
    assert error.where == "func @main"
    fails(module("func @main() -> () {\n}"), "func @main does not end with 'ir.return' (it has no ops)")


def test_region_must_end_with_yield() -> None:
    fails(
        module("""
        func @main(%c: tensor<bool>) -> () {
          "onnx.If"(%c) ({
          }, {
            "ir.yield"() : () -> ()
          }) : (tensor<bool>) -> ()
          "ir.return"() : () -> ()
        }
        """),
        "region 0 of 'onnx.If' does not end with 'ir.yield'",
    )


def test_terminator_must_be_last() -> None:
    fails(
        module("""
        func @main() -> () {
          "ir.return"() : () -> ()
          "ir.return"() : () -> ()
        }
        """),
        "'ir.return' is not the last op of its block",
    )


def test_terminator_rules() -> None:
    fails(
        module("""
        func @main() -> none {
          "ir.return"(none) : (none) -> ()
        }
        """),
        "operand 0 of 'ir.return' is none; every output must be a value",
    )
    fails(
        module("""
        func @main() -> () {
          %0 = "ir.return"() : () -> tensor<f32>
        }
        """),
        "'ir.return' has 1 results; terminators have none",
    )


def test_value_defined_twice() -> None:
    m = module("""
        func @main() -> () {
          %0 = "test.a"() : () -> tensor<f32> loc("a")
          "ir.return"() : () -> ()
        }
        """)
    body = m.main.body
    body.ops.insert(1, body.ops[0])  # the same op inserted twice
    error = fails(m, "value %0 is defined twice")
    assert error.where == "%0 = 'test.a' loc(\"a\") in func @main"


def test_wrong_parent_links() -> None:
    m = module(VALID)
    m.main.body.ops[1].parent = None
    error = fails(m, "'onnx.Conv' has a wrong parent")
    assert error.where == "%0 = 'onnx.Conv' loc(\"/conv/Conv\") in func @main"
    m = module(VALID)
    m.main.body.ops[3].regions[0].parent = None
    fails(m, "region 0 of 'onnx.If' has a wrong parent")
    m = module(VALID)
    m.main.args[1].index = 0
    fails(m, "block argument %c has owner/index that do not point back to its block (argument 1)")


def test_unstorable_attribute() -> None:
    m = module(VALID)
    m.main.body.ops[5].attrs["bad"] = {"a": 1}
    fails(m, "attribute 'bad' of 'mc.gelu' is a dict, which IR text cannot hold")


def test_duplicate_func_names() -> None:
    m = module(VALID)
    m.funcs.append(m.funcs[0])
    fails(m, "func @main is defined twice")


def test_opset_must_be_an_integer() -> None:
    m = module(VALID)
    m.attrs["opset"] = "13"
    fails(m, "module attribute 'opset' must be an integer, got '13'")


# ----------------------------------------------------------------------------------------------
# ir.param and ir.const


def test_param_key_is_checked_when_weights_are_loaded() -> None:
    m = module(VALID)
    m.weights.set("big", np.zeros(100, np.float32))
    error = fails(m, "weight key 'conv.weight' is not in the weight store")
    assert error.where == "%w = 'ir.param' in func @main"


def test_param_needs_a_string_key() -> None:
    fails(
        module("""
        func @main() -> () {
          %p = "ir.param"() {key = 3} : () -> tensor<f32>
          "ir.return"() : () -> ()
        }
        """),
        "'ir.param' needs a string attribute 'key', got 3",
    )


def test_param_has_no_operands() -> None:
    fails(
        module("""
        func @main(%x: tensor<f32>) -> () {
          %p = "ir.param"(%x) {key = "w"} : (tensor<f32>) -> tensor<f32>
          "ir.return"() : () -> ()
        }
        """),
        "'ir.param' must have 0 operands and 1 result, got 1 and 1",
    )


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ("", "'ir.const' needs exactly one of 'value' and 'key', got neither"),
        ('{value = dense<[1.0, 2.0]>, key = "k"}', "'ir.const' needs exactly one of 'value' and 'key', got both"),
        (
            "{value = dense<[1, 2]> : tensor<2xi64>}",
            "'ir.const' value is tensor<2xi64> but its result type is tensor<2xf32>",
        ),
        (
            "{value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>}",
            "'ir.const' value is tensor<3xf32> but its result type is tensor<2xf32>",
        ),
        ("{value = [1.0, 2.0]}", "'ir.const' value must be a Dense, got list"),
        ("{key = 7}", "'ir.const' needs a string attribute 'key', got 7"),
    ],
)
def test_bad_const(attrs: str, message: str) -> None:
    fails(
        module(f"""
        func @main() -> () {{
          %0 = "ir.const"() {attrs} : () -> tensor<2xf32> loc("c")
          "ir.return"() : () -> ()
        }}
        """),
        message,
    )


def test_const_key_is_checked_when_weights_are_loaded() -> None:
    m = module(VALID)
    m.weights.set("conv.weight", np.zeros((4, 3, 3, 3), np.float32))
    fails(m, "constant key 'big' is not in the weight store")


def test_const_with_symbolic_result_type_mismatches() -> None:
    m = module(VALID)
    const = m.main.body.ops[2]
    const.results[0].type = tensor_type("f32", Sym("K"))
    fails(m, "'ir.const' value is tensor<3xf32> but its result type is tensor<?Kxf32>")
    const.results[0].type = tensor_type("f32", 3)
    const.attrs["value"] = Dense(np.zeros(3, np.float32))
    verify(m)


# ----------------------------------------------------------------------------------------------
# ONNX schemas


def onnx_op(op_text: str, opset: int = 13) -> Module:
    return module(
        f"""
        func @main(%x: tensor<2x2xf32>, %y: tensor<2x2xf32>, %c: tensor<bool>) -> () {{
          {op_text}
          "ir.return"() : () -> ()
        }}
        """,
        opset,
    )


@pytest.mark.parametrize(
    ("op_text", "message"),
    [
        (
            '%0 = "onnx.Relu"(%x, %y) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Relu' takes 1 input (X), got 2",
        ),
        (
            '%0 = "onnx.Conv"(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Conv' takes 2 to 3 inputs (X, W, B), got 1",
        ),
        (
            '%0 = "onnx.Concat"() {axis = 0} : () -> tensor<2x2xf32>',
            "'onnx.Concat' takes at least 1 input (inputs), got 0",
        ),
        (
            '%0, %1 = "onnx.Relu"(%x) : (tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>)',
            "'onnx.Relu' takes 1 output (Y), got 2",
        ),
        ('"onnx.Relu"(%x) : (tensor<2x2xf32>) -> ()', "'onnx.Relu' takes 1 output (Y), got 0"),
        (
            '%0 = "onnx.Add"(%x, none) : (tensor<2x2xf32>, none) -> tensor<2x2xf32>',
            "input 1 ('B') of 'onnx.Add' is none, but it is not optional",
        ),
        (
            '%0 = "onnx.Concat"(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Concat' needs attribute 'axis' (opset 13)",
        ),
        (
            '%0 = "onnx.Relu"(%x) {alpha = 0.1} : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Relu' has no attribute 'alpha' (opset 13; known: none)",
        ),
        (
            '%0 = "onnx.Conv"(%x, %y) {stride = [1, 1]} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Conv' has no attribute 'stride' (opset 13; known: ",
        ),
        (
            '%0 = "onnx.Frobnicate"(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "unknown ONNX op 'Frobnicate' (opset 13)",
        ),
        (
            '%0 = "onnx.Gelu"(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Gelu' needs opset 20 or more, but the module has opset 13",
        ),
        (
            '%0 = "onnx.If"(%c) ({\n  "ir.yield"(%x) : (tensor<2x2xf32>) -> ()\n}) : (tensor<bool>) -> tensor<2x2xf32>',
            "'onnx.If' has 1 regions, but it takes 2 (one per graph attribute: ",
        ),
        (
            '%0 = "onnx.Relu"(%x) ({\n  "ir.yield"() : () -> ()\n}) : (tensor<2x2xf32>) -> tensor<2x2xf32>',
            "'onnx.Relu' has 1 regions, but it takes 0 (one per graph attribute: none)",
        ),
    ],
)
def test_onnx_schema_violations(op_text: str, message: str) -> None:
    error = fails(onnx_op(op_text.replace("\n", "\n          ")), message)
    assert "in func @main" in error.where


def test_optional_onnx_inputs_may_be_none() -> None:
    verify(onnx_op('%0 = "onnx.Clip"(%x, none, %y) : (tensor<2x2xf32>, none, tensor<2x2xf32>) -> tensor<2x2xf32>'))
    verify(onnx_op('%0 = "onnx.Gelu"(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32>', opset=20))


def test_other_dialects_get_only_structural_checks() -> None:
    verify(
        onnx_op(
            '%0, %1 = "com.microsoft.FusedConv"(%x, none) {whatever = 1} : (tensor<2x2xf32>, none) -> (tensor<2x2xf32>, tensor<2x2xf32>)'
        )
    )


def test_mc_ops_are_checked_against_their_declaration() -> None:
    with pytest.raises(VerifyError, match="unknown dialect op 'mc.anything'"):
        verify(onnx_op('"mc.anything"() {a = [dense<1> : tensor<i8>]} : () -> ()'))
    with pytest.raises(VerifyError, match="bad attributes for 'mc.gelu'"):
        verify(onnx_op('%0 = "mc.gelu"(%x) {approximate = "tanh", anything = 1} : (tensor<2x2xf32>) -> tensor<2x2xf32>'))
    with pytest.raises(VerifyError, match="shape rule gives"):
        verify(onnx_op('%0 = "mc.gelu"(%x) : (tensor<2x2xf32>) -> tensor<2x3xf32>'))


# ----------------------------------------------------------------------------------------------
# cost


def test_importing_the_ir_does_not_import_onnx() -> None:
    code = "import sys, mindconverter.ir; sys.exit('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _conv_chain(layers: int) -> Module:
    weights = WeightStore()
    x = Value(tensor_type("f32", Sym("N"), 16, 8, 8), "x")
    func = Func("main", Block([x]))
    b = Builder(func.body)
    v = x
    for i in range(layers):
        w = b.param(np.zeros((16, 16, 3, 3), np.float32), weights, f"conv{i}.weight")
        v = b.op1("onnx.Conv", [v, w, None], v.type, (f"Conv_{i}",), pads=[1, 1, 1, 1])
        v = b.op1("onnx.Relu", [v], v.type, (f"Relu_{i}",))
    b.create("ir.return", [v])
    return Module("big", [func], {"opset": 13}, weights)


def test_a_2000_op_module_verifies_in_linear_time() -> None:
    """4x the ops cost at most ~8x the CPU time (a relative bound: a loaded machine cannot fail it)."""
    small, big = _conv_chain(175), _conv_chain(700)
    assert len(list(big.ops())) > 2000
    verify(small)  # loads onnx and fills the schema cache

    def cpu_time(m: Module) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            verify(m)
            best = min(best, time.process_time() - start)
        return best

    ratio = cpu_time(big) / max(cpu_time(small), 1e-3)
    assert ratio < 8, f"4x the ops took {ratio:.1f}x the CPU time to verify"


def test_a_dim_that_is_not_a_size_symbol_or_expression_is_rejected() -> None:
    m = module("""
    func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %0 = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
      "ir.return"(%0) : (tensor<2x3xf32>) -> ()
    }""")
    relu = m.main.body.ops[0]
    relu.result.type = relu.result.type.with_dims((2, -3))
    fails(m, "dim 1 of %0 is -3; a dim is a size >= 0, a symbol, an expression or unknown")
