"""What the backend produces: the script text, the checkpoint entries and the ops it could not convert.

Kept apart from the writer so that the checkpoint and report writers import these records without
importing code generation.
"""

from __future__ import annotations

import re

import attrs

from mindconverter.backend.context import WeightRef


@attrs.define
class CheckpointEntry:
    """One checkpoint tensor: its key (the Cell parameter name) and where it came from."""

    name: str
    ref: WeightRef


@attrs.define
class UnsupportedOp:
    """An op that became a placeholder, with why (no emitter, or the emitter's reason)."""

    op_name: str
    node: str
    reason: str
    input_shapes: list[str]
    output_shapes: list[str]
    line: int = 0


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
        return 100.0 if self.op_count == 0 else 100.0 * (self.op_count - len(self.unsupported)) / self.op_count


def comment_text(text: str) -> str:
    """A source name made safe for a one-line comment."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120]


def docstring_text(text: str) -> str:
    """Docstring text made safe: printable characters, no backslashes or triple quotes."""
    lines = [re.sub(r"[^\x20-\x7e]", "?", line).replace("\\", "/").replace('"', "'") for line in text.splitlines()]
    return "\n".join(lines).strip()


def line_of(code: str, node: str) -> int:
    needle = f"# {comment_text(node)}"
    for i, line in enumerate(code.splitlines(), 1):
        if line.endswith(needle) and "UnsupportedOp" not in line:
            return i
    return 0


# ------------------------------------------------------------------------------------------------
# The hierarchy: mc.cell regions become nn.Cell classes (one class per distinct structure, with the
# hyper-parameters that differ between instances as constructor arguments) or nn.SequentialCell.
