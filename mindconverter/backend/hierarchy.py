"""The hierarchy: mc.cell regions become nn.Cell classes (one class per distinct structure, with the
hyper-parameters that differ between instances as constructor arguments) or nn.SequentialCell."""

from __future__ import annotations

import itertools
import os
import re

from mindconverter.backend.calls import Call, Code, Comprehension, Step
from mindconverter.backend.generated import CheckpointEntry, Generated, op_count
from mindconverter.backend.inline import construct_body, loop_body
from mindconverter.backend.lifting import POSITIONAL_KEY, ClassDef, Instance, anonymous, classes_for, unify_member_names
from mindconverter.backend.naming import Namer, layer_name, meaningless, module_path, returned_names
from mindconverter.backend.render import member_lines, render_script
from mindconverter.backend.statements import CellWriter, SubCellRef
from mindconverter.ir.core import Module, Op, Value


def _origin_prefix(module: Module, block) -> str:
    """The source-name prefix that the weights of a cell's own layers share, up to a separator.

    A cell found by repetition (no source scopes) names its members after its weights' source names;
    without what all of them share (`layer1.0.` of `layer1.0.conv1.weight`, `fire2/` of
    `fire2/squeeze1x1_w_0`) the names are the same in every instance, so the instances share a class.
    """
    names = []
    for op in block.ops:
        if op.name in ("mc.cell", "ir.param", "ir.const", "ir.return", "ir.yield"):
            continue
        for v in op.operands[1:2]:
            key = v.op.attrs.get("key") if v is not None and v.op is not None and v.op.name == "ir.param" else None
            origin = module.weights.origin.get(key, key) if key else ""
            if origin and not meaningless(origin):  # a folded constant's node name (`r9`) says nothing
                names.append(layer_name(origin))
    if not names:
        return ""
    common = os.path.commonprefix(names)
    cut = max(common.rfind(c) for c in "./_")
    return common[: cut + 1]


def _build(module: Module, block, prefix: str, op: Op | None, arg_names: list[str] | None = None,
           returned: dict[Value, str] | None = None) -> Instance:
    writer = CellWriter(module, prefix)
    writer.output_names = returned or {}
    if prefix:
        writer.origin_prefix = _origin_prefix(module, block)
    inputs = []
    # A cell concatenating all its inputs at its entrance (marked by structure-modules) takes them as `*features`.
    varargs = op.attrs.get("varargs") if op is not None else None
    if varargs:
        inputs.append(f"*{writer.local_names(varargs, 'x')}")
    for i, arg in enumerate(block.args):
        hint = arg_names[i] if arg_names else (arg.name or "x")
        name = writer.arg_name(hint, "x")
        writer.vars[arg] = name
        if not varargs:
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
    return Instance(op, writer, inputs, outputs, children, height)


def _walk(inst: Instance):
    for c in inst.children.values():
        yield from _walk(c)
    yield inst


#: A member that is one of several numbered instances: `0` (nn.Sequential), `encoder_layer_3`, `denselayer12`.
_INSTANCE_NUMBER = re.compile(r"(|[A-Za-z_]*?[A-Za-z])_?(\d+)")


def _chain(inst: Instance) -> list[tuple[str, re.Match | None]] | None:
    """The members of a cell whose construct is a chain of them, in order: each statement calls one member
    (a layer the statement declares, or a sub-cell) on the previous result, and the last result is returned.

    Each with its source name matched as a numbered instance (`0`, `encoder_layer_3`), or None.
    """
    w = inst.writer
    if w is None or len(inst.inputs) != 1 or len(inst.outputs) != 1 or not w.statements:
        return None
    prev = inst.inputs[0]
    elements: list[tuple[str, re.Match | None]] = []
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
        elements.append((member, _INSTANCE_NUMBER.fullmatch(leaf)))
        prev = st.targets[0]
    codes = dict(inst.members)
    if inst.outputs != [prev] or any(codes.get(m) is None for m, _ in elements):
        return None
    return elements


