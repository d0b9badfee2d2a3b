"""Layout of a long `nn.SequentialCell(OrderedDict([...]))` as a person writes it: the brackets hugged on the
first line, one `("name", layer)` entry per line (black would give each bracket and each tuple lines of its own)."""

from __future__ import annotations

import ast


def _named_sequential(tree: ast.AST) -> ast.List | None:
    """The entry list of the outermost `nn.SequentialCell(OrderedDict([...]))` in `tree`, if any."""
    for node in ast.walk(tree):  # breadth first: the outermost call comes first
        if (isinstance(node, ast.Call) and ast.unparse(node.func) == "nn.SequentialCell" and len(node.args) == 1
                and not node.keywords and isinstance(inner := node.args[0], ast.Call)
                and ast.unparse(inner.func) == "OrderedDict" and len(inner.args) == 1
                and isinstance(inner.args[0], ast.List)):
            return inner.args[0]
    return None


def hug_named_sequential(line: str, limit: int) -> list[str] | None:
    """`line` (one statement, or one entry of an enclosing list ending in `,`) over `limit` characters that
    holds an `nn.SequentialCell(OrderedDict([...]))`, laid out over several lines; None for any other line.

        self.features = nn.SequentialCell(OrderedDict([
            ("conv0", nn.Conv2d(3, 8, 3, pad_mode="pad", padding=1)),
            ("transition1", nn.SequentialCell(OrderedDict([
                ("norm", nn.BatchNorm2d(24)),
                ...
            ]))),
        ]))

    An entry that is still too long and holds no such call is left for the formatter (black).
    """
    if len(line) <= limit:
        return None
    indent = line[: len(line) - len(line.lstrip())]
    text = line.strip()
    try:
        entries = _named_sequential(ast.parse(text))
    except SyntaxError:
        return None
    if entries is None or not entries.elts:
        return None
    raw = text.encode()  # ast offsets count UTF-8 bytes
    head = raw[: entries.col_offset + 1].decode()
    tail = raw[entries.end_col_offset - 1:].decode()
    out = [indent + head]
    for e in entries.elts:
        entry = f"{indent}    {ast.get_source_segment(text, e)},"
        out += hug_named_sequential(entry, limit) or [entry]
    return [*out, indent + tail]
