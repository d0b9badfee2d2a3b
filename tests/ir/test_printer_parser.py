"""Textual IR: the printer is canonical and the parser reads its output back exactly."""

from __future__ import annotations

import math
import re
import textwrap
import time

import ml_dtypes
import numpy as np
import pytest

from mindconverter.errors import IRSyntaxError
from mindconverter.ir import (
    UNKNOWN,
    Block,
    Builder,
    Dense,
    DType,
    Func,
    Module,
    Op,
    Sym,
    TensorType,
    Value,
    WeightStore,
    parse,
    print_func,
    print_module,
    tensor_type,
)
from mindconverter.ir.printer import float_text, format_attr


def ir(text: str) -> str:
    """Dedent a snippet written inside a test and end it with one newline, as the printer does."""
    return textwrap.dedent(text).strip("\n") + "\n"


def reprint(text: str) -> str:
    """Parse then print: a module as a module, bare funcs one after the other."""
    module = parse(text)
    if text.lstrip().startswith(("module", "//")):
        header = text.split("\n", 1)[0].removeprefix("// mindconverter-ir v1  ") if text.startswith("//") else None
        return print_module(module, header=header)
    return "\n".join(print_func(f) for f in module.funcs)


EXAMPLE = ir("""
    // mindconverter-ir v1  source: tiny_convnet.onnx  after: infer-shapes
    module @tiny_convnet attributes {source = "onnx", opset = 13} {
      func @main(%input: tensor<?Nx3x224x224xf32>) -> tensor<?Nx8x112x112xf32> {
        %conv1.weight = "ir.param"() {key = "conv1.weight"} : () -> tensor<16x3x3x3xf32>
        %0 = "ir.const"() {value = dense<[1, 2]>} : () -> tensor<2xi64>
        %1 = "onnx.Conv"(%input, %conv1.weight) {strides = [2, 2], pads = [1, 1, 1, 1]} : (tensor<?Nx3x224x224xf32>, tensor<16x3x3x3xf32>) -> tensor<?Nx16x112x112xf32> loc("/conv1/Conv")
        %2, %3 = "onnx.Split"(%1) {axis = 1} : (tensor<?Nx16x112x112xf32>) -> (tensor<?Nx8x112x112xf32>, tensor<?Nx8x112x112xf32>) loc("Split_3")
        "ir.return"(%2) {names = ["out"]} : (tensor<?Nx8x112x112xf32>) -> ()
      }
    }
    """)