def _sequential(inst: Instance) -> Call | None:
    """`nn.SequentialCell(...)` when the cell is a chain of numbered layers or cells: torch's nn.Sequential
    (`0`, `1`, ...), or instances of one class numbered in order (`encoder_layer_0`, `encoder_layer_1`, ...)."""
    elements = _chain(inst)
    if elements is None or any(numbered is None for _, numbered in elements):
        return None
    codes = dict(inst.members)
    kinds = {m.group(1) for _, m in elements}
    numbers = [int(m.group(2)) for _, m in elements]
    if kinds == {""}:  # torch nn.Sequential: `0`, `1`, ...
        # An element the export left out (torch drops a Dropout(0.0), an Identity) computed nothing: nn.Identity()
        # keeps the others at their source positions, so `mlp.3.weight` stays `mlp.3.weight`.
        if numbers != sorted(set(numbers)) or numbers[-1] + 1 > 2 * len(numbers):
            return None
        at = {n: m for (m, _), n in zip(elements, numbers, strict=True)}
        return _positional(inst, [at.get(n) for n in range(numbers[-1] + 1)])
    elif (len(kinds) != 1 or len(elements) < 2 or numbers[0] not in (0, 1)
          or numbers != list(range(numbers[0], numbers[0] + len(elements)))
          or len({codes[m].callee for m, _ in elements}) != 1):
        return None  # numbered instances of one kind (`encoder_layer_0`, `block1`) chained in order
    return _positional(inst, [m for m, _ in elements])


def _positional(inst: Instance, members: list[str | None]) -> Call | None:
    """`nn.SequentialCell(a, b, *[c for _ in range(n)])` of the chain `members` (None: an `nn.Identity()`), its
    checkpoint keys renamed to positions (`0.weight`); None if the cell has weights outside the chain."""
    codes = {**dict(inst.members), None: Call("nn.Identity")}
    entries = []
    for index, member in enumerate(members):
        for e in inst.checkpoint if member is not None else ():
            if e.name.startswith(member + "."):
                entries.append(CheckpointEntry(f"{index}.{e.name[len(member) + 1:]}", e.ref))
    if len(entries) != len(inst.checkpoint):
        return None
    inst.checkpoint = entries
    parts: list[Call | Code] = []
    i = 0
    items = [codes[m] for m in members]
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]:
            j += 1
        parts.append(items[i] if j - i == 1 else Code(f"*[{items[i]} for _ in range({j - i})]"))
        i = j
    return Call("nn.SequentialCell", parts)


def _named_sequential(inst: Instance) -> Call | None:
    """`nn.SequentialCell(OrderedDict([("norm", nn.BatchNorm2d(24)), ...]))` for a cell of its own kind (one
    instance) whose members are a chain: its members keep their names, so its checkpoint keys stay as they are.
    Members of a cell found by repetition named only by their position (weights `0.weight`, `1.running_mean`
    give `conv_0`, `batchnormalization_1`) are a plain list, keyed `0`, `1` as nn.Sequential's are."""
    elements = _chain(inst)
    if elements is None or [m for m, _ in elements] != [n for n, _ in inst.members]:
        return None
    numbers = [re.search(r"_(\d+)$", m) for m, _ in elements]
    if _unscoped(inst) and all(numbers) and [int(n.group(1)) for n in numbers] == list(range(len(elements))):
        return _positional(inst, [m for m, _ in elements])
    codes = dict(inst.members)
    entries = ", ".join(f'("{m}", {codes[m]})' for m, _ in elements)
    return Call("nn.SequentialCell", [Call("OrderedDict", [Code(f"[{entries}]")])])


