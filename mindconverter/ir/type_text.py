"""The text of types and strings in IR: `tensor<?batchx?(batch*seq)x768xf32>` and quoted `"..."` literals.

The parser's lexer hands whole types and strings over as single tokens; these functions read them.
"""

from __future__ import annotations

import functools
import re

from mindconverter.ir.types import UNKNOWN, Dim, DType, Sym, TensorType

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def unquote(text: str) -> str:
    """The string a quoted literal `"..."` stands for; raises ValueError on an unknown escape."""
    body = text[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape, body)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) > 1:
        return chr(int(code[1:], 16))
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code]
    raise ValueError(f"unknown escape '\\{code}' in string (use \\\\, \\\", \\n, \\t, \\r, \\xNN, \\uNNNN)")


# One dim: `?"quoted symbol"`, `?symbol` (no lowercase x: it separates dims), `?` or an integer.
# `?(expression)` is matched by _expr_end, which balances parentheses.
_DIM = re.compile(r'\?("([^"\\\n]|\\.)*"|[A-Za-wyzA-Z_][A-Za-wyzA-Z0-9_]*)?|[0-9]+')
_DTYPE_NAMES = ", ".join(d.value for d in DType)


class BadType(Exception):
    """A malformed `tensor<...>`; `offset` is the position of the problem inside the type text."""

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(what)
        self.what, self.offset = what, offset


def _expr_end(text: str, i: int, end: int) -> int:
    """The index after the `)` closing the `?(` at i, skipping quoted symbol names."""
    depth, j = 0, i + 1
    while j < end:
        c = text[j]
        if c == '"':
            j += 1
            while j < end and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise BadType("unbalanced parentheses in a dim expression", i)


@functools.lru_cache(maxsize=4096)
def parse_type(text: str) -> TensorType:
    """Parse one `tensor<...>`: dims each followed by `x`, then the element type. Raises BadType."""
    i, end = len("tensor<"), len(text) - 1
    dims: list[Dim] | None = None
    if text.startswith("*x", i):
        i += 2
    else:
        dims = []
        while True:
            if text.startswith("?(", i):
                j = _expr_end(text, i, end)
                dims.append(_expr_dim(text[i:j], i))
            elif dim := _DIM.match(text, i, end):
                dims.append(_dim(dim.group(), i))
                j = dim.end()
            else:
                break
            i = j
            if i >= end or text[i] != "x":
                raise BadType(f"expected 'x' after a dim, got '{text[i] if i < end else '>'}'", i)
            i += 1
    dtype = text[i:end]
    try:
        return TensorType(DType(dtype), None if dims is None else tuple(dims))
    except ValueError:
        raise BadType(f"unknown element type '{dtype}' (expected one of {_DTYPE_NAMES})", i) from None


def _expr_dim(text: str, offset: int) -> Dim:
    from mindconverter.ir.symbolic import DimSyntaxError, parse_dim  # sympy only loads for symbolic dims

    try:
        return parse_dim(text)
    except DimSyntaxError as e:
        raise BadType(e.what, offset + 2 + e.offset) from None


def _dim(text: str, offset: int) -> Dim:
    if not text.startswith("?"):
        return int(text)
    if not text.startswith('?"'):
        return Sym(text[1:]) if len(text) > 1 else UNKNOWN
    try:
        return Sym(unquote(text[1:]))
    except ValueError as e:
        raise BadType(str(e), offset + 1) from None