ROUND_TRIPS = {
    "example": EXAMPLE,
    "two funcs": ir("""
        module @"my model" {
          func @main(%x: tensor<f32>) -> tensor<f32> {
            %0 = "onnx.Neg"(%x) : (tensor<f32>) -> tensor<f32>
            "ir.return"(%0) : (tensor<f32>) -> ()
          }

          func @"helper fn"() -> () {
            "ir.return"() : () -> ()
          }
        }
        """),
    "empty module": ir("""
        module @m.v2 {
        }
        """),
    "no results and several results": ir("""
        func @main(%a: tensor<4xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
          "mc.print"(%a) : (tensor<4xf32>) -> ()
          %0, %1 = "onnx.Split"(%a) : (tensor<4xf32>) -> (tensor<2xf32>, tensor<2xf32>)
          "ir.return"(%0, %1) : (tensor<2xf32>, tensor<2xf32>) -> ()
        }
        """),
    "none operands": ir("""
        func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
          %0 = "onnx.Conv"(%x, %w, none) : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, none) -> tensor<1x4x6x6xf32>
          %1 = "onnx.Clip"(%0, none, none) : (tensor<1x4x6x6xf32>, none, none) -> tensor<1x4x6x6xf32>
          "ir.return"(%1) : (tensor<1x4x6x6xf32>) -> ()
        }
        """),
    "regions": ir("""
        func @main(%c: tensor<bool>, %n: tensor<i64>, %x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
          %0 = "onnx.If"(%c) ({
            %1 = "onnx.Neg"(%x) : (tensor<3xf32>) -> tensor<3xf32>
            "ir.yield"(%1) : (tensor<3xf32>) -> ()
          }, {
            "ir.yield"(%x) : (tensor<3xf32>) -> ()
          }) : (tensor<bool>) -> tensor<3xf32> loc("If_0")
          %2 = "onnx.Loop"(%n, none, %0) ({
          ^bb(%i: tensor<i64>, %cond: tensor<bool>, %3: tensor<3xf32>):
            %4 = "onnx.Add"(%3, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
            %5 = "onnx.If"(%cond) ({
              "ir.yield"(%4) : (tensor<3xf32>) -> ()
            }, {
              "ir.yield"(%3) : (tensor<3xf32>) -> ()
            }) : (tensor<bool>) -> tensor<3xf32>
            "ir.yield"(%cond, %5) : (tensor<bool>, tensor<3xf32>) -> ()
          }) : (tensor<i64>, none, tensor<3xf32>) -> tensor<3xf32>
          "ir.return"(%0, %2) : (tensor<3xf32>, tensor<3xf32>) -> ()
        }
        """),
    "empty region": ir("""
        func @main() -> () {
          "mc.scope"() ({
          }) : () -> ()
          "ir.return"() : () -> ()
        }
        """),
    "attribute kinds": ir("""
        func @main() -> () {
          "mc.attrs"() {i = 3, neg = -1, big = 123456789012345678901234567890, f = 0.5, one = 1.0, eps = 1e-05, huge = 1e+300, nz = -0.0, n = nan, p = inf, m = -inf, t = true, no = false, s = "a \\"q\\" \\\\ b\\nc\\x01\\x7f\\u200b\\U000e0001 é 中", e = "", l = [1, 2], empty = [], nested = [[1, 2], [], ["a", 1.5, true]], "a b" = 1, "0" = 2, "k-1" = 3} : () -> ()
          "ir.return"() : () -> ()
        }
        """),
    "dense attributes": ir("""
        func @main() -> () {
          "mc.dense"() {f16 = dense<[[1.0, 0.1], [65500.0, 6e-08]]> : tensor<2x2xf16>, f32 = dense<[0.1, 1.0, 3.4028235e+38, 1e-45, nan, inf, -inf, -0.0]> : tensor<8xf32>, f64 = dense<[0.1, 1e-300]> : tensor<2xf64>, bf16 = dense<[1.0, 0.1, -3.0]> : tensor<3xbf16>, i64 = dense<[-9223372036854775808, 9223372036854775807]> : tensor<2xi64>, u8 = dense<[0, 255]> : tensor<2xu8>, b = dense<[[true], [false]]> : tensor<2x1xbool>, s = dense<["a", "b\\"c"]> : tensor<2xstr>, scalar = dense<2.5> : tensor<f32>, si = dense<7> : tensor<i32>, e1 = dense<[]> : tensor<0xi64>, e2 = dense<[]> : tensor<0x3xf32>, e3 = dense<[[], []]> : tensor<2x0xbool>, list = [dense<1> : tensor<i8>, dense<[2]> : tensor<1xu16>]} : () -> ()
          "ir.return"() : () -> ()
        }
        """),
    "constants": ir("""
        func @main() -> (tensor<2x2xf32>, tensor<i64>, tensor<3xf32>, tensor<2xstr>, tensor<100xf32>) {
          %0 = "ir.const"() {value = dense<[[1.0, 2.0], [3.0, 4.5]]>} : () -> tensor<2x2xf32>
          %1 = "ir.const"() {value = dense<-1>} : () -> tensor<i64>
          %2 = "ir.const"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<3xf32>
          %3 = "ir.const"() {value = dense<["x", "y"]>} : () -> tensor<2xstr>
          %4 = "ir.const"() {key = "const_7"} : () -> tensor<100xf32> loc(fused["Conv_0", "BatchNormalization_1"])
          "ir.return"(%0, %1, %2, %3, %4) : (tensor<2x2xf32>, tensor<i64>, tensor<3xf32>, tensor<2xstr>, tensor<100xf32>) -> ()
        }
        """),
    "quoted names": ir("""
        func @main(%"gpu_0/data_0": tensor<?"batch size"x3xf32>, %"0": tensor<?x?xf32>, %a.b$c-d: tensor<*xu8>) -> tensor<?"batch size"x3xf32> {
          %"1.weight" = "ir.param"() {key = "1.weight"} : () -> tensor<3xf32>
          %0 = "onnx.Add"(%"gpu_0/data_0", %"1.weight") : (tensor<?"batch size"x3xf32>, tensor<3xf32>) -> tensor<?"batch size"x3xf32> loc("a \\"b\\"")
          "ir.return"(%0) : (tensor<?"batch size"x3xf32>) -> ()
        }
        """),
    "duplicate hints": ir("""
        func @main(%x: tensor<f32>, %x_1: tensor<f32>, %x_1_1: tensor<f32>) -> tensor<f32> {
          "ir.return"(%x) : (tensor<f32>) -> ()
        }
        """),
    "all dtypes": ir("""
        func @main(%0: tensor<f16>, %1: tensor<bf16>, %2: tensor<f32>, %3: tensor<f64>, %4: tensor<i8>, %5: tensor<i16>, %6: tensor<i32>, %7: tensor<i64>, %8: tensor<u8>, %9: tensor<u16>, %10: tensor<u32>, %11: tensor<u64>, %12: tensor<bool>, %13: tensor<str>) -> () {
          "ir.return"() : () -> ()
        }
        """),
    "two bare funcs": ir("""
        func @a() -> () {
          "ir.return"() : () -> ()
        }
        """)
    + "\n"
    + ir("""
        func @b() -> () {
          "ir.return"() : () -> ()
        }
        """),
}


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_printed_text_round_trips(text: str) -> None:
    assert reprint(text) == text