def _progression(calls: list[Call], var: str) -> list[Call] | Comprehension:
    """Calls of one class, as a comprehension when the integer arguments that differ between them step by
    one amount each (DenseNet's layers: `[DenseLayer(8 + 4 * i) for i in range(4)]`)."""
    first = calls[0]
    if len({(c.callee, len(c.args), tuple(k for k, _ in c.kwargs)) for c in calls}) != 1:
        return calls
    columns = [[c.args[j] for c in calls] for j in range(len(first.args))]
    columns += [[c.kwargs[j][1] for c in calls] for j in range(len(first.kwargs))]
    values, stepped = [], False
    for column in columns:
        if all(v == column[0] and type(v) is type(column[0]) for v in column):
            values.append(column[0])
        elif all(type(v) is int for v in column) and len({b - a for a, b in itertools.pairwise(column)}) == 1:
            values.append(Step(column[0], column[1] - column[0], var))
            stepped = True
        else:
            return calls
    if not stepped:
        return calls  # the same call n times
    n = len(first.args)
    element = Call(first.callee, values[:n], [(k, v) for (k, _), v in zip(first.kwargs, values[n:], strict=True)])
    return Comprehension(element, var, len(calls))


def _growing_list(inst: Instance) -> bool:
    """Numbered instances of one `*features` class each called with every output before it, the outputs then
    concatenated (DenseNet's dense block): an nn.CellList called in a loop, as the source writes it."""
    w = inst.writer
    if w is None or len(inst.inputs) != 1 or len(inst.outputs) != 1:
        return False
    names = [inst.inputs[0]]
    members: list[str] = []
    numbers: list[re.Match] = []
    statements = list(w.statements)
    while statements:
        st = statements[0]
        m = re.fullmatch(r"self\.(\w+)\(([\w, ]*)\)", st.expr)
        if m is None or st.guard is not None or len(st.targets) != 1 or m.group(2) != ", ".join(names):
            break
        child = inst.children.get(m.group(1))
        numbered = _INSTANCE_NUMBER.fullmatch(child.op.attrs["name"].rsplit(".", 1)[-1]) if child is not None else None
        if numbered is None or not child.op.attrs.get("varargs"):
            return False
        members.append(m.group(1))
        numbers.append(numbered)
        names.append(st.targets[0])
        statements.pop(0)
    final = re.fullmatch(rf"ops\.concat\(\({re.escape(', '.join(names))}\), axis=(-?\d+)\)", statements[0].expr
                         if len(statements) == 1 and statements[0].targets == inst.outputs else inst.outputs[0])
    if final is None or len(statements) > 1 or len(members) < 2:
        return False
    codes = dict(inst.members)
    if (len({n.group(1) for n in numbers}) != 1 or any(codes.get(m) is None for m in members)
            or len({codes[m].callee for m in members}) != 1
            or [int(n.group(2)) for n in numbers] != list(range(int(numbers[0].group(2)), int(numbers[0].group(2)) + len(members)))):
        return False
    taken = {n for n, _ in inst.members if n not in members} | set(names)
    namer = Namer(taken)
    field, features, layer = namer("layers"), namer("features"), namer("layer")
    first = next(i for i, (n, _) in enumerate(inst.members) if n in members)
    listed = Call("nn.CellList", [_progression([codes[m] for m in members], namer("i"))])
    inst.members = [(n, c) for n, c in inst.members[:first] if n not in members] + [(field, listed)] + [
        (n, c) for n, c in inst.members[first:] if n not in members]
    index = {m: k for k, m in enumerate(members)}
    renamed = []
    for e in inst.checkpoint:
        head, dot, rest = e.name.partition(".")
        renamed.append(CheckpointEntry(f"{field}.{index[head]}.{rest}", e.ref) if head in index else e)
    inst.checkpoint = renamed
    inst.construct = loop_body([f"{features} = [{names[0]}]", f"for {layer} in self.{field}:",
                                f"    {features}.append({layer}(*{features}))",
                                f"return ops.concat({features}, axis={final.group(1)})"], [field])
    return True


