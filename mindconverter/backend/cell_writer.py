"""Writes the MindSpore script: one `nn.Cell` class whose members and `construct` come from the IR.

`generate(module)` walks `main` in program order, asks each op's emitter for its expression,
collects the members the emitters declare and the checkpoint entries of their parameters, and
formats the class. Ops without an emitter (or whose emitter gives up) become placeholder Cells.
"""

from __future__ import annotations

import re

import attrs
import numpy as np

from mindconverter.backend.context import MS_DTYPES, EmitContext, EmitError, WeightRef, array_literal, literal
from mindconverter.backend.naming import Namer, module_path
from mindconverter.backend.registry import find_emitter
from mindconverter.ir.core import Module, Op, Value, const_array, is_param
from mindconverter.ir.types import DType

#: Node names that say nothing about the model (`n12`, `Conv_3`, `node_7`): member names come from weights instead.
_GENERIC_NAME = re.compile(r"(n|node|[A-Z][A-Za-z]*)_?\d*")
#: Weight-name endings dropped to name the layer (`conv1_w_0` -> `conv1`, `fc.weight` -> `fc`).
_WEIGHT_SUFFIX = re.compile(r"([._/](w|W|weight|weights|kernel|filter|b|bias)(_\d+)?|_\d+)$")

#: Constant tensors up to this many elements are written into the script; larger ones go to the checkpoint.
INLINE_TENSOR_LIMIT = 16


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
        return f'"""{_docstring(self.docstring)}"""\n{self.body}'

    @property
    def converted_rate(self) -> float:
        return 100.0 if self.op_count == 0 else 100.0 * (self.op_count - len(self.unsupported)) / self.op_count


@attrs.define
class _Statement:
    targets: list[str]
    expr: str
    comment: str