def test_parse_builds_the_example() -> None:
    module = parse(EXAMPLE)
    assert module.name == "tiny_convnet"
    assert module.attrs == {"source": "onnx", "opset": 13}
    func = module.main
    assert [a.name for a in func.args] == ["input"]
    assert func.args[0].type == tensor_type("f32", Sym("N"), 3, 224, 224)
    param, const, conv, split, ret = func.body.ops
    assert param.result.name == "conv1.weight" and param.attrs == {"key": "conv1.weight"}
    assert const.attrs["value"] == Dense(np.array([1, 2], np.int64))
    assert conv.operands == [func.args[0], param.result] and conv.loc == ("/conv1/Conv",)
    assert conv.attrs == {"strides": [2, 2], "pads": [1, 1, 1, 1]}
    assert conv.result.name is None and conv.result.owner is conv
    assert [r.index for r in split.results] == [0, 1] and split.parent is func.body
    assert ret.operands == [split.results[0]] and func.output_names == ["out"]
    assert ret.loc == ()


def test_header_is_printed_only_when_given() -> None:
    module = parse(EXAMPLE)
    assert print_module(module, header="source: tiny_convnet.onnx  after: infer-shapes") == EXAMPLE
    assert print_module(module) == EXAMPLE.split("\n", 1)[1]


def test_bare_funcs_make_a_module_named_main() -> None:
    module = parse(ROUND_TRIPS["two bare funcs"])
    assert module.name == "main" and module.attrs == {}
    assert [f.name for f in module.funcs] == ["a", "b"]


def test_weights_are_attached() -> None:
    weights = WeightStore()
    assert parse(EXAMPLE, weights).weights is weights
    assert len(parse(EXAMPLE).weights) == 0


def test_regions_are_nested_blocks() -> None:
    func = parse(ROUND_TRIPS["regions"]).main
    if_op, loop = func.body.ops[0], func.body.ops[1]
    then_block, else_block = if_op.regions
    assert then_block.parent is if_op and then_block.ops[0].parent is then_block
    assert then_block.ops[0].operands == [func.args[2]]  # a value of the enclosing block
    assert else_block.ops[0].operands == [func.args[2]]
    body = loop.regions[0]
    assert [a.name for a in body.args] == ["i", "cond", None]
    assert body.args[2].owner is body and body.args[2].index == 2
    assert loop.operands[1] is None
    assert body.ops[1].regions[0].ops[0].operands == [body.ops[0].result]


