"""Argument binding and value conversion helpers of the API-table call mapper (mapper.py)."""

from __future__ import annotations

import re

import libcst as cst

from mindconverter.migrate.table import ApiEntry

_EMPTY = cst.Module([])


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)



def _atomic(text: str) -> bool:
    """True when `text` can take an operator without parentheses."""
    return bool(re.fullmatch(r"[\w.]+(\(.*\)|\[.*\])?|'[^']*'|\"[^\"]*\"", text.strip(), re.S))


def _split(names: list[str], value: cst.BaseExpression) -> list[cst.Arg]:
    """betas=(0.9, 0.99) -> beta1=0.9, beta2=0.99 (a non-literal value is indexed: betas[0], betas[1])."""
    if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(names):
        return [_kwarg(n, code(el.value)) for n, el in zip(names, value.elements, strict=True)]
    return [_kwarg(n, f"{_paren(code(value))}[{i}]") for i, n in enumerate(names)]


def _fold(text: str) -> str:
    """`1 - 0.1` -> `0.9`, `'none' == 'tanh'` -> `False`: a converted value made only of literals is computed."""
    import ast

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return text
    allowed = (ast.Expression, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Tuple,
               ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Load)
    if not all(isinstance(n, allowed) for n in ast.walk(tree)) or "**" in text:
        return text
    try:
        value = eval(compile(tree, "<table>", "eval"), {"__builtins__": {}})  # noqa: S307 - literals only
    except Exception:  # noqa: BLE001 - e.g. division by zero: keep the expression
        return text
    if isinstance(value, float):
        return repr(round(value, 12))
    return repr(value)


def _sig(entry: ApiEntry) -> str:
    return ", ".join(p.name if p.default is None else f"{p.name}={p.default}" for p in entry.params)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).replace('"', "'")


def _paren(text: str) -> str:
    return text if _atomic(text) else f"({text})"


def _arg_text(arg) -> str | None:
    if arg is None:
        return None
    if isinstance(arg, list):
        if len(arg) == 1:
            return code(arg[0].value) if arg[0].star == "*" else code(arg[0].value)
        return "(" + ", ".join(code(a.value) for a in arg) + ")"
    return code(arg.value)


def _kwarg(name: str, value: str) -> cst.Arg:
    return cst.Arg(
        cst.parse_expression(value), keyword=cst.Name(name),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )


def _fix_commas(args: list[cst.Arg], call: cst.Call) -> list[cst.Arg]:
    """Every argument but the last has a comma; the last keeps one only if the source's last did."""
    out = []
    trailing = bool(call.args) and not isinstance(call.args[-1].comma, cst.MaybeSentinel)
    for i, a in enumerate(args):
        last = i == len(args) - 1
        if last:
            a = a if trailing and not isinstance(a.comma, cst.MaybeSentinel) else a.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        elif isinstance(a.comma, cst.MaybeSentinel):
            a = a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        out.append(a)
    return out
