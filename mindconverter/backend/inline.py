"""The body of `construct`: statements with single-use values inlined into their user, and values named after their layer.

Each statement's expression is read once into parts: text, and `Local` references to the values of
earlier statements. Uses are counted on the references, a single-use value is inlined by splicing its
parts into its user (parenthesised where precedence needs it, see precedence.py), and renaming a value
renames its `Local`, so every use follows without rewriting any text. A member (`self.conv1`) is a
`Member` reference in the same way: class lifting compares bodies with members by position and
renames them (`unify_member_names`) by assigning the `Member`'s name, never by rewriting text.
"""

from __future__ import annotations

import re
from collections import Counter

import attrs

from mindconverter.backend.generated import comment_text
from mindconverter.backend.precedence import level, needs_parens, tokens
from mindconverter.backend.statements import CellWriter, Statement, says_more

_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')
#: A name token: an identifier not preceded by a word character or a dot (so `self.x` and `ops.x` are not uses of `x`).
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
#: A name token or a member (`self.<name>`: group 1).
_NAME_OR_MEMBER = re.compile(r"(?<![\w.])self\.([A-Za-z_]\w*)|(?<![\w.])[A-Za-z_]\w*")
_KEYWORD_ARG = re.compile(r"\s*=(?!=)")


@attrs.define(eq=False)
class Member:
    """A member of the cell (`self.<name>`): one object for every reference in the body, so a rename is one assignment."""

    name: str


@attrs.define(eq=False)
class Local:
    """A value of construct: one object for its definition and every use, so a rename is one assignment."""

    name: str
    member: Member | None = None  # a value with a member's name (`conv = self.conv(x)`): renamed with it


#: An expression: text and references, alternating, starting and ending with text (`["ops.relu(", x, ")"]`).
Parts = list


@attrs.define(eq=False)
class _Line:
    targets: list[Local]
    parts: Parts
    fallback: Parts
    comment: str
    guard: Member | None = None
    raw: bool = False  # a line of its own (`for layer in self.layers:`), not an assignment to `targets`

    def text(self, names: dict | None = None) -> str:
        return _text(self.parts, names)


def _text(parts: Parts, names: dict | None = None) -> str:
    """The parts as source; `names` overrides the names of some references (anonymous bodies)."""
    if names or any(isinstance(p, Local) and p.member is not None for p in parts):
        return "".join(p if isinstance(p, str) else _name(p, names) for p in parts)
    return "".join(p if isinstance(p, str) else p.name for p in parts)


def _name(ref: Local | Member, names: dict | None) -> str:
    if names and ref in names:
        return names[ref]
    if isinstance(ref, Local) and ref.member is not None:
        return _name(ref.member, names)
    return ref.name


def _split(expr: str, known: dict[str, Local], members: dict[str, Member] | None = None) -> Parts:
    """`expr` as parts: the names of `known` values (outside string literals, not keyword names) and the
    members (`self.<name>` of `members`) as references."""
    parts: Parts = []
    text: list[str] = []
    members = members or {}
    for i, segment in enumerate(_STRING.split(expr)):
        if i % 2:
            text.append(segment)
            continue
        pos = 0
        for m in _NAME_OR_MEMBER.finditer(segment):
            if m.group(1) is not None:
                ref, start = members.get(m.group(1)), m.start(1)
            else:
                ref, start = known.get(m.group(0)), m.start()
                if ref is not None and _KEYWORD_ARG.match(segment, m.end()):
                    ref = None
            if ref is None:
                continue
            text.append(segment[pos:start])
            parts += ["".join(text), ref]
            text, pos = [], m.end()
        text.append(segment[pos:])
    parts.append("".join(text))
    return parts


def _uses(line: _Line) -> Counter:
    return Counter(p for p in (*line.parts, *line.fallback) if isinstance(p, Local))


def _lines(writer: CellWriter, outputs: list[str], members: dict[str, Member]) -> list[_Line]:
    """The writer's statements as parts (each read once), then the return as a line without targets."""
    known: dict[str, Local] = {}
    lines = []
    for st in writer.statements:
        guard = None if st.guard is None else members.setdefault(st.guard, Member(st.guard))
        line = _Line([], _split(st.expr, known, members), _split(st.fallback, known, members), st.comment, guard)
        for t in st.targets:
            known[t] = Local(t)
            line.targets.append(known[t])
        lines.append(line)
    lines.append(_Line([], _split(", ".join(outputs), known, members), [""], ""))
    return lines


def _inline(value: _Line, user: _Line) -> Parts:
    """`user`'s parts with its one use of `value`'s target replaced by `value`'s parts (parenthesised if needed)."""
    var = value.targets[0]
    k = next(i for i, p in enumerate(user.parts) if p is var)
    before, after = tokens(_text(user.parts[:k])), tokens(_text(user.parts[k + 1:]))
    inner = list(value.parts)
    if needs_parens(before[-1] if before else None, level(value.text()), after[0] if after else None,
                    before[-2] if len(before) > 1 else None):
        inner[0] = "(" + inner[0]  # two statements: with one part, inner[0] is inner[-1]
        inner[-1] += ")"
    if len(inner) == 1:
        return [*user.parts[:k - 1], user.parts[k - 1] + inner[0] + user.parts[k + 1], *user.parts[k + 2:]]
    return [*user.parts[:k - 1], user.parts[k - 1] + inner[0], *inner[1:-1], inner[-1] + user.parts[k + 1],
            *user.parts[k + 2:]]