def test_dense_values_keep_dtype_and_shape() -> None:
    attrs = parse(ROUND_TRIPS["dense attributes"]).main.body.ops[0].attrs
    expected = {
        "f16": np.array([[1, 0.1], [65504, 6e-08]], np.float16),
        "f32": np.array([0.1, 1, 3.4028235e38, 1e-45, np.nan, np.inf, -np.inf, -0.0], np.float32),
        "f64": np.array([0.1, 1e-300]),
        "bf16": np.array([1, 0.1, -3], ml_dtypes.bfloat16),
        "i64": np.array([-(2**63), 2**63 - 1], np.int64),
        "u8": np.array([0, 255], np.uint8),
        "b": np.array([[True], [False]]),
        "s": np.array(["a", 'b"c'], object),
        "scalar": np.array(2.5, np.float32),
        "si": np.array(7, np.int32),
        "e1": np.zeros((0,), np.int64),
        "e2": np.zeros((0, 3), np.float32),
        "e3": np.zeros((2, 0), bool),
    }
    for key, array in expected.items():
        assert attrs[key] == Dense(array), key
    assert attrs["list"] == [Dense(np.array(1, np.int8)), Dense(np.array([2], np.uint16))]


def test_const_value_takes_dtype_and_shape_from_its_result() -> None:
    ops = parse(ROUND_TRIPS["constants"]).main.body.ops
    assert ops[0].attrs["value"] == Dense(np.array([[1, 2], [3, 4.5]], np.float32))
    assert ops[1].attrs["value"] == Dense(np.array(-1, np.int64))
    # A value that does not match its result type (invalid IR) keeps its own type in the text.
    assert ops[2].attrs["value"] == Dense(np.array([1, 2], np.float32))
    assert ops[4].attrs == {"key": "const_7"} and ops[4].loc == ("Conv_0", "BatchNormalization_1")


def test_attribute_values_parse_to_python_values() -> None:
    attrs = parse(ROUND_TRIPS["attribute kinds"]).main.body.ops[0].attrs
    assert attrs["big"] == 123456789012345678901234567890
    assert attrs["eps"] == 1e-05 and attrs["one"] == 1.0 and isinstance(attrs["one"], float)
    assert math.isnan(attrs["n"]) and attrs["p"] == math.inf and attrs["m"] == -math.inf
    assert math.copysign(1, attrs["nz"]) == -1
    assert attrs["t"] is True and attrs["no"] is False
    assert attrs["s"] == 'a "q" \\ b\nc\x01\x7f\u200b\U000e0001 é 中'
    assert attrs["nested"] == [[1, 2], [], ["a", 1.5, True]]
    assert list(attrs)[-3:] == ["a b", "0", "k-1"]


STRINGS = [
    "",
    "plain",
    'q"q',
    "back\\slash",
    "new\nline",
    "tab\t",
    "\r",
    "\x00\x1f\x7f\x80\x9f\xa0",
    "\u2028\u2029",
    "\ufeff",
    "\ud800",
    "\U0001f600",
    "\U000e0001",
    "中文",
    "\\x41",
    "\\u0041",
    "//",
    "}{)(,=",
]
STRINGS.append("".join(chr(c) for c in range(0, 0x250)))


@pytest.mark.parametrize("s", STRINGS)
def test_any_string_round_trips(s: str) -> None:
    value = Value(tensor_type("f32", Sym(s)), s)
    func = Func("main", Block([value]))
    b = Builder(func.body)
    b.create("mc.s", attrs={"s": s, s: 1}, loc=(s, s))
    b.create("ir.return")
    text = print_module(Module(s, [func], {s: [s]}))
    assert text.count("\n") == 6  # one op per line, whatever the string holds
    again = parse(text)
    op = again.main.body.ops[0]
    assert again.name == s and again.attrs == {s: [s]}
    assert op.attrs == {"s": s, s: 1} and op.loc == (s, s)
    assert again.main.args[0].type == value.type
    assert (again.main.args[0].name or "") == s  # an empty hint is no hint: the arg prints as a number
    assert print_module(again) == text


@pytest.mark.parametrize(
    ("dtype", "values", "text"),
    [
        (
            np.float32,
            [1.0, 0.1, 1e-05, 1e16, 123456.79, 3.4028235e38],
            "[1.0, 0.1, 1e-05, 1e+16, 123456.79, 3.4028235e+38]",
        ),
        (np.float16, [1.0, 0.1, 65504.0, 6e-08, 0.3333], "[1.0, 0.1, 65500.0, 6e-08, 0.3333]"),
        (np.float64, [1.0, 0.1, 1 / 3], "[1.0, 0.1, 0.3333333333333333]"),
        (ml_dtypes.bfloat16, [1.0, 0.1, 3.0e38], "[1.0, 0.1, 3e+38]"),
        (np.float32, [np.nan, np.inf, -np.inf, -0.0], "[nan, inf, -inf, -0.0]"),
    ],
)
def test_floats_print_shortest_in_their_dtype(dtype: type, values: list[float], text: str) -> None:
    assert format_attr(Dense(np.array(values, dtype))).split(" : ")[0] == f"dense<{text}>"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ml_dtypes.bfloat16])
