"""Helpers shared by the structural rewrites: qualified names, positions, comment-keeping statement
surgery and the `# [UnConvert]` marker. Registers no rewrite."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import Rewrite

MS_IMPORT = "import mindspore as ms"
NN_IMPORT = "from mindspore import nn"


def expr(code: str) -> cst.BaseExpression:
    """A libcst expression from source text (MindSpore names the rewrites emit, e.g. 'ms.save_checkpoint')."""
    return cst.parse_expression(code)


def stmt(code: str) -> cst.BaseStatement:
    """One libcst statement from source text."""
    return cst.parse_statement(code)


def code_of(node: cst.CSTNode) -> str:
    """The source text of a node (for messages and for textual comparisons of simple expressions)."""
    return cst.Module(body=[]).code_for_node(node)


def qualified_names(rw: cst.MetadataDependent, node: cst.CSTNode) -> set[str]:
    """Every qualified name of `node` ('torch.nn.Module' for `nn.Module` after `from torch import nn`)."""
    try:
        return {q.name for q in rw.get_metadata(QualifiedNameProvider, node, set())}
    except KeyError:
        return set()


def is_any(rw: cst.MetadataDependent, node: cst.CSTNode, names: Iterable[str]) -> bool:
    """Whether `node` resolves to one of the qualified `names`."""
    return bool(qualified_names(rw, node) & set(names))


def position(rw: cst.MetadataDependent, node: cst.CSTNode) -> tuple[int, int]:
    """1-based (line, column) of an original node in the *source* script; (0, 0) for created nodes.

    Earlier rewrites may have added or removed lines, so the position in the code this rewrite sees is
    mapped back to the source through `SourceRewrite`'s line map."""
    try:
        start = rw.get_metadata(PositionProvider, node).start
    except KeyError:
        return 0, 0
    to_source = getattr(rw, "to_source", None)
    return to_source(start.line, start.column + 1) if to_source is not None else (start.line, start.column + 1)


def method_call(node: cst.CSTNode, names: Iterable[str] | str) -> cst.Call | None:
    """`node` if it is a call `receiver.NAME(...)` with NAME in `names`, else None."""
    if isinstance(names, str):
        names = (names,)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in names:
        return node
    return None


def call_of_stmt(statement: cst.CSTNode) -> cst.Call | None:
    """The call of an expression statement `f(...)` (one small statement on its line), else None."""
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            return small.value
    return None


def assign_of_stmt(statement: cst.CSTNode) -> cst.Assign | None:
    """The assignment of a statement line `targets = value`, else None."""
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, cst.Assign):
            return small
    return None


