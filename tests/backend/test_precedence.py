"""precedence.needs_parens agrees with Python's parser: a value inlined bare parses as the parenthesised one."""

from __future__ import annotations

import ast
import itertools
import re

from mindconverter.backend.precedence import level, needs_parens, tokens

VALUES = ["a + b", "a - b", "a * b", "a / b", "a ** b", "-a", "not a", "a if c else d", "a < b", "a and b", "a or b",
          "f(a)", "a.b", "a[1]", "1.5", "-1", "a @ b", "a // b", "a % b", "~a", "(a, b)", "[a, b]", "a & b", "a | b",
          "a << 2", "a is None", "a not in b", "1e-05", "x.shape[0] * 12", '"a + b"']
USERS = ["X + y", "y + X", "X - y", "y - X", "X * y", "y * X", "y / X", "X / y", "X ** 2", "2 ** X", "-X", "f(X)",
         "f(X, 1)", "f(1, X)", "f(k=X)", "X.shape", "X[0]", "y[X]", "(X, 64)", "y[:, X]", "y[X:2]", "X if c else d",
         "a if X else d", "a if c else X", "not X", "X and y", "y or X", "X < y", "y < X", "X in y", "y is X",
         "f(*X)", "X", "y @ X", "y % X", "X @ y", "ops.concat((X, y), axis=1)", "y[X, 1:2]", "~X", "y ** -X",
         "X // 2 - 1", "a < X < b", "y - X - z"]


def _inlined(user: str, value: str) -> str:
    m = re.search(r"\bX\b", user)
    before, after = tokens(user[:m.start()]), tokens(user[m.end():])
    wrap = needs_parens(before[-1] if before else None, level(value), after[0] if after else None,
                        before[-2] if len(before) > 1 else None)
    return user[:m.start()] + (f"({value})" if wrap else value) + user[m.end():]


def test_a_value_is_parenthesised_exactly_where_python_needs_it():
    for user, value in itertools.product(USERS, VALUES):
        got = _inlined(user, value)
        wrapped = user.replace("X", f"({value})")  # X is the only capital X of the users
        assert ast.dump(ast.parse(got, mode="eval")) == ast.dump(ast.parse(wrapped, mode="eval")), (user, value, got)
        bare = user.replace("X", value)
        if got != bare:  # parenthesised: only where the bare value would parse differently
            try:
                same = ast.dump(ast.parse(bare, mode="eval")) == ast.dump(ast.parse(wrapped, mode="eval"))
            except SyntaxError:
                same = False
            assert not same, f"needless parentheses: {got}"


def test_levels():
    assert level("f(a + b)[0].x") == 15 and level("a + b * c") == 10 and level("-a ** 2") == 12
    assert level("a if b else c") == 1 and level("a, b") == -1 and level('"a, b"') == 15


def test_a_spliced_value_without_references_keeps_both_parentheses():
    """A value with no references to other values is one text part: it gets `(` and `)` (T5's RMS norm lost the `(`)."""
    from mindconverter.backend.inline import Local, _inline, _Line, _text

    for value_parts, want in (
        (["ops.mean(x) + 1e-06"], "self.weight * x / ops.sqrt(y) * (ops.mean(x) + 1e-06)"),
        (["a - ", Local("b"), ""], "self.weight * x / ops.sqrt(y) * (a - b)"),
    ):
        t = Local("t")
        value = _Line([t], value_parts, [""], "")
        user = _Line([], ["self.weight * x / ops.sqrt(y) * ", t, ""], [""], "")
        got = _text(_inline(value, user))
        assert got == want
        ast.parse(got)
