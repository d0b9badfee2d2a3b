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
    guard: str | None = None  # an optional sub-cell: `if self.<guard> is not None:`, else `fallback`
    fallback: str = ""
    new_members: list[str] = attrs.field(factory=list)  # members the op declared (one layer: a Sequential element)


@attrs.define(eq=False)
class _SubCellRef:
    """A member that is a nested cell; its constructor code is known once its class is settled."""

    op: Op


def _comment(text: str) -> str:
    """A source name made safe for a one-line comment."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120]


class CellWriter:
    """Accumulates members, statements and checkpoint entries for one Cell class."""

    def __init__(self, module: Module, prefix: str = "") -> None:
        self.module = module
        self.prefix = prefix  # the dotted source path of the cell being written ("" for the top level)
        self.sub_cells: list[tuple[str, Op]] = []  # (member name, mc.cell op) in program order
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
        if self.prefix and path.startswith(self.prefix + "."):
            path = path[len(self.prefix) + 1:]
        elif self.prefix and path == self.prefix:
            path = ""
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
            if self.prefix and hint.startswith(self.prefix + "."):
                hint = hint[len(self.prefix) + 1:]  # `blocks.0.scale` is `scale` inside the blocks.0 cell
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
        if op.name == "mc.cell":
            self._sub_cell(op)
            return
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
                if len(exprs) != len(op.results) and len(exprs) != 1:  # one expression may yield a tuple
                    raise EmitError(f"emitter {spec.fn.__name__} returned {len(exprs)} expressions for {len(op.results)} results")
                first = len(self.statements)
                self._assign(op, exprs)
                for st in self.statements[first:]:
                    st.new_members = [m[0] for m in self.members[snapshot[0]:]]
                return
        self._placeholder(op, reason or "unknown")

    def _sub_cell(self, op: Op) -> None:
        """A nested mc.cell: a member (its code is settled once every instance of its class is known) and a call."""
        leaf = op.attrs["name"].rsplit(".", 1)[-1]
        name = self.member_names(leaf, "cell")
        self.members.append((name, _SubCellRef(op), op.loc_name if op.loc else op.attrs["name"]))
        self.sub_cells.append((name, op))
        args = [self.value_expr(v) for v in op.operands if v is not None]
        targets = [self.local_names(name if i == 0 else f"{name}_{i}", "x") for i in range(len(op.results))]
        for r, t in zip(op.results, targets, strict=True):
            self.vars[r] = t
        guard = name if op.attrs.get("optional") else None
        self.statements.append(_Statement(targets, f"self.{name}({', '.join(args)})", "", guard=guard, fallback=args[0] if args else ""))

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
        if self.prefix and (path == self.prefix or not path.startswith(self.prefix + ".")):
            path = ""  # an op of the cell itself: named after what it does (`matmul`), not the cell
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
    """Generate the script for `module.main`: one flat Cell, or a class hierarchy when the IR has mc.cell regions."""
    func = module.main
    if any(op.name == "mc.cell" for op in func.body.ops):
        return _generate_hierarchy(module, class_name, docstring)
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


# ------------------------------------------------------------------------------------------------
# The hierarchy: mc.cell regions become nn.Cell classes (one class per distinct structure, with the
# hyper-parameters that differ between instances as constructor arguments) or nn.SequentialCell.

#: Positional parameter names of the layers emitters declare (to name lifted constructor arguments).
_POSITIONAL: dict[str, tuple[str, ...]] = {
    **{f"nn.Conv{n}d": ("in_channels", "out_channels", "kernel_size") for n in (1, 2, 3)},
    **{f"nn.Conv{n}dTranspose": ("in_channels", "out_channels", "kernel_size") for n in (1, 2, 3)},
    **{f"nn.BatchNorm{n}d": ("num_features",) for n in (1, 2, 3)},
    "nn.Dense": ("in_channels", "out_channels"),
    "nn.LayerNorm": ("normalized_shape",),
    **{f"nn.{k}Pool{n}d": ("kernel_size",) for k in ("Max", "Avg") for n in (1, 2, 3)},
}
_CONV_DEFAULTS = {"stride": 1, "pad_mode": "same", "padding": 0, "dilation": 1, "group": 1, "has_bias": False}
_POOL_DEFAULTS = {"stride": 1, "pad_mode": "valid", "padding": 0}
#: MindSpore's defaults of keyword arguments emitters leave out when they equal them.
_DEFAULTS: dict[str, dict[str, object]] = {
    **{f"nn.Conv{n}d": _CONV_DEFAULTS for n in (1, 2, 3)},
    **{f"nn.BatchNorm{n}d": {"eps": 1e-5, "momentum": 0.9} for n in (1, 2, 3)},
    "nn.Dense": {"has_bias": True},
    **{f"nn.{k}Pool{n}d": _POOL_DEFAULTS for k in ("Max", "Avg") for n in (1, 2)},
    "nn.Dropout": {"p": 0.5},
}
_MISSING = object()


@attrs.define(eq=False)
class _Instance:
    """One mc.cell (or the top level): its writer, its place in the tree, and, once settled, its code."""

    op: Op | None
    writer: CellWriter | None
    inputs: list[str]
    outputs: list[str]
    children: dict[str, _Instance]
    height: int
    code: str | None = None  # the constructor call in the parent (None: an absent optional member)
    checkpoint: list[CheckpointEntry] = attrs.field(factory=list)
    members: list[tuple[str, str | None]] = attrs.field(factory=list)
    construct: list[str] = attrs.field(factory=list)


@attrs.define(eq=False)
class _Class:
    name: str
    params: list[str]
    defaults: dict[str, object]
    members: list[tuple[str, str | None, bool]]  # (name, code template, optional)
    construct: list[str]
    inputs: list[str]
    doc: str


def _build(module: Module, block, prefix: str, op: Op | None, arg_names: list[str] | None = None) -> _Instance:
    writer = CellWriter(module, prefix)
    inputs = []
    for i, arg in enumerate(block.args):
        hint = arg_names[i] if arg_names else (arg.name or "x")
        name = writer.local_names(hint, "x")
        writer.vars[arg] = name
        inputs.append(name)
    for inner in block.ops:
        if inner.name in ("ir.param", "ir.const", "ir.return", "ir.yield"):
            continue
        writer.emit_op(inner)
    term = block.terminator
    outputs = [writer.value_expr(v) for v in term.operands]
    children = {}
    for member, sub in writer.sub_cells:
        children[member] = _build(module, sub.regions[0], sub.attrs["name"], sub)
    height = 1 + max((c.height for c in children.values()), default=-1)
    return _Instance(op, writer, inputs, outputs, children, height)


def _walk(inst: _Instance):
    for c in inst.children.values():
        yield from _walk(c)
    yield inst


def _subst(expr: str, var: str, value: str) -> str:
    """`expr` with the variable `var` replaced by the expression `value` (outside string literals).

    `value` is parenthesised where the precedence needs it, and only there (`a * b + x`, `(a + b) * x`).
    """
    import ast

    wrapped = _subst_text(expr, var, value, parens=True)
    bare = _subst_text(expr, var, value, parens=False)
    try:
        same = ast.dump(ast.parse(bare, mode="eval")) == ast.dump(ast.parse(wrapped, mode="eval"))
    except SyntaxError:
        same = False
    return bare if same else wrapped


def _subst_text(expr: str, var: str, value: str, parens: bool) -> str:
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    pattern = re.compile(rf"(?<![\w.]){re.escape(var)}(?!\w)")
    simple = _is_atom(value)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue

        def repl(m: re.Match, part: str = part) -> str:
            before, after = part[: m.start()].rstrip()[-1:], part[m.end():].lstrip()[:1]
            whole_arg = before in ("(", ",", "") and after in (")", ",", "")
            return value if simple or whole_arg or not parens else f"({value})"

        out.append(pattern.sub(repl, part))
    return "".join(out)


def _is_atom(expr: str) -> bool:
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Call, ast.Name, ast.Attribute, ast.Subscript, ast.Constant))


def _uses(expr: str, var: str) -> int:
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    pattern = re.compile(rf"(?<![\w.]){re.escape(var)}(?!\w)")
    return sum(len(pattern.findall(p)) for i, p in enumerate(parts) if i % 2 == 0)


def _construct_lines(writer: CellWriter, outputs: list[str], comments: bool) -> list[str]:
    """The body of construct: one statement per op, with single-use values folded into their user."""
    stmts = [attrs.evolve(st) for st in writer.statements]
    ret = _Statement([], ", ".join(outputs), "")
    seq = [*stmts, ret]
    i = 0
    while i < len(seq) - 1:
        st, nxt = seq[i], seq[i + 1]
        if len(st.targets) == 1 and st.guard is None and nxt.guard is None and "UnsupportedOp" not in st.expr:
            var = st.targets[0]
            total = sum(_uses(s.expr, var) + _uses(s.fallback, var) for s in seq[i + 1:])
            if total == 1 and _uses(nxt.expr, var) == 1:
                merged = _subst(nxt.expr, var, st.expr)
                if len(merged) <= 100:
                    nxt.expr = merged
                    if not nxt.comment or not comments:
                        nxt.comment = ""
                    del seq[i]
                    i = max(i - 1, 0)
                    continue
        i += 1
    _rename_after_members(seq, writer)
    lines = []
    for st in seq[:-1]:
        comment = f"  # {_comment(st.comment)}" if comments and st.comment and not st.expr.startswith("self.") else ""
        if "UnsupportedOp" in st.expr or st.expr.startswith("self.unsupported"):
            comment = f"  # {_comment(st.comment)}"
        target = ", ".join(st.targets)
        if st.guard is not None:
            lines += [f"{target} = {st.fallback}", f"if self.{st.guard} is not None:", f"    {target} = {st.expr}"]
        else:
            lines.append(f"{target} = {st.expr}{comment}")
    lines.append(f"return {seq[-1].expr}")
    return lines


def _rename_after_members(seq: list[_Statement], writer: CellWriter) -> None:
    """Name a value after the one layer it comes from (`q = ops.reshape(self.q(x), ...)`), when its name says less."""
    members = {m[0] for m in writer.members}
    words = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
    taken = {t for st in seq for t in st.targets} | {w for st in seq for w in words.findall(st.expr + " " + st.fallback)}
    for i, st in enumerate(seq[:-1]):
        if len(st.targets) != 1 or st.guard is not None:
            continue
        called = re.findall(r"self\.(\w+)\(", st.expr)
        old = st.targets[0]
        if len(called) != 1 or called[0] in taken or re.sub(r"_\d+$", "", old) in members:
            continue
        new = called[0]
        st.targets = [new]
        taken.add(new)
        for later in seq[i + 1:]:
            later.expr = _subst(later.expr, old, new)
            later.fallback = _subst(later.fallback, old, new) if later.fallback else later.fallback


# -- literal trees: lifting hyper-parameters that differ between instances into arguments ----------------


def _tree(code: str):
    """A constructor call as a tree: ("call", callee, [args], {kw: tree}) / ("lit", value) / ("raw", text)."""
    import ast

    def conv(node):
        if isinstance(node, ast.Call):
            return ("call", ast.get_source_segment(code, node.func), [conv(a) for a in node.args],
                    {k.arg: conv(k.value) for k in node.keywords if k.arg is not None})
        try:
            value = ast.literal_eval(node)
        except (ValueError, SyntaxError, TypeError):
            return ("raw", ast.get_source_segment(code, node))
        return ("lit", value)

    return conv(ast.parse(code, mode="eval").body)


class _Unmergeable(Exception):
    pass


def _merge(trees: list, slots: list, name: str, force: bool = False):
    """A template tree for `trees` (None entries: absent instances); differing literals become slots.

    With `force` (the members only some instances have), every literal becomes a slot, so that it can
    share an argument with the other members (a downsample's channels are the block's channels).
    """
    present = [t for t in trees if t is not None]
    kinds = {t[0] for t in present}
    if len(kinds) != 1:
        raise _Unmergeable
    kind = kinds.pop()
    if kind == "raw":
        if len({t[1] for t in present}) != 1:
            raise _Unmergeable
        return present[0]
    if kind == "lit":
        same = len({repr(t[1]) for t in present}) == 1
        if same and not force:
            return present[0]
        slots.append(("!" + name if same else name, [(_MISSING if t is None else t[1]) for t in trees]))
        return ("slot", len(slots) - 1)
    callees = {t[1] for t in present}
    if len(callees) != 1 or len({len(t[2]) for t in present}) != 1:
        raise _Unmergeable
    callee = callees.pop()
    positional = _POSITIONAL.get(callee, ())
    args = [
        _merge([None if t is None else t[2][i] for t in trees], slots,
               "@" + (positional[i] if i < len(positional) else name), force)
        for i in range(len(present[0][2]))
    ]
    # Keyword order of the instance that spells out the most of them.
    keys = list(max((list(t[3]) for t in present), key=len))
    keys += [k for t in present for k in t[3] if k not in keys]
    kwargs = {}
    for k in keys:
        defaults = _DEFAULTS.get(callee, {})
        subtrees = []
        for t in trees:
            if t is None:
                subtrees.append(None)
            elif k in t[3]:
                subtrees.append(t[3][k])
            elif defaults.get(k, _MISSING) is not _MISSING:
                subtrees.append(("lit", defaults[k]))
            else:
                raise _Unmergeable
        kwargs[k] = _merge(subtrees, slots, k, force)
    return ("call", callee, args, kwargs)


def _render(tree, names: dict[int, str]) -> str:
    kind = tree[0]
    if kind == "lit":
        return literal(tree[1])
    if kind == "raw":
        return tree[1]
    if kind == "slot":
        return names[tree[1]]
    args = [_render(a, names) for a in tree[2]] + [f"{k}={_render(v, names)}" for k, v in tree[3].items()]
    return f"{tree[1]}({', '.join(args)})"


def _compatible(a: list, b: list) -> bool:
    return all(x is _MISSING or y is _MISSING or repr(x) == repr(y) for x, y in zip(a, b, strict=True))


def _lift(instances: list[_Instance], class_name: str) -> tuple[_Class, list[str]] | None:
    """One class for `instances` (same construct, same members) and each instance's constructor call; None if impossible."""
    first = instances[0]
    slots: list = []
    templates = []
    try:
        for j, (mname, _) in enumerate(first.members):
            codes = [inst.members[j][1] for inst in instances]
            optional = any(c is None for c in codes)
            if all(c is None for c in codes):
                templates.append((mname, None, True))
                continue
            tree = _merge([None if c is None else _tree(c) for c in codes], slots, mname, force=optional)
            if optional:
                slots.append(("?" + mname, [c is not None for c in codes]))
                templates.append((mname, ("flag", tree, len(slots) - 1), True))
            else:
                templates.append((mname, tree, False))
    except (_Unmergeable, SyntaxError):
        return None
    # Slots with the same values (where both are defined) share one argument; a literal of an optional
    # member joins an argument that has its value wherever the member exists, else stays a literal.
    params: list[tuple[str, list]] = []
    slot_param: dict[int, int] = {}
    fixed: dict[int, str] = {}
    for i, (sname, values) in sorted(enumerate(slots), key=lambda item: item[1][0].startswith("!")):
        forced = sname.startswith("!")
        for p, (_, pvalues) in enumerate(params):
            fits = all(v is _MISSING or (pv is not _MISSING and repr(v) == repr(pv)) for v, pv in zip(values, pvalues, strict=True))
            if fits or (not forced and _compatible(values, pvalues)):
                params[p] = (params[p][0], [v if v is not _MISSING else pv for v, pv in zip(values, pvalues, strict=True)])
                slot_param[i] = p
                break
        else:
            if forced:
                fixed[i] = literal(next(v for v in values if v is not _MISSING))
                continue
            params.append((sname, list(values)))
            slot_param[i] = len(params) - 1
    namer = Namer({"self"})
    names = [namer(n.lstrip("@?"), "arg") for n, _ in params]
    defaults: dict[str, object] = {}
    for name, (origin, values) in zip(names, params, strict=True):
        defined = [v for v in values if v is not _MISSING]
        counts: dict[str, int] = {}
        for v in defined:
            counts[repr(v)] = counts.get(repr(v), 0) + 1
        best = max(counts, key=lambda r: counts[r]) if counts else None
        # Sizes (positional arguments such as channel counts) are always given; options get their usual value.
        usual = best is not None and counts[best] * 2 > len(values) and not origin.startswith("@")
        if origin.startswith("?"):  # whether an optional member exists: off unless asked for
            defaults[name] = False
        elif len(defined) < len(values) or usual:
            defaults[name] = next((v for v in defined if repr(v) == best), False)
    order = [i for i, n in enumerate(names) if n not in defaults] + [i for i, n in enumerate(names) if n in defaults]
    slot_names = {i: names[p] for i, p in slot_param.items()} | fixed
    member_code = []
    for mname, tmpl, optional in templates:
        if tmpl is None:
            member_code.append((mname, None, True))
        elif optional:
            member_code.append((mname, f"{_render(tmpl[1], slot_names)}\x00{slot_names[tmpl[2]]}", True))
        else:
            member_code.append((mname, _render(tmpl, slot_names), False))
    calls = []
    for k, _inst in enumerate(instances):
        args = []
        for i in order:
            name, values = names[i], params[i][1]
            value = values[k]
            if name in defaults:
                if value is _MISSING or repr(value) == repr(defaults[name]):
                    continue
                args.append(f"{name}={literal(value)}")
            else:
                args.append(literal(value))
        calls.append(f"{class_name}({', '.join(args)})")
    # Once an argument is skipped, later ones must be keywords (already so: defaults always go by keyword).
    cls = _Class(class_name, [names[i] for i in order], defaults, member_code, list(first.construct), first.inputs,
                 _class_doc(instances))
    return cls, calls


