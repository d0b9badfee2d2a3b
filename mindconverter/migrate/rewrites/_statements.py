"""Statement analysis shared by the training-step rewrite: which names a statement assigns and reads, in order."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst


def bound_names(statement: cst.BaseStatement) -> set[str] | None:
    """Names a plain assignment line binds (`a = ...`, `a, b = ...`, `a: T = ...`); None for anything else."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign):
        targets = [t.target for t in small.targets]
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        targets = [small.target]
    else:
        return None
    names: set[str] = set()
    for t in targets:
        elements = t.elements if isinstance(t, (cst.Tuple, cst.List)) else [t]
        for e in elements:
            e = e.value if isinstance(e, cst.Element) else e
            if not isinstance(e, cst.Name):
                return None
            names.add(e.value)
    return names


def read_order(statement: cst.CSTNode) -> list[str]:
    """Names a statement reads, in order: every name except attribute names and keyword-argument names."""
    found: list[str] = []

    class _Reads(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append(n.value)

        def visit_Attribute(self, a: cst.Attribute) -> bool:
            a.value.visit(self)
            return False

        def visit_Arg(self, a: cst.Arg) -> bool:
            a.value.visit(self)
            return False

    statement.visit(_Reads())
    return found


def reads(statement: cst.CSTNode) -> set[str]:
    return set(read_order(statement))


def spaced(built: list[cst.BaseStatement], lead: Sequence[cst.EmptyLine], first: bool) -> list[cst.BaseStatement]:
    """The built statements, taking over `lead` (the comments of the statement they go before); a
    `def forward_fn` gets a blank line above it unless it opens its block."""
    lead = list(lead)
    if isinstance(built[0], cst.FunctionDef) and not first and not (lead and lead[0].comment is None):
        lead.insert(0, cst.EmptyLine(indent=False))
    rest = [
        st.with_changes(leading_lines=[cst.EmptyLine(indent=False), *st.leading_lines])
        if isinstance(st, cst.FunctionDef) and not st.leading_lines
        else st
        for st in built[1:]
    ]
    return [built[0].with_changes(leading_lines=[*lead, *built[0].leading_lines]), *rest]


def has_call(node: cst.CSTNode) -> bool:
    found = []

    class _Calls(cst.CSTVisitor):
        def visit_Call(self, c: cst.Call) -> None:
            found.append(c)

    node.visit(_Calls())
    return bool(found)


def ordered(original, chain, names: set[str]) -> list[str]:
    """`names` in the order the forward statements first read them."""
    seen: list[str] = []
    for i in chain:
        seen.extend(n for n in read_order(original[i].body[0].value) if n in names and n not in seen)
    return seen


def ordered_targets(original, chain) -> list[str]:
    out: list[str] = []
    for i in chain:
        small = original[i].body[0]
        for t in small.targets if isinstance(small, cst.Assign) else [cst.AssignTarget(small.target)]:
            elements = t.target.elements if isinstance(t.target, (cst.Tuple, cst.List)) else [t.target]
            out.extend(e.value if isinstance(e, cst.Element) else e for e in elements)
    return [n.value for n in out if isinstance(n, cst.Name)]


def reads_outside(loop: cst.CSTNode, skip: list[cst.CSTNode]) -> set[str]:
    """Names read inside `loop` outside the `skip` statements."""
    found: set[str] = set()
    skipped = {id(s) for s in skip}

    class _R(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if id(node) in skipped:
                return False
            if isinstance(node, cst.Name):
                found.add(node.value)
            if isinstance(node, cst.Attribute):
                node.value.visit(self)
                return False
            return True

    loop.visit(_R())
    return found
