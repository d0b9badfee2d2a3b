"""The body of `construct`: statements with single-use values inlined into their user, and values named after their layer."""

from __future__ import annotations

import re

import attrs

from mindconverter.backend.generated import comment_text
from mindconverter.backend.statements import CellWriter, Statement


def _subst(expr: str, var: str, value: str) -> str:
    """`expr` with the variable `var` replaced by the expression `value` (outside string literals).

    `value` is parenthesised where the precedence needs it, and only there (`a * b + x`, `(a + b) * x`).
    """
    import ast

    wrapped = _subst_text(expr, var, value, parens=True)
    bare = _subst_text(expr, var, value, parens=False)
    try:
        same = ast.dump(ast.parse(bare, mode="eval")) == ast.dump(ast.parse(wrapped, mode="eval"))
    except SyntaxError:
        same = False
    return bare if same else wrapped


def _subst_text(expr: str, var: str, value: str, parens: bool) -> str:
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    pattern = re.compile(rf"(?<![\w.]){re.escape(var)}(?!\w)")
    simple = _is_atom(value)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue

        def repl(m: re.Match, part: str = part) -> str:
            before, after = part[: m.start()].rstrip()[-1:], part[m.end():].lstrip()[:1]
            whole_arg = before in ("(", ",", "") and after in (")", ",", "")
            return value if simple or whole_arg or not parens else f"({value})"

        out.append(pattern.sub(repl, part))
    return "".join(out)


def _is_atom(expr: str) -> bool:
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Call, ast.Name, ast.Attribute, ast.Subscript, ast.Constant))


def _uses(expr: str, var: str) -> int:
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    pattern = re.compile(rf"(?<![\w.]){re.escape(var)}(?!\w)")
    return sum(len(pattern.findall(p)) for i, p in enumerate(parts) if i % 2 == 0)


def construct_lines(writer: CellWriter, outputs: list[str], comments: bool) -> list[str]:
    """The body of construct: one statement per op, with single-use values folded into their user."""
    stmts = [attrs.evolve(st) for st in writer.statements]
    ret = Statement([], ", ".join(outputs), "")
    seq = [*stmts, ret]
    i = 0
    while i < len(seq) - 1:
        st, nxt = seq[i], seq[i + 1]
        if len(st.targets) == 1 and st.guard is None and nxt.guard is None and "UnsupportedOp" not in st.expr:
            var = st.targets[0]
            total = sum(_uses(s.expr, var) + _uses(s.fallback, var) for s in seq[i + 1:])
            if total == 1 and _uses(nxt.expr, var) == 1:
                merged = _subst(nxt.expr, var, st.expr)
                if len(merged) <= 100:
                    nxt.expr = merged
                    if not nxt.comment or not comments:
                        nxt.comment = ""
                    del seq[i]
                    i = max(i - 1, 0)
                    continue
        i += 1
    _rename_after_members(seq, writer)
    lines = []
    for st in seq[:-1]:
        comment = f"  # {comment_text(st.comment)}" if comments and st.comment and not st.expr.startswith("self.") else ""
        if "UnsupportedOp" in st.expr or st.expr.startswith("self.unsupported"):
            comment = f"  # {comment_text(st.comment)}"
        target = ", ".join(st.targets)
        if st.guard is not None:
            lines += [f"{target} = {st.fallback}", f"if self.{st.guard} is not None:", f"    {target} = {st.expr}"]
        else:
            lines.append(f"{target} = {st.expr}{comment}")
    lines.append(f"return {seq[-1].expr}")
    return lines


def _rename_after_members(seq: list[Statement], writer: CellWriter) -> None:
    """Name a value after the one layer it comes from (`q = ops.reshape(self.q(x), ...)`), when its name says less."""
    members = {m[0] for m in writer.members}
    words = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
    taken = {t for st in seq for t in st.targets} | {w for st in seq for w in words.findall(st.expr + " " + st.fallback)}
    for i, st in enumerate(seq[:-1]):
        if len(st.targets) != 1 or st.guard is not None:
            continue
        called = re.findall(r"self\.(\w+)\(", st.expr)
        old = st.targets[0]
        if len(called) != 1 or called[0] in taken or re.sub(r"_\d+$", "", old) in members:
            continue
        new = called[0]
        st.targets = [new]
        taken.add(new)
        for later in seq[i + 1:]:
            later.expr = _subst(later.expr, old, new)
            later.fallback = _subst(later.fallback, old, new) if later.fallback else later.fallback


# -- literal trees: lifting hyper-parameters that differ between instances into arguments ----------------