def _class_doc(instances: list[_Instance]) -> str:
    paths = [inst.op.attrs["name"] for inst in instances if inst.op is not None]
    if not paths:
        return ""
    if len(paths) == 1:
        return f"{paths[0]} in the source model."
    return f"{paths[0]} ... {paths[-1]} in the source model ({len(paths)} instances)."


def _class_base_name(inst: _Instance) -> str:
    name = inst.op.attrs.get("cls") or ""
    if name:
        return name
    parts = inst.op.attrs["name"].split(".")
    leaf = parts[-1]
    if leaf.isdigit() and len(parts) > 1:
        base = re.sub(r"[\d_]+$", "", parts[-2]) or "block"
        if base.endswith("s") and len(base) > 3:
            base = base[:-1]
        words = re.split(r"[^0-9A-Za-z]+", base)
        camel = "".join(w[:1].upper() + w[1:] for w in words if w)
        return camel if camel.lower().endswith("block") else f"{camel}Block"
    words = re.split(r"[^0-9A-Za-z]+", leaf)
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Block"


def _sequential(inst: _Instance) -> str | None:
    """`nn.SequentialCell(...)` when the cell is a chain of numbered layers or cells (torch nn.Sequential)."""
    w = inst.writer
    if w is None or len(inst.inputs) != 1 or len(inst.outputs) != 1 or not w.statements:
        return None
    prev = inst.inputs[0]
    elements: list[tuple[str, str]] = []  # (member name, index in the source)
    for st in w.statements:
        if st.guard is not None or len(st.targets) != 1:
            return None
        m = re.fullmatch(r"self\.(\w+)\((\w+)\)", st.expr)
        if m is None or m.group(2) != prev:
            return None
        member = m.group(1)
        if member in inst.children:
            leaf = inst.children[member].op.attrs["name"].rsplit(".", 1)[-1]
        elif st.new_members == [member]:
            leaf = _source_leaf(w, member)
        else:
            return None
        if not leaf.isdigit():
            return None
        elements.append((member, leaf))
        prev = st.targets[0]
    if inst.outputs != [prev] or [int(leaf) for _, leaf in elements] != list(range(len(elements))):
        return None
    codes = dict(inst.members)
    if any(codes.get(m) is None for m, _ in elements):
        return None
    entries = []
    for index, (member, _) in enumerate(elements):
        for e in inst.checkpoint:
            if e.name.startswith(member + "."):
                entries.append(CheckpointEntry(f"{index}.{e.name[len(member) + 1:]}", e.ref))
    if len(entries) != len(inst.checkpoint):
        return None
    inst.checkpoint = entries
    parts: list[str] = []
    i = 0
    items = [codes[m] for m, _ in elements]
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]:
            j += 1
        parts.append(items[i] if j - i == 1 else f"*[{items[i]} for _ in range({j - i})]")
        i = j
    return f"nn.SequentialCell({', '.join(parts)})"


