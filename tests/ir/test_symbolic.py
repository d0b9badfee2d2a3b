"""Symbolic dims: canonical arithmetic, comparison, evaluation, Python rendering and the IR text round trip."""

from __future__ import annotations

import pytest

from mindconverter.ir import parse, print_module
from mindconverter.ir import symbolic as S
from mindconverter.ir.type_text import parse_type
from mindconverter.ir.types import UNKNOWN, Sym, SymExpr, tensor_type

B, L, H = Sym("batch"), Sym("seq"), Sym("h")


def test_arithmetic_is_canonical_and_simplifies_to_the_plainest_dim():
    assert str(S.mul(B, L)) == "?(batch*seq)" == str(S.mul(L, B))
    assert S.floordiv(S.mul(B, 12), 4) == S.mul(B, 3)
    assert S.sub(S.add(B, 1), 1) == B  # back to a plain symbol
    assert S.floordiv(S.mul(B, L), L) == B
    assert S.mod(S.mul(B, 4), 2) == 0  # back to an int
    assert S.mul(3, 4) == 12 and isinstance(S.mul(3, 4), int)
    assert S.add(B, UNKNOWN) is UNKNOWN
    assert S.product([B, 2, L]) == S.mul(S.mul(B, L), 2)
    assert str(S.mul(S.floordiv(S.add(H, 6), 7), 7)) == "?(7*((h + 6)//7))"
    assert str(S.sub(L, B)) == "?(seq - batch)"


def test_equal_is_three_valued():
    assert S.equal(S.mul(B, L), S.mul(L, B)) is True
    assert S.equal(S.add(B, 1), B) is False
    assert S.equal(B, L) is None
    assert S.equal(B, UNKNOWN) is None
    assert S.equal(3, 3) is True


@pytest.mark.parametrize("size", [-2, 0, 1, 2, 7])
def test_a_symbol_against_a_size_answers_as_sympy_does(size):
    want = S._equal_exprs(S.to_sympy(B), S.to_sympy(size))
    assert S.equal(B, size) is want and S.equal(size, B) is want


def test_evaluate_substitute_and_free_symbols():
    window = S.mul(S.ceildiv(H, 7), 7)
    assert S.evaluate(window, {"h": 10}) == 14
    assert S.evaluate(window, {"h": 14}) == 14
    assert S.substitute(S.mul(B, L), {"seq": 5}) == S.mul(B, 5)
    assert S.free_symbols(S.mul(B, L)) == {"batch", "seq"}
    assert tensor_type("f32", B, 3, S.mul(B, L)).symbols == {"batch", "seq"}
    with pytest.raises(KeyError, match="seq"):
        S.evaluate(S.mul(B, L), {"batch": 2})


def test_python_rendering_names_each_symbol():
    where = {"batch": "x.shape[0]", "h": "x.shape[2]"}
    assert S.to_python(S.mul(S.floordiv(S.add(H, 6), 7), 7), where.__getitem__) == "7 * ((x.shape[2] + 6) // 7)"
    assert S.to_python(S.mod(H, 7), where.__getitem__) == "x.shape[2] % 7"
    assert S.to_python(B, where.__getitem__) == "x.shape[0]"
    assert S.to_python(64, where.__getitem__) == "64"
    code = S.to_python(S.sub(S.mul(B, 3), H), where.__getitem__)
    assert eval(code, {"x": type("T", (), {"shape": (2, 0, 5)})}) == 1  # noqa: S307 - our own expression


@pytest.mark.parametrize("dim", [
    S.mul(B, L), S.mul(S.floordiv(S.add(H, 6), 7), 7), S.sub(L, B), S.mod(H, 7), S.dmax(B, L),
    S.mul(B, B), Sym("max len"), S.add(Sym("max len"), 1), S.add(Sym("x"), 1), S.mul(S.sub(L, B), -1),
])
def test_type_text_round_trips(dim):
    t = tensor_type("f32", dim, 3, Sym("N"))
    text = str(t)
    assert parse_type(text) == t
    assert str(parse_type(text)) == text


def test_expression_dims_in_a_func_round_trip():
    text = (
        "func @main(%x: tensor<?batchx?seqx64xf32>) -> tensor<?(batch*seq)x64xf32> {\n"
        '  %0 = "onnx.Reshape"(%x, %s) : (tensor<?batchx?seqx64xf32>, tensor<2xi64>) -> tensor<?(batch*seq)x64xf32>\n'
        '  %s = "ir.const"() {value = dense<[-1, 64]>} : () -> tensor<2xi64>\n'
        '  "ir.return"(%0) : (tensor<?(batch*seq)x64xf32>) -> ()\n'
        "}\n"
    )
    module = parse(text)
    printed = print_module(module)
    assert "tensor<?(batch*seq)x64xf32>" in printed
    assert print_module(parse(printed)) == printed
    assert isinstance(module.funcs[0].body.ops[0].results[0].type.dims[0], SymExpr)


@pytest.mark.parametrize("bad", ["tensor<?(batch*x3xf32>", "tensor<?(batch**2)x3xf32>", "tensor<?(import(os))x3xf32>"])
def test_bad_expressions_are_syntax_errors(bad):
    from mindconverter.ir.type_text import BadType

    with pytest.raises(BadType):
        parse_type(bad)