def arg(call: cst.Call, index: int, keyword: str) -> cst.Arg | None:
    """The argument given at positional `index` or as `keyword=`, else None."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index] if index < len(positional) else None


def comment_line(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# {text}"))


def unconvert_comment(api: str, why: str, suggestion: str) -> cst.EmptyLine:
    """The guide's marker for what stays as written: `# [UnConvert] 'api' didn't convert (why). Maybe ...`."""
    reason = f" ({why})" if why else ""
    return comment_line(f"[UnConvert] '{api}' didn't convert{reason}. Maybe could convert to {suggestion}.")


def with_leading(statement: cst.BaseStatement, lines: Sequence[cst.EmptyLine]) -> cst.BaseStatement:
    """`statement` with `lines` (comments, blank lines) put before its own leading lines."""
    if not lines:
        return statement
    return statement.with_changes(leading_lines=[*lines, *statement.leading_lines])


def comments_of(statement: cst.CSTNode) -> list[cst.EmptyLine]:
    """The leading lines of a statement (blank lines and comments) that must survive its removal,
    plus its trailing comment as a line of its own."""
    lines = list(getattr(statement, "leading_lines", ()))
    trailing = getattr(statement, "trailing_whitespace", None)
    if trailing is not None and trailing.comment is not None:
        lines.append(cst.EmptyLine(comment=trailing.comment))
    return lines


def splice(body: Sequence[cst.BaseStatement], index: int, new: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Replace body[index] with `new` statements, keeping the old statement's comments on the first new one
    (or on the statement after it when `new` is empty)."""
    old = body[index]
    kept = comments_of(old)
    out = list(body[:index])
    rest = list(body[index + 1 :])
    new = list(new)
    trailing = getattr(old, "trailing_whitespace", None)
    if new and trailing is not None and trailing.comment is not None and isinstance(new[-1], cst.SimpleStatementLine):
        kept = list(old.leading_lines)  # the trailing comment stays at the end of the (last) new line
        new[-1] = new[-1].with_changes(trailing_whitespace=trailing)
    if new:
        out.append(with_leading(new[0], kept))
        out.extend(new[1:])
    elif rest:
        rest[0] = with_leading(rest[0], kept)
    elif kept:
        out.append(with_leading(cst.SimpleStatementLine(body=[cst.Pass()]), kept))
    out.extend(rest)
    return out


def body_of(node: cst.CSTNode) -> Sequence[cst.BaseStatement] | None:
    """The statements of a module or an indented block, else None."""
    if isinstance(node, cst.Module):
        return node.body
    if isinstance(node, cst.IndentedBlock):
        return node.body
    return None


def names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name read or written anywhere inside `node`."""
    found: set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

    node.visit(_Names())
    return found


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3` ... whichever is not in `taken` (then marked taken)."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def as_lines(block: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a suite; a one-line suite (`with x: a; b`) becomes one statement line."""
    if isinstance(block, cst.IndentedBlock):
        return list(block.body)
    return [cst.SimpleStatementLine(body=list(block.body))]


SOURCE_CODE = "source_code"  # ctx.options key: the script as it was before any rewrite


def source_map(source: str, current: str) -> Callable[[int, int], tuple[int, int]]:
    """(line, column) in `current` -> (line, column) in `source`, for code earlier rewrites changed.

    1. Lines are matched by their stripped text, so a dedented block still matches (its column
       corrected by the indentation difference).
    2. A line that changed (`model.parameters()` -> `model.trainable_params()`) or moved (a statement
       built before it) is paired with the most similar unmatched source line nearby (difflib ratio
       >= 0.6 within 12 lines of where the matched lines around it put it).
    3. Anything else counts from the nearest matched line above it."""
    a, b = source.splitlines(), current.splitlines()
    sa, sb = [x.strip() for x in a], [x.strip() for x in b]
    matched: dict[int, int] = {}  # current index -> source index (0-based)
    for blk in difflib.SequenceMatcher(None, sa, sb, autojunk=False).get_matching_blocks():
        for k in range(blk.size):
            matched[blk.b + k] = blk.a + k
    exact = dict(matched)
    used = set(matched.values())
    for j, text in enumerate(sb):
        if j in matched or not text or text.startswith("#"):
            continue
        above = max((k for k in exact if k < j), default=None)
        guess = exact[above] + (j - above) if above is not None else j
        best, score = None, 0.6
        for i in range(max(0, guess - 12), min(len(sa), guess + 13)):
            if i in used or not sa[i]:
                continue
            ratio = difflib.SequenceMatcher(None, sa[i], text, autojunk=False).ratio()
            if ratio > score:
                best, score = i, ratio
        if best is not None:
            matched[j] = best
            used.add(best)

    def to_source(line: int, col: int) -> tuple[int, int]:
        j = line - 1
        if j in matched:
            i = matched[j]
            shift = (len(a[i]) - len(a[i].lstrip())) - (len(b[j]) - len(b[j].lstrip()))
            return i + 1, col + shift
        above = max((k for k in matched if k < j), default=None)
        return (matched[above] + 1 + j - above if above is not None else line), col

    return to_source


class SourceRewrite(Rewrite):
    """A rewrite whose reported positions are those of the source script: the first rewrite keeps the
    source in `ctx.options['source_code']`; each one maps its own positions back to it."""

    to_source: Callable[[int, int], tuple[int, int]] | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Module) and self.to_source is None:
            code = node.code
            source = self.ctx.options.setdefault(SOURCE_CODE, code)
            self.to_source = (lambda line, col: (line, col)) if source == code else source_map(source, code)
        return super().on_visit(node)