def test_random_floats_round_trip_bit_exactly(dtype: type) -> None:
    rng = np.random.default_rng(0)
    with np.errstate(over="ignore"):
        array = (rng.standard_normal(500) * 10.0 ** rng.integers(-40, 40, 500)).astype(dtype)
    text = f"module @m attributes {{d = {format_attr(Dense(array))}}} {{\n}}\n"
    back = parse(text).attrs["d"].array
    assert back.dtype == array.dtype
    bits = np.dtype(f"u{array.dtype.itemsize}")
    assert np.array_equal(back.view(bits), array.view(bits))


def test_float_text_always_reads_as_a_float() -> None:
    for x in [1.0, 100.0, 1e16, 1e22, 5e-324, 0.0]:
        text = float_text(x, DType.F32)
        assert "." in text or "e" in text, text


def test_print_module_built_with_builder() -> None:
    weights = WeightStore()
    x = Value(tensor_type("f32", Sym("N"), 4), "input")
    func = Func("main", Block([x]))
    module = Module("built", [func], {"source": "test"}, weights)
    b = Builder(func.body)
    w = b.param(np.ones((3, 4), np.float32), weights, "fc.weight")
    bias = b.param(np.zeros((3,), np.float32), weights, "fc.bias")
    y = b.op1("onnx.Gemm", [x, w, bias], tensor_type("f32", Sym("N"), 3), ("/fc/Gemm",), transB=1)
    scale = b.const(np.array([0.5, 2.0, 1.0], np.float32), weights)
    big = b.const(np.arange(20, dtype=np.int64), weights, loc=("Shape_1",))
    z = b.op1("onnx.Mul", [y, scale], y.type, ("/mul/Mul",))
    b.create("ir.return", [z, big], attrs={"names": ["logits", "shape"]})
    expected = ir("""
        module @built attributes {source = "test"} {
          func @main(%input: tensor<?Nx4xf32>) -> (tensor<?Nx3xf32>, tensor<20xi64>) {
            %fc.weight = "ir.param"() {key = "fc.weight"} : () -> tensor<3x4xf32>
            %fc.bias = "ir.param"() {key = "fc.bias"} : () -> tensor<3xf32>
            %0 = "onnx.Gemm"(%input, %fc.weight, %fc.bias) {transB = 1} : (tensor<?Nx4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?Nx3xf32> loc("/fc/Gemm")
            %1 = "ir.const"() {value = dense<[0.5, 2.0, 1.0]>} : () -> tensor<3xf32>
            %2 = "ir.const"() {key = "Shape_1"} : () -> tensor<20xi64> loc("Shape_1")
            %3 = "onnx.Mul"(%0, %1) : (tensor<?Nx3xf32>, tensor<3xf32>) -> tensor<?Nx3xf32> loc("/mul/Mul")
            "ir.return"(%3, %2) {names = ["logits", "shape"]} : (tensor<?Nx3xf32>, tensor<20xi64>) -> ()
          }
        }
        """)
    assert print_module(module) == expected
    assert print_module(parse(expected, weights)) == expected


def test_numbers_follow_program_order_and_hints_are_deduplicated() -> None:
    a, b = Value(tensor_type("f32"), "x"), Value(tensor_type("f32"), "x")
    func = Func("main", Block([a, b]))
    bld = Builder(func.body)
    named = bld.op1("onnx.Add", [a, b], a.type)
    named.name = "ignored"  # only args and params keep their hint
    bld.create("ir.return", [named])
    text = print_func(func)
    assert text.startswith("func @main(%x: tensor<f32>, %x_1: tensor<f32>)")
    assert '%0 = "onnx.Add"(%x, %x_1)' in text
    assert [v.name for v in parse(text).main.args] == ["x", "x_1"]