def _source_leaf(w: CellWriter, member: str) -> str:
    for name, _, comment in w.members:
        if name == member:
            path = module_path(comment) if "/" in comment else ""
            if w.prefix and path.startswith(w.prefix + "."):
                return path[len(w.prefix) + 1:]
            return path
    return ""


def _unscoped(inst: Instance) -> bool:
    """Whether a cell was found by repetition (no op in it has a source scope) rather than from a source module."""
    return inst.op is not None and not any("/" in name for op in inst.op.regions[0].walk() for name in op.loc)


def _known(cls: ClassDef) -> dict:
    """What lifting knows of a generated class: its keyword defaults and its positional parameters."""
    return {**cls.defaults, POSITIONAL_KEY: tuple(p for p in cls.params if p not in cls.defaults)}


def generate_hierarchy(module: Module, class_name: str, docstring: str) -> Generated:
    func = module.main
    root = _build(module, func.body, "", None, returned=returned_names(func.outputs, func.output_names))
    instances = list(_walk(root))
    writers = [inst.writer for inst in instances if inst.writer is not None]
    for inst in instances:
        if inst.op is not None and inst.op.attrs.get("absent"):
            inst.code = None
    class_names = Namer({class_name, "UnsupportedOp", *(n for w in writers for n in w.support_classes)})
    classes: list[ClassDef] = []
    by_height: dict[int, list[Instance]] = {}
    for inst in instances:
        if inst.op is not None and inst.op.attrs.get("absent"):
            continue
        by_height.setdefault(inst.height, []).append(inst)
    for height in sorted(by_height):
        pending = []
        for inst in by_height[height]:
            w = inst.writer
            inst.members = [(n, inst.children[n].code if isinstance(c, SubCellRef) else c) for n, c, _ in w.members]
            inst.checkpoint = list(w.checkpoint)
            for member, child in inst.children.items():
                inst.checkpoint += [CheckpointEntry(f"{member}.{e.name}", e.ref) for e in child.checkpoint]
            if inst is root:
                continue
            seq = _sequential(inst)
            if seq is not None:
                inst.code = seq
                continue
            inst.construct = construct_body(w, inst.outputs, comments=False)
            _growing_list(inst)
            pending.append(inst)
        groups: dict[tuple, list[Instance]] = {}
        for inst in pending:
            if _unscoped(inst):  # names come from weights, which differ between instances: compare without them
                key = ("unscoped", len(inst.members), anonymous(inst), tuple(inst.inputs))
            else:
                key = (tuple(n for n, _ in inst.members), tuple(inst.construct.text()), tuple(inst.inputs))
            groups.setdefault(key, []).append(inst)
        for group in groups.values():
            if len(group) == 1 and (named := _named_sequential(group[0])) is not None:
                group[0].code = named  # a chain of layers of its own kind reads best without a class
                continue
            if _unscoped(group[0]):
                unify_member_names(group)
            for part, cls, calls in classes_for(group, class_names, {c.name: _known(c) for c in classes}):
                classes.append(cls)
                for inst, call in zip(part, calls, strict=True):
                    inst.code = call
                    for u in inst.writer.unsupported:
                        u.cls = cls.name
    top = root.writer
    init = [line for n, c in root.members if c is not None for line in member_lines(n, c)]
    support: dict[str, str] = {}
    for w in writers:
        support.update(w.support_classes)
    placeholder = any("placeholder" in w.imports for w in writers)
    body = render_script(class_name, root.inputs, init, construct_body(top, root.outputs, comments=True).text(), classes,
                         support, placeholder)
    for u in top.unsupported:
        u.cls = class_name
    unsupported = [u for w in writers for u in w.unsupported]
    gen = Generated(docstring or f"Generated by mindconverter from {module.name}.", body, class_name,
                    root.checkpoint, unsupported, op_count(func), root.inputs, func.output_names)
    gen.locate_unsupported()
    return gen
