"""The body of `construct`: statements with single-use values inlined into their user, and values named after their layer."""

from __future__ import annotations

import re

import attrs

from mindconverter.backend.generated import comment_text
from mindconverter.backend.statements import CellWriter, Statement, says_more


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


_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')
#: A name token: an identifier not preceded by a word character or a dot (so `self.x` and `ops.x` are not uses of `x`).
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def _names(expr: str) -> dict[str, int]:
    """How often each name occurs in `expr`, outside string literals (one scan of the text)."""
    counts: dict[str, int] = {}
    for i, part in enumerate(_STRING.split(expr)):
        if i % 2 == 0:
            for name in _NAME.findall(part):
                counts[name] = counts.get(name, 0) + 1
    return counts


def _add(total: dict[str, int], counts: dict[str, int], sign: int) -> None:
    for name, n in counts.items():
        total[name] = total.get(name, 0) + sign * n


def construct_lines(writer: CellWriter, outputs: list[str], comments: bool) -> list[str]:
    """The body of construct: one statement per op, with single-use values folded into their user.

    Uses are counted once per statement; `after` holds the uses in the statements after the current
    one and is updated as statements merge, so the work is linear in the number of statements.
    """
    seq = [*(attrs.evolve(st) for st in writer.statements), Statement([], ", ".join(outputs), "")]
    uses = [_names(s.expr + " " + s.fallback) for s in seq]
    after: dict[str, int] = {}
    for counts in uses[1:]:
        _add(after, counts, 1)
    pinned = writer.returned_vars()  # named outputs keep their statement: `return last_hidden_state, pooler_output`
    i = 0
    while i < len(seq) - 1:
        st, nxt = seq[i], seq[i + 1]
        if len(st.targets) == 1 and st.guard is None and nxt.guard is None and "UnsupportedOp" not in st.expr \
                and st.targets[0] not in pinned:
            var = st.targets[0]
            short = len(st.expr) + len(nxt.expr) - len(var) <= 100
            if short and after.get(var, 0) == 1 and _names(nxt.expr).get(var, 0) == 1:
                merged = _subst(nxt.expr, var, st.expr)
                if len(merged) <= 100:
                    nxt.expr = merged
                    if not nxt.comment or not comments:
                        nxt.comment = ""
                    counts = _names(merged + " " + nxt.fallback)
                    _add(after, uses[i + 1], -1)
                    _add(after, counts, 1)
                    uses[i + 1] = counts
                    del seq[i], uses[i]
                    if i == 0:
                        _add(after, uses[0], -1)  # `after` is now the statements after the merged one
                    else:
                        i -= 1
                    continue
        i += 1
        _add(after, uses[i], -1)
    _rename_after_members(seq, writer, pinned)
    lines = []
    for st in seq[:-1]:
        comment = f"  # {comment_text(st.comment)}" if comments and says_more(st) else ""
        if comments and st.comment and "self.unsupported" in st.expr:
            comment = f"  # {comment_text(st.comment)}"  # the node a placeholder stands for
        target = ", ".join(st.targets)
        if st.guard is not None:
            lines += [f"{target} = {st.fallback}", f"if self.{st.guard} is not None:", f"    {target} = {st.expr}"]
        else:
            lines.append(f"{target} = {st.expr}{comment}")
    lines.append(f"return {seq[-1].expr}")
    return lines


def _rename(expr: str, mapping: dict[str, str]) -> str:
    """`expr` with the names in `mapping` replaced (outside string literals)."""
    if not mapping or not expr:
        return expr
    parts = _STRING.split(expr)
    for i in range(0, len(parts), 2):
        parts[i] = _NAME.sub(lambda m: mapping.get(m.group(0), m.group(0)), parts[i])
    return "".join(parts)


def _rename_after_members(seq: list[Statement], writer: CellWriter, pinned: set[str]) -> None:
    """Name a value after the one layer it comes from (`q = ops.reshape(self.q(x), ...)`), when its name says less.

    Renames collect in one mapping, applied to each statement once as it is reached.
    """
    functional = writer.functional_members()  # `self.relu` of an unscoped export: named after the layer it follows
    members = {m[0] for m in writer.members} - functional
    taken = {t for st in seq for t in st.targets} | {w for st in seq for w in _NAME.findall(st.expr + " " + st.fallback)}
    mapping: dict[str, str] = {}
    for st in seq:
        st.expr, st.fallback = _rename(st.expr, mapping), _rename(st.fallback, mapping)
        if st is seq[-1] or len(st.targets) != 1 or st.guard is not None or st.targets[0] in pinned:
            continue
        called = [m for m in re.findall(r"self\.(\w+)\(", st.expr) if m not in functional]
        old = st.targets[0]
        new = called[0].lower() if len(called) == 1 else ""  # locals are lowercase, classes capitalised
        if not new or new in taken or re.sub(r"_\d+$", "", old) in members:
            continue
        st.targets = [new]
        taken.add(new)
        mapping[old] = new


# -- literal trees: lifting hyper-parameters that differ between instances into arguments ----------------

