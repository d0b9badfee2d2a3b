"""Rendering: imports, the placeholder class and `nn.Cell` classes as text (one renderer for flat and hierarchical output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mindconverter.backend.context import literal
from mindconverter.backend.generated import comment_text, docstring_text
from mindconverter.backend.layout import hug_named_sequential

if TYPE_CHECKING:
    from mindconverter.backend.calls import Call
    from mindconverter.backend.lifting import ClassDef


def import_lines(text: str) -> list[str]:
    """The imports the script `text` uses: `import mindspore as ms`, `from mindspore import Parameter, nn, ops`
    (after `from collections import OrderedDict` for named nn.SequentialCell members)."""
    imports = ["from collections import OrderedDict", ""] if "OrderedDict(" in text else []
    imports += ["import mindspore as ms"] if "ms." in text else []
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

def member_lines(name: str, code: Call) -> list[str]:
    """`self.<name> = <code>`, after the call's note as a comment line (`# kernel size / elements per window`)."""
    return [*_note(code.note), f"self.{name} = {code}"]


def _note(note: str) -> list[str]:
    return [f"# {comment_text(note)}"] if note else []


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
            lines += [f"        {line}" for line in [*_note(m.note), f"self.{m.name} = {m.code}"]]
    lines += ["", f"    def construct({', '.join(['self', *cls.inputs])}):"]
    lines += [f"        {line}" for line in cls.construct]
    return lines


def render_script(class_name: str, inputs: list[str], init: list[str], construct: list[str],
                  classes: list[ClassDef], support: dict[str, str], placeholder: bool) -> str:
    """The script after its docstring: imports, the placeholder and support classes, the generated
    classes, then the top class with `init` and `construct` (lines without indentation). Flat and
    hierarchical output both come through here; lines over 100 characters are formatted by black."""
    top = [f"class {class_name}(nn.Cell):", "    def __init__(self):", "        super().__init__()"]
    top += [f"        {line}" for line in init]
    top += ["", f"    def construct(self, {', '.join(inputs)}):", *(f"        {line}" for line in construct)]
    rendered = [render_class(cls) for cls in classes]
    text = "\n".join([*top, *(line for lines in rendered for line in lines), *support.values()])
    parts = [*import_lines(text), "", ""]
    if placeholder:
        parts += [PLACEHOLDER, "", ""]
    for source in support.values():
        parts += [source.strip("\n"), "", ""]
    for lines in rendered:
        parts += [*lines, "", ""]
    return format_long_lines("\n".join(parts + top) + "\n")


LINE_LENGTH = 100
_MARK = "# mindconverter-format "


def format_long_lines(text: str) -> str:
    """`text` with every line over LINE_LENGTH characters (a whole simple statement) formatted by black.

    The long lines are formatted together, one black call per indentation, so the cost stays one
    pass over them whatever their number; the rest of the script is already in black's style.
    """
    lines = [part for line in text.split("\n") for part in hug_named_sequential(line, LINE_LENGTH) or [line]]
    by_indent: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        if len(line) > LINE_LENGTH and not line.lstrip().startswith(("#", '"')):
            by_indent.setdefault(len(line) - len(line.lstrip()), []).append(i)
    if not by_indent:
        return "\n".join(lines)
    import black

    formatted: dict[int, list[str]] = {}
    for indent, indices in by_indent.items():
        # a compound statement's header (`def f(...):`) gets a body for black, taken off again below
        source = "".join(f"{_MARK}{i}\n{lines[i].strip()}\n" + ("    pass\n" if lines[i].endswith(":") else "")
                         for i in indices)
        try:
            out = black.format_str(source, mode=black.Mode(line_length=LINE_LENGTH - indent))
        except black.parsing.InvalidInput:
            continue  # not a simple statement: left as it is
        for chunk in out.split(_MARK)[1:]:
            head, _, body = chunk.partition("\n")
            body_lines = body.rstrip("\n").split("\n")
            if lines[int(head)].endswith(":"):
                body_lines = body_lines[:-1]  # the `pass` added above
            formatted[int(head)] = [" " * indent + s if s else s for s in body_lines]
    return "\n".join(part for i, line in enumerate(lines) for part in formatted.get(i, [line]))
