"""Operator precedence of generated expressions: whether a value substituted into another needs parentheses.

`needs_parens(before, value, after)` answers it from tokens (one scan of the value, the tokens around the
place), following Python's grammar: the value must bind at least as tightly as the operators on both
sides require (`a - (b - c)` keeps its parentheses, `a * b + c` needs none, `(-x) ** 2` keeps them).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"""\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[jJ]?|[A-Za-z_]\w*|\*\*|//|<<|>>|<=|>=|==|!=|->|:=|\S)""")

ATOM = 15
#: Binary operators by level (higher binds tighter); `**` is right-associative, comparisons chain.
_BINARY = {"or": 2, "and": 3, "in": 5, "is": 5, "<": 5, ">": 5, "==": 5, ">=": 5, "<=": 5, "!=": 5,
           "|": 6, "^": 7, "&": 8, "<<": 9, ">>": 9, "+": 10, "-": 10, "*": 11, "/": 11, "//": 11, "%": 11,
           "@": 11, "**": 13}
_OPEN, _CLOSE = "([{", ")]}"
#: Tokens after which an operator is unary (or a star is an unpacking): the start of an operand.
_OPERAND_START = {None, "(", "[", "{", ",", ":", "=", "~", "lambda", "return", "not", "if", "else", *_BINARY}


def tokens(text: str) -> list[str]:
    return [t.strip() for t in _TOKEN.findall(text) if t.strip()]


def level(text: str) -> int:
    """The precedence level of an expression: that of its loosest operator outside brackets (ATOM: none)."""
    depth, lowest, prev = 0, ATOM, None
    toks = tokens(text)
    for i, tok in enumerate(toks):
        if tok in _OPEN:
            depth += 1
        elif tok in _CLOSE:
            depth -= 1
        elif depth == 0:
            lowest = min(lowest, _operator_level(tok, prev, toks[i + 1] if i + 1 < len(toks) else None))
        prev = tok
    return lowest


def _operator_level(tok: str, prev: str | None, nxt: str | None) -> int:
    if tok == ",":
        return -1  # a tuple
    if tok == "lambda":
        return 0
    if tok in ("if", "else"):
        return 1
    if tok == "not":
        return 5 if prev == "is" or nxt == "in" else 4
    if tok in ("+", "-", "~") and prev in _OPERAND_START:
        return 12  # unary
    if tok == "await":
        return 14
    return _BINARY.get(tok, ATOM)


def needs_parens(before: str | None, value_level: int, after: str | None, before2: str | None = None) -> bool:
    """Whether a value of `value_level` needs parentheses between the tokens `before` and `after`
    (None: the start or end of the expression; `before2` is the token before `before`)."""
    if value_level == -1:  # a tuple is bare only as a whole argument or subscript
        return not (before in (None, "(", ",") and after in (None, ")", ",") or (before, after) == ("[", "]"))
    return value_level < _left_needs(before, before2) or value_level < _right_needs(after)


def _left_needs(tok: str | None, prev: str | None) -> int:
    """The lowest level a value may have as the operand right of `tok`."""
    if tok in ("*", "**") and prev in (None, "(", ","):
        return -1  # `*args` / `**kwargs` unpacking in a call takes any expression
    if tok in ("+", "-", "~") and prev in _OPERAND_START:
        return 12
    if tok == "**":
        return 12  # right-associative, and its right operand may be unary: `a ** -b`
    if tok == "not":
        return 5 if prev == "is" else 4
    if tok == "if":
        return 2  # a condition is a disjunction
    if tok == "else":
        return 0
    if tok in _BINARY:
        return _BINARY[tok] + 1  # left-associative (comparisons chain, and/or flatten): equal needs parentheses
    return -1


def _right_needs(tok: str | None) -> int:
    """The lowest level a value may have as the operand left of `tok`."""
    if tok in (".", "(", "["):
        return ATOM  # an attribute, a call, a subscript of the value
    if tok == "**":
        return 14
    if tok in ("if", "else"):
        return 2
    if tok in ("not", "in", "is") or _BINARY.get(tok) == 5:
        return 6  # comparisons chain: `(a < b) < c` is not `a < b < c`
    if tok in ("and", "or"):
        return _BINARY[tok] + 1  # and/or flatten: `(a and b) and c` is not `a and b and c`
    if tok in _BINARY:
        return _BINARY[tok]  # left-associative: `(a - b) - c` is `a - b - c`
    if tok in (":", "for"):
        return 0
    return -1