def test_hand_written_text_is_canonicalized() -> None:
    text = """
      // a comment
      func @main(%a: tensor<2xf32>) -> (tensor<2xf32>) {  // trailing comment
        %7 = "onnx.Neg"(%a)  :  (tensor<2xf32>) -> (tensor<2xf32>)
        %named = "onnx.Neg"(%7) {} : (tensor<2xf32>) -> tensor<2xf32> loc(fused["only"])
        %c = "ir.const"() {value = dense<[1, 2]> : tensor<2xf32>} : () -> tensor<2xf32>
        "ir.return"(%named) : (tensor<2xf32>) -> ()
      }"""
    assert print_func(parse(text).main) == ir("""
        func @main(%a: tensor<2xf32>) -> tensor<2xf32> {
          %0 = "onnx.Neg"(%a) : (tensor<2xf32>) -> tensor<2xf32>
          %1 = "onnx.Neg"(%0) : (tensor<2xf32>) -> tensor<2xf32> loc("only")
          %2 = "ir.const"() {value = dense<[1.0, 2.0]>} : () -> tensor<2xf32>
          "ir.return"(%1) : (tensor<2xf32>) -> ()
        }
        """)
    assert parse(text).main.body.ops[1].result.name is None


def test_forward_references_parse_so_the_verifier_can_report_them() -> None:
    func = parse(
        ir("""
        func @main() -> tensor<f32> {
          %0 = "onnx.Neg"(%1) : (tensor<f32>) -> tensor<f32>
          %1 = "ir.const"() {value = dense<1.0>} : () -> tensor<f32>
          "ir.return"(%0) : (tensor<f32>) -> ()
        }
        """)
    ).main
    neg, const = func.body.ops[:2]
    assert neg.operands == [const.result]


def test_printing_invalid_ir_does_not_fail() -> None:
    other = Value(tensor_type("f32"))
    func = Func("main", Block([]))
    b = Builder(func.body)
    b.create("ir.return", [other])
    text = print_func(func)
    assert '"ir.return"(%0)' in text
    with pytest.raises(IRSyntaxError, match="value %0 is not defined in func @main"):
        parse(text)


def test_unsupported_attribute_values_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot hold an attribute value of type dict"):
        format_attr({"a": 1})
    assert format_attr(np.int64(3)) == "3" and format_attr(np.float32(0.5)) == "0.5"
    assert format_attr(np.bool_(True)) == "true" and format_attr((1, 2)) == "[1, 2]"


def test_ops_are_built_with_consistent_links() -> None:
    func = parse(ROUND_TRIPS["no results and several results"]).main
    for op in func.walk():
        assert isinstance(op, Op) and op.parent is func.body
        assert all(r.owner is op and r.index == i for i, r in enumerate(op.results))
    assert func.body.parent is func


# ----------------------------------------------------------------------------------------------
# errors


