"""Rendering: imports, the placeholder class and `nn.Cell` classes as text (one renderer for flat and hierarchical output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mindconverter.backend.context import literal
from mindconverter.backend.generated import docstring_text

if TYPE_CHECKING:
    from mindconverter.backend.lifting import ClassDef


def import_lines(text: str) -> list[str]:
    """The imports the script `text` uses: `import mindspore as ms`, `from mindspore import Parameter, nn, ops`."""
    imports = ["import mindspore as ms"] if "ms." in text else []
    names = {m for m in ("nn", "ops") if f"{m}." in text} | {"nn"}
    if "Parameter(" in text:
        names.add("Parameter")
    # isort order (ruff's I001): classes (capitalised) before modules and functions.
    imports.append("from mindspore import " + ", ".join(sorted(names, key=lambda n: (not n[0].isupper(), n))))
    return imports


PLACEHOLDER = '''class UnsupportedOp(nn.Cell):
    """Stands in for an op mindconverter could not convert: replace it with a real implementation."""

    def __init__(self, op, node, input_shapes, output_shapes, reason):
        super().__init__()
        self.message = (
            f"{op} (node {node!r}) was not converted: {reason}; "
            f"inputs {input_shapes} -> outputs {output_shapes}"
        )

    def construct(self, *inputs):
        raise NotImplementedError(self.message)'''

def render_class(cls: ClassDef, comments: bool = False) -> list[str]:
    params = [p if p not in cls.defaults else f"{p}={literal(cls.defaults[p])}" for p in cls.params]
    lines = [f"class {cls.name}(nn.Cell):"]
    if cls.doc:
        lines += [f'    """{docstring_text(cls.doc)}"""', ""]
    lines += [f"    def __init__({', '.join(['self', *params])}):", "        super().__init__()"]
    for m in cls.members:
        if m.code is None:
            lines.append(f"        self.{m.name} = None")
        elif m.flag is not None:
            lines += [f"        self.{m.name} = None", f"        if {m.flag}:", f"            self.{m.name} = {m.code}"]
        else:
            lines.append(f"        self.{m.name} = {m.code}")
    lines += ["", f"    def construct({', '.join(['self', *cls.inputs])}):"]
    lines += [f"        {line}" for line in cls.construct]
    return lines

