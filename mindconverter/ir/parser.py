"""Parse IR text (see docs/ir_format.md) back into a Module; the inverse of printer.py.

Lark's LALR parser turns the text into light syntax tuples (`_Syntax`, stateless), then `_FuncBuilder`
creates the Values and Ops of each func, resolving value names (forward references included, so
that invalid IR dumped after a failing pass still parses and the verifier can say what is wrong).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from mindconverter.errors import IRSyntaxError
from mindconverter.ir.core import Block, Dense, Func, Loc, Module, Op, Value, WeightStore
from mindconverter.ir.type_text import BadType, parse_type, unquote
from mindconverter.ir.types import DType, TensorType

_FIX = "see docs/ir_format.md for the IR syntax"


class _ParseError(Exception):
    """A syntax error found in a rule callback, at `token` (plus `offset` characters into it)."""

    def __init__(self, token: Token, what: str, fix: str = _FIX, offset: int = 0) -> None:
        super().__init__(what)
        self.token, self.what, self.fix, self.offset = token, what, fix, offset


# ----------------------------------------------------------------------------------------------
# strings and types


def _token_text(token: Token, sigil_len: int) -> str:
    """The name in a `%name`, `@name`, `%"quoted name"` token."""
    body = token[sigil_len:]
    if not body.startswith('"'):
        return body
    try:
        return unquote(body)
    except ValueError as e:
        raise _ParseError(token, str(e)) from None


def _type(token: Token) -> TensorType:
    try:
        return parse_type(str(token))
    except BadType as e:
        raise _ParseError(token, e.what, offset=e.offset) from None


# ----------------------------------------------------------------------------------------------
# dense literals


class _UntypedDense(NamedTuple):
    """`dense<...>` without ` : tensor<...>`: only the `value` of an `ir.const`, typed by its result."""

    token: Token
    literal: Any


def _literal_shape(literal: Any) -> tuple[int, ...] | None:
    """The shape of a nested-list literal, or None when it is ragged."""
    if not isinstance(literal, list):
        return ()
    if not literal:
        return (0,)
    inner = {_literal_shape(x) for x in literal}
    if len(inner) != 1 or None in inner:
        return None
    return (len(literal), *inner.pop())


def _flatten(literal: Any, out: list[Any]) -> list[Any]:
    if isinstance(literal, list):
        for x in literal:
            _flatten(x, out)
    else:
        out.append(literal)
    return out


def _element_ok(x: Any, dtype: DType, bounds: np.iinfo | None) -> bool:
    if dtype is DType.BOOL:
        return isinstance(x, bool)
    if dtype is DType.STR:
        return isinstance(x, str)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    if dtype.is_float:
        return True
    return isinstance(x, int) and bounds is not None and bounds.min <= x <= bounds.max


def _make_dense(token: Token, literal: Any, ttype: TensorType) -> Dense:
    """Build the Dense for `dense<literal>` of type `ttype`, checking elements against dtype and shape."""
    if not ttype.is_static:
        raise _ParseError(token, f"a dense literal needs a static shape, got {ttype}")
    shape = ttype.shape
    flat = _flatten(literal, [])
    size = math.prod(shape)
    if len(flat) != size or (size and _literal_shape(literal) != shape):
        got = _literal_shape(literal)
        found = "is ragged" if got is None else f"has shape {list(got)}"
        raise _ParseError(token, f"dense literal {found}, but its type is {ttype}")
    np_dtype = ttype.dtype.to_numpy()
    bounds = np.iinfo(np_dtype) if ttype.dtype.is_int else None
    for x in flat:
        if not _element_ok(x, ttype.dtype, bounds):
            raise _ParseError(token, f"dense element {x!r} does not fit {ttype.dtype.value}")
    return Dense(np.array(flat, dtype=np_dtype).reshape(shape))


# ----------------------------------------------------------------------------------------------
# syntax tuples (what the lark callbacks produce)


class _OpSyntax(NamedTuple):
    results: list[Token]
    name: Token
    operands: list[Token | None]
    regions: list[_RegionSyntax]
    attrs: dict[str, Any]
    operand_types: list[Token | None]
    arrow: Token
    result_types: list[Token | None]
    loc: Loc


class _RegionSyntax(NamedTuple):
    args: list[tuple[Token, Token]]
    ops: list[_OpSyntax]


class _FuncSyntax(NamedTuple):
    name: Token
    args: list[tuple[Token, Token]]
    arrow: Token
    result_types: list[Token | None]
    ops: list[_OpSyntax]


class _ModuleSyntax(NamedTuple):
    name: Token
    attrs: dict[str, Any]
    funcs: list[_FuncSyntax]


class _Regions(list):  # type: ignore[type-arg]
    """The regions of one op (a distinct type so `op()` can tell its optional parts apart)."""


class _Attrs(dict):  # type: ignore[type-arg]
    """An attribute dict (a distinct type so `op()` can tell its optional parts apart)."""


class _Syntax(Transformer):  # type: ignore[type-arg]
    """Lark rule callbacks: build syntax tuples and attribute values; hold no state, so parses can share it."""

    def bare_funcs(self, c: list[_FuncSyntax]) -> list[_FuncSyntax]:
        return c

    def start(self, c: list[_ModuleSyntax]) -> _ModuleSyntax:
        return c[0]

    def module(self, c: list[Any]) -> _ModuleSyntax:
        attrs = c[1] if len(c) > 1 and isinstance(c[1], _Attrs) else _Attrs()
        return _ModuleSyntax(c[0], attrs, [f for f in c[1:] if isinstance(f, _FuncSyntax)])

    def module_attrs(self, c: list[_Attrs]) -> _Attrs:
        return c[0]

    def func(self, c: list[Any]) -> _FuncSyntax:
        return _FuncSyntax(c[0], c[1], c[2], c[3], c[4:])

    def arg_list(self, c: list[tuple[Token, Token]]) -> list[tuple[Token, Token]]:
        return c

    def arg(self, c: list[Token]) -> tuple[Token, Token]:
        return c[0], c[1]

    def op(self, c: list[Any]) -> _OpSyntax:
        results, name, operands = c[0], c[1], c[2]
        i = 3
        regions = c[i] if isinstance(c[i], _Regions) else _Regions()
        i += isinstance(c[i], _Regions)
        attrs = c[i] if isinstance(c[i], _Attrs) else _Attrs()
        i += isinstance(c[i], _Attrs)
        loc = c[i + 3] if len(c) > i + 3 else ()
        return _OpSyntax(results, name, operands, regions, attrs, c[i], c[i + 1], c[i + 2], loc)

    def result_list(self, c: list[Token]) -> list[Token]:
        return c

    def operand_list(self, c: list[Token | None]) -> list[Token | None]:
        return c

    def none(self, c: list[Any]) -> None:
        return None

    def type_list(self, c: list[Any]) -> list[Token | None]:
        return c[0] if isinstance(c[0], list) else c

    def opt_types(self, c: list[Token | None]) -> list[Token | None]:
        return c

    def regions(self, c: list[_RegionSyntax]) -> _Regions:
        return _Regions(c)

    def region(self, c: list[Any]) -> _RegionSyntax:
        if c and isinstance(c[0], list):
            return _RegionSyntax(c[0], c[1:])
        return _RegionSyntax([], c)

    def block_args(self, c: list[list[tuple[Token, Token]]]) -> list[tuple[Token, Token]]:
        return c[0]

    def attr_dict(self, c: list[tuple[Token, Any]]) -> _Attrs:
        attrs = _Attrs()
        for key, value in c:
            name = _string(key) if key.type == "STRING" else str(key)
            if name in attrs:
                raise _ParseError(key, f"attribute '{name}' is given twice", fix="keep one of them")
            attrs[name] = value
        return attrs

    def attr(self, c: list[Any]) -> tuple[Token, Any]:
        return c[0], c[1]

    def int_(self, c: list[Token]) -> int:
        return int(c[0])

    def float_(self, c: list[Token]) -> float:
        return float(c[0])

    def true(self, c: list[Any]) -> bool:
        return True

    def false(self, c: list[Any]) -> bool:
        return False

    def string(self, c: list[Token]) -> str:
        return _string(c[0])

    def list_(self, c: list[Any]) -> list[Any]:
        for x in c:
            if isinstance(x, _UntypedDense):
                raise _ParseError(x.token, "a dense literal inside a list needs its type: dense<...> : tensor<...>")
        return c

    def dense(self, c: list[Any]) -> Dense | _UntypedDense:
        if len(c) == 2:
            return _UntypedDense(c[0], c[1])
        return _make_dense(c[0], c[1], _type(c[2]))

    def loc(self, c: list[Token]) -> Loc:
        return tuple(_string(t) for t in c)


def _string(token: Token) -> str:
    try:
        return unquote(str(token))
    except ValueError as e:
        raise _ParseError(token, str(e)) from None


# ----------------------------------------------------------------------------------------------
# building IR objects


def _value_key(token: Token) -> int | str:
    """`%3` -> 3 (a number), `%x` and `%"3"` -> "x", "3" (a name): numbers and names never collide."""
    body = token[1:]
    return int(body) if body.isdigit() else _token_text(token, 1)


class _FuncBuilder:
    """Creates the Values and Ops of one func; names are per func, uses may precede definitions."""

    def __init__(self) -> None:
        self.values: dict[int | str, tuple[Value, Token]] = {}
        self.pending: list[tuple[Op, int, Token, Token | None]] = []

    def build(self, syn: _FuncSyntax) -> Func:
        body = Block([self._define_arg(a) for a in syn.args], [self._op(o) for o in syn.ops])
        for op, index, token, type_token in self.pending:
            if _value_key(token) not in self.values:
                raise _ParseError(
                    token,
                    f"value {token} is not defined in func @{_token_text(syn.name, 1)}",
                    fix="define it, or fix the name",
                )
            op.operands[index] = self._use(token, type_token)
        func = Func(_token_text(syn.name, 1), body)
        ret = body.ops[-1] if body.ops and body.ops[-1].name == "ir.return" else None
        if ret is not None:
            declared = [None if t is None else _type(t) for t in syn.result_types]
            returned = [None if v is None else v.type for v in ret.operands]
            if declared != returned:
                raise _ParseError(
                    syn.arrow,
                    f"func @{func.name} declares results ({_types(declared)}) but "
                    f"'ir.return' returns ({_types(returned)})",
                    fix="make the signature match the 'ir.return' operand types",
                )
        return func

    def _define(self, token: Token, value: Value) -> Value:
        key = _value_key(token)
        if key in self.values:
            first = self.values[key][1]
            raise _ParseError(
                token,
                f"value {token} is defined twice (first at line {first.line}:{first.column})",
                fix="give each value its own name",
            )
        self.values[key] = (value, token)
        return value

    def _define_arg(self, arg: tuple[Token, Token]) -> Value:
        token, type_token = arg
        name = None if token[1:].isdigit() else _token_text(token, 1)
        return self._define(token, Value(_type(type_token), name))

    def _use(self, token: Token, type_token: Token | None) -> Value:
        value = self.values[_value_key(token)][0]
        if type_token is None:
            raise _ParseError(token, f"operand {token} is a value, but its type is given as 'none'")
        if _type(type_token) != value.type:
            raise _ParseError(
                type_token,
                f"type {type_token} of operand {token} does not match its definition ({value.type})",
                fix=f"write {value.type}",
            )
        return value

    def _op(self, syn: _OpSyntax) -> Op:
        name = _string(syn.name)
        if len(syn.operands) != len(syn.operand_types):
            raise _ParseError(
                syn.arrow,
                f"'{name}' lists {len(syn.operands)} operand(s) but {len(syn.operand_types)} operand type(s)",
                fix="give one type per operand ('none' for a none operand)",
            )
        if len(syn.results) != len(syn.result_types):
            raise _ParseError(
                syn.arrow,
                f"'{name}' defines {len(syn.results)} result(s) but lists {len(syn.result_types)} result type(s)",
                fix="give one type per result",
            )
        result_types = []
        for t in syn.result_types:
            if t is None:
                raise _ParseError(syn.arrow, f"a result of '{name}' has type 'none'; results always have a type")
            result_types.append(_type(t))
        attrs = dict(syn.attrs)
        for key, value in attrs.items():
            if isinstance(value, _UntypedDense):
                if name != "ir.const" or key != "value" or len(result_types) != 1:
                    raise _ParseError(
                        value.token,
                        f"attribute '{key}' needs its type: dense<...> : tensor<...>",
                        fix="only the 'value' of an 'ir.const' takes its type from the result",
                    )
                attrs[key] = _make_dense(value.token, value.literal, result_types[0])
        regions = [self._region(r) for r in syn.regions]
        op = Op(name, [None] * len(syn.operands), [], attrs, syn.loc, regions)
        for region in regions:
            region.parent = op
        keep_names = name == "ir.param"
        for i, (token, ttype) in enumerate(zip(syn.results, result_types, strict=True)):
            hint = _token_text(token, 1) if keep_names and not token[1:].isdigit() else None
            op.results.append(self._define(token, Value(ttype, hint, op, i)))
        for i, (token, type_token) in enumerate(zip(syn.operands, syn.operand_types, strict=True)):
            if token is None:
                if type_token is not None:
                    raise _ParseError(type_token, f"operand {i} of '{name}' is none, so its type must be 'none'")
            elif _value_key(token) in self.values:
                op.operands[i] = self._use(token, type_token)
            else:
                self.pending.append((op, i, token, type_token))
        return op

    def _region(self, syn: _RegionSyntax) -> Block:
        return Block([self._define_arg(a) for a in syn.args], [self._op(o) for o in syn.ops])


def _types(types: list[TensorType | None]) -> str:
    return ", ".join("none" if t is None else str(t) for t in types)


# ----------------------------------------------------------------------------------------------
# entry point and error reporting


@functools.cache
def _lark() -> Lark:
    return Lark(
        Path(__file__).with_name("grammar.lark").read_text(),
        parser="lalr",
        lexer="contextual",
        transformer=_Syntax(),
        maybe_placeholders=False,
    )


def parse(text: str, weights: WeightStore | None = None) -> Module:
    """Parse a `module @name {...}`, or one or more bare `func`s (wrapped in Module("main"))."""
    try:
        syntax = _lark().parse(text)
        if isinstance(syntax, _ModuleSyntax):
            name, attrs, funcs = _token_text(syntax.name, 1), dict(syntax.attrs), syntax.funcs
            for key, value in attrs.items():
                if isinstance(value, _UntypedDense):
                    raise _ParseError(value.token, f"module attribute '{key}' needs its type: dense<...> : tensor<...>")
        else:
            name, attrs, funcs = "main", {}, syntax
        module = Module(name, [_FuncBuilder().build(f) for f in funcs], attrs)
    except _ParseError as e:
        column = e.token.column + e.offset
        raise IRSyntaxError(e.what, where=_where(text, e.token.line, column), fix=e.fix) from None
    except UnexpectedInput as e:
        raise _lark_error(text, e) from None
    if weights is not None:
        module.weights = weights
    return module


_TERMINAL_NAMES = {
    "SYMBOL": "a name (@name)",
    "VALUE": "a value (%name)",
    "TYPE": "a type (tensor<...>)",
    "STRING": "a string",
    "IDENT": "an attribute name",
    "INT": "an integer",
    "FLOAT": "a float",
    "$END": "end of input",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    pattern = _lark().get_terminal(terminal).pattern
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else terminal


def _lark_error(text: str, e: UnexpectedInput) -> IRSyntaxError:
    if isinstance(e, UnexpectedToken) and e.token.type != "$END":
        found, line, column = f"'{e.token}'", e.token.line, e.token.column
    elif isinstance(e, UnexpectedCharacters):
        found, line, column = f"character '{e.char}'", e.line, e.column
    else:  # end of input: point just after the last non-blank text
        lines = text.rstrip().split("\n")
        found, line, column = "end of input", len(lines), len(lines[-1]) + 1
    expected = sorted({_describe(t) for t in getattr(e, "expected", None) or getattr(e, "allowed", None) or ()})
    what = f"unexpected {found}"
    if expected:
        what += ", expected " + (expected[0] if len(expected) == 1 else "one of " + ", ".join(expected))
    return IRSyntaxError(what, where=_where(text, line, column), fix=_FIX)


def _where(text: str, line: int, column: int) -> str:
    """`line L:C`, then the source line and a caret under column C."""
    lines = text.split("\n")  # as lark counts lines
    source = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    pad = "".join("\t" if ch == "\t" else " " for ch in source[: column - 1])
    return f"line {line}:{column}\n    {source}\n    {pad}^"