def _source_leaf(w: CellWriter, member: str) -> str:
    for name, _, comment in w.members:
        if name == member:
            path = module_path(comment) if "/" in comment else ""
            if w.prefix and path.startswith(w.prefix + "."):
                return path[len(w.prefix) + 1:]
            return path
    return ""


def _render_class(cls: _Class, comments: bool = False) -> list[str]:
    params = [p if p not in cls.defaults else f"{p}={literal(cls.defaults[p])}" for p in cls.params]
    lines = [f"class {cls.name}(nn.Cell):"]
    if cls.doc:
        lines += [f'    """{_docstring(cls.doc)}"""', ""]
    lines += [f"    def __init__({', '.join(['self', *params])}):", "        super().__init__()"]
    for name, code, optional in cls.members:
        if code is None:
            lines.append(f"        self.{name} = None")
        elif optional:
            member_code, flag = code.split("\x00")
            lines += [f"        self.{name} = None", f"        if {flag}:", f"            self.{name} = {member_code}"]
        else:
            lines.append(f"        self.{name} = {code}")
    lines += ["", f"    def construct({', '.join(['self', *cls.inputs])}):"]
    lines += [f"        {line}" for line in cls.construct]
    return lines


def _classes_for(group: list[_Instance], class_names: Namer) -> list[tuple[list[_Instance], _Class, list[str]]]:
    """Classes for instances with the same construct: one if their members' hyper-parameters can be lifted,
    else one per kind of members (layer types per member), else one per instance."""
    name = class_names(_class_base_name(group[0]), "Block")
    lifted = _lift(group, name)
    if lifted is not None:
        return [(group, *lifted)]
    by_kind: dict[tuple, list[_Instance]] = {}
    for inst in group:
        kinds = tuple(None if c is None else c.split("(")[0] for _, c in inst.members)
        by_kind.setdefault(kinds, []).append(inst)
    out = []
    for k, part in enumerate(by_kind.values()):
        own = name if k == 0 else class_names(_class_base_name(part[0]), "Block")
        lifted = _lift(part, own) if len(by_kind) > 1 else None
        if lifted is not None:
            out.append((part, *lifted))
            continue
        for j, inst in enumerate(part):
            single = own if j == 0 else class_names(_class_base_name(inst), "Block")
            cls, calls = _lift([inst], single)
            out.append(([inst], cls, calls))
    return out


