"""What the backend produces: the script text, the checkpoint entries and the ops it could not convert.

Kept apart from the writer so that the checkpoint and report writers import these records without
importing code generation.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import attrs

from mindconverter.backend.context import WeightRef
from mindconverter.ir.core import Func
from mindconverter.ir.types import Sym, SymExpr, TensorType

#: Ops that are structure, not computation: they are not counted as ops of the model.
STRUCTURAL_OPS = ("ir.param", "ir.const", "ir.return", "ir.yield", "mc.cell")


def op_count(func: Func) -> int:
    """The model's ops after the passes (nested regions included, structure left out): the one op count
    of the console, the script's docstring and the reports, and the denominator of the converted rate."""
    return sum(1 for op in func.walk() if op.name not in STRUCTURAL_OPS)


def shape_text(t: TensorType) -> str:
    """A shape in the MindConverter guide's notation: `(1, 1280, 1, 1)`, symbols by name (`(N, 3)`), `?` unknown."""
    if t.dims is None:
        return "(unknown rank)"
    dims = []
    for d in t.dims:
        if isinstance(d, Sym):
            dims.append(d.name)
        elif isinstance(d, SymExpr):
            dims.append(str(d)[2:-1])  # `?(2*N)` -> `2*N`
        else:
            dims.append(str(d))
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


@attrs.define
class CheckpointEntry:
    """One checkpoint tensor: its key (the Cell parameter name) and where it came from."""

    name: str
    ref: WeightRef


@attrs.define
class UnsupportedOp:
    """An op that became a placeholder, with why (no emitter, or the emitter's reason).

    `member` is the placeholder's member name in class `cls`; `line` (1-based) and `col` (0-based, as
    Python's `ast` counts) locate its call in the final script (see `Generated.locate_unsupported`).
    """

    op_name: str
    node: str
    reason: str
    input_shapes: list[str]
    output_shapes: list[str]
    member: str = ""
    cls: str = ""
    line: int = 0
    col: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "source_node": self.node, "op": self.op_name, "code_line": self.line, "code_col": self.col,
            "class": self.cls, "input_shapes": self.input_shapes, "output_shapes": self.output_shapes,
            "reason": self.reason,
        }


@attrs.define
class Generated:
    """The backend's product: the script text, checkpoint entries and what could not be converted."""

    docstring: str
    body: str
    class_name: str
    checkpoint: list[CheckpointEntry]
    unsupported: list[UnsupportedOp]
    op_count: int
    input_names: list[str]
    output_names: list[str]

    @property
    def code(self) -> str:
        """The whole script: the module docstring, then imports and classes."""
        return f'"""{docstring_text(self.docstring)}"""\n{self.body}'

    @property
    def converted_rate(self) -> float:
        """Ops converted / ops after passes, in percent (docs/report.md defines it)."""
        return 100.0 if self.op_count == 0 else 100.0 * (self.op_count - len(self.unsupported)) / self.op_count

    def locate_unsupported(self) -> None:
        """Set each unconverted op's `line`/`col` to its placeholder call in `code` as it is now."""
        calls = placeholder_calls(self.code)
        for u in self.unsupported:
            u.line, u.col = calls.get((u.cls, u.member), (0, 0))


def placeholder_calls(code: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(class, member) -> (line, col) of the first `self.<member>(...)` call in the class's `construct`."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for cls in ast.parse(code).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef) or fn.name != "construct":
                continue
            for node in ast.walk(fn):
                f = node.func if isinstance(node, ast.Call) else None
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                    key = (cls.name, f.attr)
                    if key not in found or (node.lineno, node.col_offset) < found[key]:
                        found[key] = (node.lineno, node.col_offset)
    return found


def comment_text(text: str) -> str:
    """A source name made safe for a one-line comment."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120]


def docstring_text(text: str) -> str:
    """Docstring text made safe: printable characters, no backslashes or triple quotes."""
    lines = [re.sub(r"[^\x20-\x7e]", "?", line).replace("\\", "/").replace('"', "'") for line in text.splitlines()]
    return "\n".join(lines).strip()