def _mergeable(st: _Line, nxt: _Line, after: Counter, pinned: set[str]) -> bool:
    if len(st.targets) != 1 or st.guard is not None or nxt.guard is not None or "UnsupportedOp" in st.text():
        return False
    if st.targets[0].name in pinned:
        return False
    var = st.targets[0]
    short = len(st.text()) + len(nxt.text()) - len(var.name) <= 100
    return short and after[var] == 1 and sum(1 for p in nxt.parts if p is var) == 1


@attrs.define(eq=False)
class Body:
    """The body of construct as data: lines of parts (the last one returned) and the members they refer to."""

    lines: list[_Line]
    members: dict[str, Member]
    comments: bool = False

    def text(self) -> list[str]:
        """The body as source lines."""
        return self._render(None)

    def anonymous(self, order: list[str]) -> tuple[str, ...]:
        """The body with the members of `order` named by their position there (`self.@0`): equal for cells
        that differ only in their members' names."""
        index = {name: j for j, name in enumerate(order)}
        return tuple(self._render({m: f"@{index[n]}" for n, m in self.members.items() if n in index}))

    def rename_members(self, mapping: dict[str, str]) -> None:
        """Rename members (all at once, so `a -> b, b -> a` swaps); every reference follows."""
        for name, member in self.members.items():
            member.name = mapping.get(name, name)
        self.members = {m.name: m for m in self.members.values()}

    def _render(self, names: dict | None) -> list[str]:
        out = [line for st in self.lines[:-1] for line in _render(st, self.comments, names)]
        last = self.lines[-1]
        return [*out, last.text(names) if last.raw else f"return {last.text(names)}"]


def loop_body(lines: list[str], members: list[str]) -> Body:
    """A body written whole (a loop over a CellList), with its `self.<member>` references as data."""
    refs = {m: Member(m) for m in members}
    return Body([_Line([], _split(line, {}, refs), [""], "", raw=True) for line in lines], refs)


def construct_body(writer: CellWriter, outputs: list[str], comments: bool) -> Body:
    """The body of construct: one statement per op, with single-use values folded into their user.

    Uses are counted once per statement; `after` holds the uses in the statements after the current
    one and is updated as statements merge, so the work is linear in the number of statements.
    """
    members = {m[0]: Member(m[0]) for m in writer.members}
    seq = _lines(writer, outputs, members)
    pinned = writer.returned_vars()  # named outputs keep their statement: `return last_hidden_state, pooler_output`
    uses = [_uses(line) for line in seq]
    after: Counter = Counter()
    for counts in uses[1:]:
        after.update(counts)
    i = 0
    while i < len(seq) - 1:
        st, nxt = seq[i], seq[i + 1]
        if _mergeable(st, nxt, after, pinned):
            merged = _inline(st, nxt)
            if len(_text(merged)) <= 100:
                nxt.parts = merged
                if not nxt.comment or not comments:
                    nxt.comment = ""
                after.subtract(uses[i + 1])
                uses[i + 1] = _uses(nxt)
                after.update(uses[i + 1])
                del seq[i], uses[i]
                if i == 0:
                    after.subtract(uses[0])  # `after` is now the statements after the merged one
                else:
                    i -= 1
                continue
        i += 1
        after.subtract(uses[i])
    _rename_after_members(seq, writer, pinned)
    for st in seq:  # a value named like a member follows the member's renames
        for t in st.targets:
            t.member = members.get(t.name)
    return Body(seq, members, comments)


def _render(st: _Line, comments: bool, names: dict | None = None) -> list[str]:
    if st.raw:
        return [st.text(names)]
    target, text = ", ".join(_name(t, names) for t in st.targets), st.text(names)
    if st.guard is not None:
        guard = names.get(st.guard, st.guard.name) if names else st.guard.name
        return [f"{target} = {_text(st.fallback, names)}", f"if self.{guard} is not None:", f"    {target} = {text}"]
    said = says_more(Statement([t.name for t in st.targets], text, st.comment))
    comment = f"  # {comment_text(st.comment)}" if comments and said else ""
    if comments and st.comment and "self.unsupported" in text:
        comment = f"  # {comment_text(st.comment)}"  # the node a placeholder stands for
    return [f"{target} = {text}{comment}"]


def _rename_after_members(seq: list[_Line], writer: CellWriter, pinned: set[str]) -> None:
    """Name a value after the one layer it comes from (`q = ops.reshape(self.q(x), ...)`), when its name says less."""
    functional = writer.functional_members()  # `self.relu` of an unscoped export: named after the layer it follows
    members = {m[0] for m in writer.members} - functional
    taken = {t.name for st in seq for t in st.targets}
    taken |= {w for st in seq for p in (*st.parts, *st.fallback) if isinstance(p, str) for w in _NAME.findall(p)}
    for st in seq[:-1]:
        if len(st.targets) != 1 or st.guard is not None or st.targets[0].name in pinned:
            continue
        called = [p.name for p, nxt in zip(st.parts, st.parts[1:], strict=False)
                  if isinstance(p, Member) and nxt.startswith("(") and p.name not in functional]
        local = st.targets[0]
        new = called[0].lower() if len(called) == 1 else ""  # locals are lowercase, classes capitalised
        if not new or new in taken or re.sub(r"_\d+$", "", local.name) in members:
            continue
        local.name = new
        taken.add(new)