class BodyRewrite(SourceRewrite):
    """A rewrite of statement sequences: `rewrite_body` sees every module body and indented block, with
    the original statements (for metadata) beside the updated ones, and returns the new statements plus
    comment lines that must follow them (they go to the block's footer)."""

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        raise NotImplementedError

    def _rewritten(self, original_node, updated_node):
        if len(original_node.body) != len(updated_node.body):  # a child flattened: metadata no longer lines up
            return updated_node
        body, tail = self.rewrite_body(original_node.body, updated_node.body)
        if isinstance(updated_node, cst.IndentedBlock) and not body:
            body = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return updated_node.with_changes(body=body, footer=[*tail, *updated_node.footer])

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self._rewritten(original_node, updated_node)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        return self._rewritten(original_node, updated_node)


def with_marker(statement: cst.BaseStatement, marker: cst.EmptyLine) -> cst.BaseStatement:
    """`statement` with a marker comment (`# [UnConvert] ...`) on the line right above it."""
    return statement.with_changes(leading_lines=[*statement.leading_lines, marker])


DS_IMPORT = "import mindspore.dataset as ds"
DATASET_COLUMNS = "dataset_columns"  # ctx.options key: source class name -> its column names
DICT_ITEMS = "dataset_dict_items"  # ctx.options key: source classes whose items were dicts


def dataset_module(taken: set[str]) -> str:
    """How converted code names `mindspore.dataset`: `ds` (imported as such) unless the script uses `ds` itself."""
    return "ms.dataset" if "ds" in taken else "ds"


def assigned_names(node: cst.CSTNode) -> set[str]:
    """Every name bound anywhere inside `node` (assignments, loop targets, `with ... as`, augmented)."""
    found: set[str] = set()

    class _Bound(cst.CSTVisitor):
        def _add(self, target: cst.CSTNode) -> None:
            for n in target.elements if isinstance(target, (cst.Tuple, cst.List)) else [target]:
                n = n.value if isinstance(n, cst.Element) else n
                if isinstance(n, cst.Name):
                    found.add(n.value)
                elif isinstance(n, (cst.Tuple, cst.List)):
                    self._add(n)

        def visit_AssignTarget(self, t: cst.AssignTarget) -> None:
            self._add(t.target)

        def visit_AugAssign(self, a: cst.AugAssign) -> None:
            self._add(a.target)

        def visit_AnnAssign(self, a: cst.AnnAssign) -> None:
            self._add(a.target)

        def visit_For(self, f: cst.For) -> None:
            self._add(f.target)

        def visit_AsName(self, a: cst.AsName) -> None:
            self._add(a.name)

    node.visit(_Bound())
    return found


class DropStatements(cst.CSTTransformer):
    """Remove every statement line `drop(statement)` selects; comments stay (on what follows, or at the
    end of the block)."""

    def __init__(self, drop: Callable[[cst.BaseStatement], bool]) -> None:
        super().__init__()
        self.drop = drop

    def _dropped(self, node):
        body, tail = list(node.body), []
        for i in reversed(range(len(body))):
            if self.drop(body[i]):
                if i == len(body) - 1 and i > 0:  # the block's last statement: its comments close the block
                    tail = [ln for ln in comments_of(body[i]) if ln.comment is not None] + tail
                    body = body[:i]
                else:
                    body = splice(body, i, [])
        return node.with_changes(body=body, footer=[*tail, *node.footer])

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        return self._dropped(updated_node)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self._dropped(updated_node)


def keep_parens(old: cst.BaseExpression, new: cst.BaseExpression) -> cst.BaseExpression:
    """`new` wearing the parentheses `old` had: a multi-line `(x\n .to(device))` must stay parenthesised."""
    if new is old or not getattr(old, "lpar", None):
        return new
    return new.with_changes(lpar=[*old.lpar, *new.lpar], rpar=[*new.rpar, *old.rpar])