ERRORS = [
    ('func @main() -> () {\n  "ir.return"() : () -> (\n}', "unexpected '}', expected one of ')', 'none', a type", 3, 1),
    (
        'func @main() -> () {\n  "ir.return"(%x) : (tensor<f32>) -> ()\n}',
        "value %x is not defined in func @main",
        2,
        15,
    ),
    (
        'func @main() -> () {\n  %0 = "a"() : () -> tensor<2xf32>\n  %0 = "b"() : () -> tensor<2xf32>\n}',
        "value %0 is defined twice (first at line 2:3)",
        3,
        3,
    ),
    (
        'func @main() -> () {\n  %0 = "a"() : () -> tensor<2xf32>\n  "b"(%0) : (tensor<3xf32>) -> ()\n}',
        "type tensor<3xf32> of operand %0 does not match its definition (tensor<2xf32>)",
        3,
        14,
    ),
    (
        'func @main() -> tensor<f32> {\n  "ir.return"() : () -> ()\n}',
        "func @main declares results (tensor<f32>) but 'ir.return' returns ()",
        1,
        14,
    ),
    (
        'func @main() -> () {\n  %0 = "a"() {x = 1, x = 2} : () -> tensor<2xf32>\n}',
        "attribute 'x' is given twice",
        2,
        22,
    ),
    (
        'func @main() -> () {\n  %0 = "a"() {x = dense<[1, 2]>} : () -> tensor<2xf32>\n}',
        "attribute 'x' needs its type: dense<...> : tensor<...>",
        2,
        19,
    ),
    (
        'func @main() -> () {\n  "a"() {x = dense<[1, 2]> : tensor<3xf32>} : () -> ()\n}',
        "dense literal has shape [2], but its type is tensor<3xf32>",
        2,
        14,
    ),
    (
        'func @main() -> () {\n  %0 = "ir.const"() {value = dense<[[1], [2, 3]]>} : () -> tensor<3xi64>\n}',
        "dense literal is ragged",
        2,
        30,
    ),
    (
        'func @main() -> () {\n  %0 = "ir.const"() {value = dense<[1, 2.5]>} : () -> tensor<2xi64>\n}',
        "dense element 2.5 does not fit i64",
        2,
        30,
    ),
    (
        'func @main() -> () {\n  %0 = "ir.const"() {value = dense<[300]>} : () -> tensor<1xu8>\n}',
        "dense element 300 does not fit u8",
        2,
        30,
    ),
    (
        'func @main() -> () {\n  %0 = "ir.const"() {value = dense<[1]>} : () -> tensor<?xi64>\n}',
        "a dense literal needs a static shape, got tensor<?xi64>",
        2,
        30,
    ),
    ('func @main() -> () {\n  "a"() {s = "\\q"} : () -> ()\n}', "unknown escape '\\q' in string", 2, 14),
    (
        'func @main() -> () {\n  "a"(none) : (tensor<f32>) -> ()\n}',
        "operand 0 of 'a' is none, so its type must be 'none'",
        2,
        16,
    ),
    (
        'func @main() -> () {\n  %0, %1 = "a"() : () -> tensor<f32>\n}',
        "'a' defines 2 result(s) but lists 1 result type",
        2,
        23,
    ),
    ('func @main() -> () {\n  %0 = "a"() : () -> tensor<2xf32> &\n}', "unexpected character '&'", 2, 36),
    ("", "unexpected end of input, expected one of 'func', 'module'", 1, 1),
    ("module @m {", "unexpected end of input, expected one of 'func', '}'", 1, 12),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_syntax_errors_point_at_line_and_column(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(IRSyntaxError, match=re.escape(message)) as info:
        parse(text)
    error = info.value
    assert error.code == 4000003 and error.fix
    assert error.where is not None
    position, source, caret = error.where.split("\n")
    assert position == f"line {line}:{column}"
    source_line = text.split("\n")[line - 1]
    assert source == "    " + source_line
    assert caret == "    " + " " * (column - 1) + "^"
    assert str(error).splitlines()[0].startswith("error[4000003]: ")


# ----------------------------------------------------------------------------------------------
# speed


def _big_module(layers: int) -> Module:
    weights = WeightStore()
    x = Value(TensorType(DType.F32, (Sym("N"), 16, 32, UNKNOWN)), "input")
    func = Func("main", Block([x]))
    b = Builder(func.body)
    v = x
    for i in range(layers):
        w = b.param(np.zeros((16, 16, 3, 3), np.float32), weights, f"layer{i}.conv.weight")
        v = b.op1("onnx.Conv", [v, w, None], v.type, (f"/layer{i}/Conv",), pads=[1, 1, 1, 1], strides=[1, 1])
        scale = b.const(np.array([0.5, 1.5, 1e-5], np.float32), weights)
        v = b.op1("onnx.Mul", [v, scale], v.type, (f"/layer{i}/Mul",))
    b.create("ir.return", [v])
    return Module("big", [func], {"opset": 13}, weights)


def test_a_2000_op_dump_parses_in_linear_time() -> None:
    """Parsing work grows linearly: 4x the ops cost at most ~8x the CPU time (no wall-clock budget, so
    a loaded machine cannot fail it; a quadratic parser would take ~16x)."""
    small, big = print_module(_big_module(125)), print_module(_big_module(500))
    assert big.count("\n") > 2000
    parse(small)  # builds the parser once

    def cpu_time(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            module = parse(text)
            best = min(best, time.process_time() - start)
        assert print_module(module) == text
        return best

    ratio = cpu_time(big) / max(cpu_time(small), 1e-3)
    assert ratio < 8, f"4x the ops took {ratio:.1f}x the CPU time to parse"