def _generate_hierarchy(module: Module, class_name: str, docstring: str) -> Generated:
    func = module.main
    root = _build(module, func.body, "", None)
    instances = list(_walk(root))
    writers = [inst.writer for inst in instances if inst.writer is not None]
    for inst in instances:
        if inst.op is not None and inst.op.attrs.get("absent"):
            inst.code = None
    class_names = Namer({class_name, "UnsupportedOp", *(n for w in writers for n in w.support_classes)})
    classes: list[_Class] = []
    by_height: dict[int, list[_Instance]] = {}
    for inst in instances:
        if inst.op is not None and inst.op.attrs.get("absent"):
            continue
        by_height.setdefault(inst.height, []).append(inst)
    for height in sorted(by_height):
        pending = []
        for inst in by_height[height]:
            w = inst.writer
            inst.members = [(n, inst.children[n].code if isinstance(c, _SubCellRef) else c) for n, c, _ in w.members]
            inst.checkpoint = list(w.checkpoint)
            for member, child in inst.children.items():
                inst.checkpoint += [CheckpointEntry(f"{member}.{e.name}", e.ref) for e in child.checkpoint]
            if inst is root:
                continue
            seq = _sequential(inst)
            if seq is not None:
                inst.code = seq
                continue
            inst.construct = _construct_lines(w, inst.outputs, comments=False)
            pending.append(inst)
        groups: dict[tuple, list[_Instance]] = {}
        for inst in pending:
            key = (tuple(n for n, _ in inst.members), tuple(inst.construct), tuple(inst.inputs))
            groups.setdefault(key, []).append(inst)
        for group in groups.values():
            for part, cls, calls in _classes_for(group, class_names):
                classes.append(cls)
                for inst, call in zip(part, calls, strict=True):
                    inst.code = call
    top = root.writer
    root_members = [(n, c) for n, c in root.members]
    init = [f"        self.{n} = {c}" for n, c in root_members if c is not None]
    construct = [f"        {line}" for line in _construct_lines(top, root.outputs, comments=True)]
    text = "\n".join(init + construct)
    for cls in classes:
        text += "\n" + "\n".join(_render_class(cls))
    support = {}
    for w in writers:
        support.update(w.support_classes)
    text += "\n".join(support.values())
    imports = ["import mindspore as ms"] if "ms." in text else []
    names = {m for m in ("nn", "ops") if f"{m}." in text} | {"nn"}
    if "Parameter(" in text:
        names.add("Parameter")
    imports.append("from mindspore import " + ", ".join(sorted(names, key=lambda n: (not n[0].isupper(), n))))
    parts = [*imports, "", ""]
    if any("placeholder" in w.imports for w in writers):
        parts += [_PLACEHOLDER, "", ""]
    for source in support.values():
        parts += [source.strip("\n"), "", ""]
    for cls in classes:
        parts += [*_render_class(cls), "", ""]
    parts += [f"class {class_name}(nn.Cell):", "    def __init__(self):", "        super().__init__()", *init]
    parts += ["", f"    def construct(self, {', '.join(root.inputs)}):", *construct]
    body = "\n".join(parts) + "\n"
    unsupported = [u for w in writers for u in w.unsupported]
    count = sum(1 for op in func.walk() if op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield", "mc.cell"))
    gen = Generated(docstring or f"Generated by mindconverter from {module.name}.", body, class_name,
                    root.checkpoint, unsupported, count, root.inputs, func.output_names)
    code = gen.code
    for u in unsupported:
        u.line = _line_of(code, u.node)
    return gen