def _comment(text: str) -> str:
    """A source name made safe for a one-line comment."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120]


class CellWriter:
    """Accumulates members, statements and checkpoint entries for one Cell class."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.weights = module.weights
        self.opset = int(module.attrs.get("opset", 17))
        self.members: list[tuple[str, str, str]] = []  # (name, constructor code, comment)
        self.member_names = Namer()
        self.local_names = Namer()
        self.statements: list[_Statement] = []
        self.checkpoint: list[CheckpointEntry] = []
        self.unsupported: list[UnsupportedOp] = []
        self.vars: dict[Value, str] = {}
        self.const_members: dict[Value, str] = {}
        self.imports: set[str] = set()
        self.support_classes: dict[str, str] = {}

    # -- members ---------------------------------------------------------------------------------

    def _hint(self, op: Op, hint: str | None) -> str:
        """A member name for op's layer: the source scope, else its weight's source name, else the op type."""
        if hint:
            return hint
        path = module_path(op.loc_name) if op.loc else ""
        if path and not _GENERIC_NAME.fullmatch(path):
            return path
        for v in op.operands[1:2]:
            key = v.op.attrs.get("key") if v is not None and v.op is not None else None
            origin = self.weights.origin.get(key, key) if key else None
            if origin:
                return _WEIGHT_SUFFIX.sub("", origin)
        return op.op_type.lower()

    def add_member(self, op: Op, code: str, weights: dict[str, WeightRef], hint: str | None) -> str:
        name = self.member_names(self._hint(op, hint), "layer")
        self.members.append((name, code, op.loc_name))
        for pname, ref in weights.items():
            self.checkpoint.append(CheckpointEntry(f"{name}.{pname}", ref))
        return f"self.{name}"

    def add_parameter(self, op: Op, ref: WeightRef, hint: str | None, trainable: bool) -> str:
        name = self.member_names(hint or (ref.source or "weight"), "weight")
        dtype = MS_DTYPES[DType.from_numpy(ref.array.dtype)]
        grad = "" if trainable else ", requires_grad=False"
        code = f"Parameter(ops.zeros({literal(tuple(ref.shape))}, {dtype}), name={literal(name)}{grad})"
        self.members.append((name, code, ref.source or op.loc_name))
        self.checkpoint.append(CheckpointEntry(name, ref))
        return f"self.{name}"

    def add_tensor(self, op: Op, array: np.ndarray, hint: str) -> str:
        if array.dtype == object:
            raise EmitError("string tensors have no MindSpore equivalent")
        dtype = MS_DTYPES[DType.from_numpy(array.dtype)]
        if array.size <= INLINE_TENSOR_LIMIT:
            name = self.member_names(hint, "const")
            self.members.append((name, f"ms.Tensor({array_literal(array)}, {dtype})", op.loc_name))
            return f"self.{name}"
        return self.add_parameter(op, WeightRef(array, None, tuple(array.shape), str(array.dtype)), hint, trainable=False)

    def value_expr(self, v: Value) -> str:
        """Python expression for an IR value used in construct."""
        if v in self.vars:
            return self.vars[v]
        if v in self.const_members:
            return self.const_members[v]
        op = v.op
        if op is not None and op.name in ("ir.param", "ir.const"):
            hint = module_path(op.loc_name) if op.loc else (v.name or "const")
            if is_param(v):
                key = op.attrs["key"]
                array = self.weights.get(key)
                ref = WeightRef(np.asarray(array), self.weights.origin.get(key, key), tuple(array.shape), str(array.dtype))
                expr = self.add_parameter(op, ref, hint, trainable=True)
            else:
                expr = self.add_tensor(op, np.asarray(const_array(v, self.weights)), hint)
            self.const_members[v] = expr
            return expr
        raise EmitError(f"value {v!r} is used before it is computed")

    # -- statements --------------------------------------------------------------------------------

    def emit_op(self, op: Op) -> None:
        spec = find_emitter(op.name, self.opset)
        reason = None
        if spec is None:
            reason = f"no emitter for '{op.name}'" + (f" at opset {self.opset}" if op.dialect == "onnx" else "")
        else:
            snapshot = (len(self.members), len(self.checkpoint), set(self.member_names.taken), dict(self.const_members))
            try:
                out = spec.fn(op, EmitContext(self, op))
            except EmitError as exc:
                reason = str(exc)
                # Undo members the emitter declared before giving up.
                del self.members[snapshot[0]:]
                del self.checkpoint[snapshot[1]:]
                self.member_names.taken = snapshot[2]
                self.const_members = snapshot[3]
            else:
                exprs = [out] if isinstance(out, str) else list(out)
                if len(exprs) != len(op.results):
                    raise EmitError(f"emitter {spec.fn.__name__} returned {len(exprs)} expressions for {len(op.results)} results")
                self._assign(op, exprs)
                return
        self._placeholder(op, reason or "unknown")

    def _assign(self, op: Op, exprs: list[str]) -> None:
        if len(exprs) == 1 and len(op.results) == 1:
            target = self._var_for(op, op.results[0])
            self.statements.append(_Statement([target], exprs[0], op.loc_name))
            return
        if len(exprs) == 1:  # one expression yielding a tuple
            targets = [self._var_for(op, r) for r in op.results]
            self.statements.append(_Statement(targets, exprs[0], op.loc_name))
            return
        for r, e in zip(op.results, exprs, strict=True):
            self.statements.append(_Statement([self._var_for(op, r)], e, op.loc_name))

    def _var_for(self, op: Op, v: Value) -> str:
        path = module_path(op.loc_name) if op.loc else ""
        if _GENERIC_NAME.fullmatch(path):
            path = ""  # `n61` says nothing; `concat` does
        base = (path.rsplit(".", 1)[-1] if path else op.op_type).lower()
        name = self.local_names(base if v.index == 0 else f"{base}_{v.index}", "x")
        self.vars[v] = name
        return name

    def _placeholder(self, op: Op, reason: str) -> None:
        in_shapes = [str(v.type) if v is not None else "none" for v in op.operands]
        out_shapes = [str(r.type) for r in op.results]
        self.unsupported.append(UnsupportedOp(op.name, op.loc_name, reason, in_shapes, out_shapes))
        member = self.member_names(f"unsupported_{op.op_type}", "unsupported")
        code = f"UnsupportedOp({literal(op.name)}, {literal(op.loc_name)}, {literal(in_shapes)}, {literal(out_shapes)}, {literal(reason)})"
        self.members.append((member, code, op.loc_name))
        args = ", ".join(self.value_expr(v) for v in op.operands if v is not None)
        self.imports.add("placeholder")
        targets = [self._var_for(op, r) for r in op.results]
        self.statements.append(_Statement(targets, f"self.{member}({args})", op.loc_name))

    # -- the whole class -------------------------------------------------------------------------------

    def render(self, class_name: str, inputs: list[str], outputs: list[str]) -> str:
        """Imports and classes (the module docstring is added by Generated.code)."""
        init = [f"        self.{name} = {code}" for name, code, _ in self.members]
        construct = [f"        {', '.join(st.targets)} = {st.expr}  # {_comment(st.comment)}" for st in self.statements]
        construct.append(f"        return {', '.join(outputs)}")
        text = "\n".join(init + construct + list(self.support_classes.values()))
        imports = ["import mindspore as ms"] if "ms." in text else []
        names = {m for m in ("nn", "ops") if f"{m}." in text} | {"nn"}
        if "Parameter(" in text:
            names.add("Parameter")
        # isort order (ruff's I001): classes (capitalised) before modules and functions.
        imports.append("from mindspore import " + ", ".join(sorted(names, key=lambda n: (not n[0].isupper(), n))))
        parts = [*imports, "", ""]
        if "placeholder" in self.imports:
            parts += [_PLACEHOLDER, "", ""]
        for source in self.support_classes.values():
            parts += [source.strip("\n"), "", ""]
        parts += [f"class {class_name}(nn.Cell):", "    def __init__(self):", "        super().__init__()", *init]
        parts += ["", f"    def construct(self, {', '.join(inputs)}):", *construct]
        return "\n".join(parts) + "\n"


def _docstring(text: str) -> str:
    """Docstring text made safe: printable characters, no backslashes or triple quotes."""
    lines = [re.sub(r"[^\x20-\x7e]", "?", line).replace("\\", "/").replace('"', "'") for line in text.splitlines()]
    return "\n".join(lines).strip()


_PLACEHOLDER = '''class UnsupportedOp(nn.Cell):
    """Stands in for an op mindconverter could not convert: replace it with a real implementation."""

    def __init__(self, op, node, input_shapes, output_shapes, reason):
        super().__init__()
        self.message = (
            f"{op} (node {node!r}) was not converted: {reason}; "
            f"inputs {input_shapes} -> outputs {output_shapes}"
        )

    def construct(self, *inputs):
        raise NotImplementedError(self.message)'''


def generate(module: Module, class_name: str = "MindSporeModel", docstring: str = "") -> Generated:
    """Generate the script for `module.main` (one flat Cell)."""
    func = module.main
    writer = CellWriter(module)
    inputs = []
    for arg in func.args:
        name = writer.local_names(arg.name or "input", "input")
        writer.vars[arg] = name
        inputs.append(name)
    count = 0
    for op in func.body.ops:
        if op.name in ("ir.param", "ir.const", "ir.return"):
            continue
        count += 1
        writer.emit_op(op)
    outputs = [writer.value_expr(v) for v in func.outputs]
    body = writer.render(class_name, inputs, outputs)
    gen = Generated(docstring or f"Generated by mindconverter from {module.name}.", body, class_name,
                    writer.checkpoint, writer.unsupported, count, inputs, func.output_names)
    code = gen.code
    for u in writer.unsupported:
        u.line = _line_of(code, u.node)
    return gen


def _line_of(code: str, node: str) -> int:
    needle = f"# {_comment(node)}"
    for i, line in enumerate(code.splitlines(), 1):
        if line.endswith(needle) and "UnsupportedOp" not in line:
            return i
    return 0
