"""Class lifting: cells with the same structure become one `nn.Cell` class, with the hyper-parameters
that differ between instances as constructor arguments."""

from __future__ import annotations

import os
import re

import attrs

from mindconverter.backend.calls import Call, Code, Comprehension, Step, is_call_list, literal
from mindconverter.backend.defaults import DEFAULTS, POSITIONAL
from mindconverter.backend.generated import CheckpointEntry
from mindconverter.backend.inline import Body
from mindconverter.backend.kind_names import class_word
from mindconverter.backend.naming import Namer
from mindconverter.backend.statements import CellWriter
from mindconverter.ir.core import Op

_MISSING = object()
#: In `known` (a generated class's keyword defaults), the names of its positional parameters: an argument
#: lifted out of `Layer(8)` in `nn.CellList([Layer(8), Layer(12)])` is named after Layer's parameter.
POSITIONAL_KEY = "*positional"


@attrs.define(eq=False)
class Instance:
    """One mc.cell (or the top level): its writer, its place in the tree, and, once settled, its code."""

    op: Op | None
    writer: CellWriter | None
    inputs: list[str]
    outputs: list[str]
    children: dict[str, Instance]
    height: int
    code: Call | None = None  # the constructor call in the parent (None: an absent optional member)
    checkpoint: list[CheckpointEntry] = attrs.field(factory=list)
    members: list[tuple[str, Call | None]] = attrs.field(factory=list)
    construct: Body | None = None  # settled with the members (see inline.py)


@attrs.define
class Slot:
    """A literal of the members' code that becomes a constructor argument (or stays a literal).

    `kind`: "size" (a layer's positional argument, always passed), "option" (a keyword: its usual
    value is the default), "flag" (whether an optional member exists: False by default), "same" (one
    value wherever it is defined: it joins an argument with those values, else stays a literal).
    """

    name: str
    values: list  # per instance; _MISSING where the instance has no such member
    kind: str = "option"


@attrs.define
class MemberDef:
    """A member of a generated class: `self.<name> = <code>` (None: `self.<name> = None`), only `if <flag>:` when set."""

    name: str
    code: str | None
    flag: str | None = None
    note: str = ""  # a comment explaining the member (see Call.note)


@attrs.define(eq=False)
class ClassDef:
    name: str
    params: list[str]
    defaults: dict[str, object]
    members: list[MemberDef]
    construct: list[str]
    inputs: list[str]
    doc: str


def _tree(value):
    """A constructor call's argument as a tree: ("call", callee, [args], {kw: tree}) / ("list", [trees]) /
    ("lit", value) / ("raw", text), read off the recorded `Call` data."""
    if isinstance(value, Call):
        return ("call", value.callee, [_tree(a) for a in value.args], {k: _tree(v) for k, v in value.kwargs})
    if is_call_list(value):
        return ("list", [_tree(v) for v in value])  # nn.CellList([Layer(8), Layer(12)])
    if isinstance(value, Comprehension):  # [Layer(8 + 4 * i) for i in range(4)]
        return ("comp", _tree(value.element), value.var, _tree(value.count))
    if isinstance(value, Step):  # 8 + 4 * i
        return ("step", _tree(value.start), _tree(value.step), value.var)
    if isinstance(value, Code):
        return ("raw", value.text)
    return ("lit", value)


class _Unmergeable(Exception):
    pass


def _merge(trees: list, slots: list[Slot], name: str, force: bool = False, known: dict | None = None,
           size: bool = False):
    """A template tree for `trees` (None entries: absent instances); differing literals become slots.

    With `force` (the members only some instances have), every literal becomes a slot, so that it can
    share an argument with the other members (a downsample's channels are the block's channels).
    `known` gives the keyword defaults of generated classes (calls leave out arguments equal to them).
    """
    present = [t for t in trees if t is not None]
    kinds = {t[0] for t in present}
    if len(kinds) != 1:
        raise _Unmergeable
    kind = kinds.pop()
    if kind == "list":
        if len({len(t[1]) for t in present}) != 1:
            raise _Unmergeable
        return ("list", [_merge([None if t is None else t[1][i] for t in trees], slots, name, force, known, size)
                         for i in range(len(present[0][1]))])
    if kind in ("comp", "step"):  # a comprehension's count, a step's start and size: each may be an argument
        if len({t[2 if kind == "comp" else 3] for t in present}) != 1:
            raise _Unmergeable
        parts = [(1, name), (3, f"num_{name}")] if kind == "comp" else [(1, name), (2, f"{name}_step")]
        merged = {i: _merge([None if t is None else t[i] for t in trees], slots, part, force, known, size)
                  for i, part in parts}
        return (kind, merged[1], present[0][2], merged[3]) if kind == "comp" else (kind, merged[1], merged[2], present[0][3])
    if kind == "raw":
        if len({t[1] for t in present}) != 1:
            raise _Unmergeable
        return present[0]
    if kind == "lit":
        same = len({repr(t[1]) for t in present}) == 1
        if same and not force:
            return present[0]
        values = [t[1] for t in present]
        if not force and all(isinstance(v, tuple) for v in values) and len({len(v) for v in values}) == 1:
            # A shape that differs in some dims, (1, 16, 1, 1) and (1, 32, 1, 1): only those dims are
            # arguments, so they can be the class's `out_channels` -> (1, out_channels, 1, 1).
            items = [_merge([None if t is None else ("lit", t[1][i]) for t in trees], slots, name, False, known, size)
                     for i in range(len(values[0]))]
            return ("tuple", items)
        kind = "same" if same else "size" if size else "option"
        slots.append(Slot(name, [(_MISSING if t is None else t[1]) for t in trees], kind))
        return ("slot", len(slots) - 1)
    callees = {t[1] for t in present}
    if len(callees) != 1 or len({len(t[2]) for t in present}) != 1:
        raise _Unmergeable
    callee = callees.pop()
    positional = POSITIONAL.get(callee) or tuple((known or {}).get(callee, {}).get(POSITIONAL_KEY, ()))
    args = [
        _merge([None if t is None else t[2][i] for t in trees], slots,
               positional[i] if i < len(positional) else name, force, known, size=True)
        for i in range(len(present[0][2]))
    ]
    # Keyword order of the instance that spells out the most of them.
    keys = list(max((list(t[3]) for t in present), key=len))
    keys += [k for t in present for k in t[3] if k not in keys]
    kwargs = {}
    for k in keys:
        defaults = DEFAULTS.get(callee) or (known or {}).get(callee, {})
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
        kwargs[k] = _merge(subtrees, slots, k, force, known)
    return ("call", callee, args, kwargs)


def _render(tree, names: dict[int, str]) -> str:
    kind = tree[0]
    if kind == "lit":
        return literal(tree[1])
    if kind == "raw":
        return tree[1]
    if kind == "slot":
        return names[tree[1]]
    if kind == "list":
        return f"[{', '.join(_render(t, names) for t in tree[1])}]"
    if kind == "comp":
        return f"[{_render(tree[1], names)} for {tree[2]} in range({_render(tree[3], names)})]"
    if kind == "step":
        return f"{_render(tree[1], names)} + {_render(tree[2], names)} * {tree[3]}"
    if kind == "tuple":
        items = [_render(t, names) for t in tree[1]]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    args = [_render(a, names) for a in tree[2]] + [f"{k}={_render(v, names)}" for k, v in tree[3].items()]
    return f"{tree[1]}({', '.join(args)})"


def _compatible(a: list, b: list) -> bool:
    return all(x is _MISSING or y is _MISSING or repr(x) == repr(y) for x, y in zip(a, b, strict=True))


def _templates(instances: list[Instance], slots: list[Slot], known: dict | None) -> list[tuple[str, object, int | None]]:
    """Per member: (name, code template or None, the flag slot of an optional member)."""
    templates: list[tuple[str, object, int | None]] = []
    for j, (mname, _) in enumerate(instances[0].members):
        codes = [inst.members[j][1] for inst in instances]
        if all(c is None for c in codes):
            templates.append((mname, None, None))
            continue
        optional = any(c is None for c in codes)
        tree = _merge([None if c is None else _tree(c) for c in codes], slots, mname, optional, known)
        flag = None
        if optional:
            slots.append(Slot(mname, [c is not None for c in codes], "flag"))
            flag = len(slots) - 1
        templates.append((mname, tree, flag))
    return templates


def _share(slots: list[Slot]) -> tuple[list[Slot], dict[int, int], dict[int, str]]:
    """Arguments for the slots: slots with the same values (where both are defined) share one; a "same"
    literal (of an optional member) joins an argument with its value wherever it exists, else stays a literal.

    Returns the arguments, slot -> argument, and slot -> literal text for the slots that stay literals.
    """
    params: list[Slot] = []
    slot_param: dict[int, int] = {}
    fixed: dict[int, str] = {}
    for i, slot in sorted(enumerate(slots), key=lambda item: item[1].kind == "same"):
        forced = slot.kind == "same"
        for p, param in enumerate(params):
            pairs = list(zip(slot.values, param.values, strict=True))
            fits = all(v is _MISSING or (pv is not _MISSING and repr(v) == repr(pv)) for v, pv in pairs)
            if fits or (not forced and _compatible(slot.values, param.values)):
                param.values = [v if v is not _MISSING else pv for v, pv in pairs]
                slot_param[i] = p
                break
        else:
            if forced:
                fixed[i] = literal(next(v for v in slot.values if v is not _MISSING))
                continue
            params.append(Slot(slot.name, list(slot.values), slot.kind))
            slot_param[i] = len(params) - 1
    return params, slot_param, fixed


def _defaults(names: list[str], params: list[Slot]) -> dict[str, object]:
    """Default values: False for flags; an option's usual value; sizes (channel counts...) are always given."""
    defaults: dict[str, object] = {}
    for name, param in zip(names, params, strict=True):
        defined = [v for v in param.values if v is not _MISSING]
        counts: dict[str, int] = {}
        for v in defined:
            counts[repr(v)] = counts.get(repr(v), 0) + 1
        best = max(counts, key=lambda r: counts[r]) if counts else None
        usual = best is not None and counts[best] * 2 > len(param.values) and param.kind != "size"
        if param.kind == "flag":  # whether an optional member exists: off unless asked for
            defaults[name] = False
        elif len(defined) < len(param.values) or usual:
            defaults[name] = next((v for v in defined if repr(v) == best), False)
    return defaults


def _lift(instances: list[Instance], class_name: str, known: dict | None = None,
          reserved: frozenset[str] = frozenset()) -> tuple[ClassDef, list[Call]] | None:
    """One class for `instances` (same construct, same members) and each instance's constructor call; None if impossible.

    Argument names never shadow a name in `reserved` (the script's classes), nor `self`.
    """
    slots: list[Slot] = []
    try:
        templates = _templates(instances, slots, known)
    except _Unmergeable:
        return None
    params, slot_param, fixed = _share(slots)
    namer = Namer({"self", class_name, *reserved, *(known or {})})
    names = [namer(p.name, "arg") for p in params]
    defaults = _defaults(names, params)
    order = [i for i, n in enumerate(names) if n not in defaults] + [i for i, n in enumerate(names) if n in defaults]
    slot_names = {i: names[p] for i, p in slot_param.items()} | fixed
    notes = [next((c.note for c in codes if c is not None), "") for codes in zip(*(
        [c for _, c in inst.members] for inst in instances), strict=True)]
    members = [MemberDef(mname, None if tree is None else _render(tree, slot_names),
                         None if flag is None else slot_names[flag], note)
               for (mname, tree, flag), note in zip(templates, notes, strict=True)]
    calls = []
    required = sum(1 for n in names if n not in defaults)
    for k in range(len(instances)):
        args, kwargs = [], {}
        for i in order:  # once an argument is left out, later ones are keywords (defaults always are)
            name, value = names[i], params[i].values[k]
            if name not in defaults and required <= 2:
                args.append(value)
            elif name not in defaults:  # by keyword when there are more than two, to say which is which
                kwargs[name] = value
            elif value is not _MISSING and repr(value) != repr(defaults[name]):
                kwargs[name] = value
        calls.append(Call(class_name, args, kwargs))
    cls = ClassDef(class_name, [names[i] for i in order], defaults, members, instances[0].construct.text(),
                   instances[0].inputs, _class_doc(instances))
    return cls, calls


def _class_doc(instances: list[Instance]) -> str:
    paths = [inst.op.attrs["name"] for inst in instances if inst.op is not None]
    if not paths:
        return ""
    if len(paths) == 1:
        return f"{paths[0]} in the source model."
    return f"{paths[0]} ... {paths[-1]} in the source model ({len(paths)} instances)."


def _class_base_name(inst: Instance) -> str:
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
        camel = "".join(class_word(w) for w in words if w)
        return camel if camel.lower().endswith("block") else f"{camel}Block"
    # One of several numbered scopes (Keras `block_1`, `block_2`, Caffe `fire2`): the class is the kind, `Block`.
    leaf = re.sub(r"_?\d+[a-z]?$", "", leaf) or leaf
    words = re.split(r"[^0-9A-Za-z]+", leaf)
    return "".join(class_word(w) for w in words if w) or "Block"


def classes_for(group: list[Instance], class_names: Namer, known: dict | None = None) -> list[tuple[list[Instance], ClassDef, list[Call]]]:
    """Classes for instances with the same construct: one if their members' hyper-parameters can be lifted,
    else one per kind of members (layer types per member), else one per instance."""
    name = class_names(_class_base_name(group[0]), "Block")
    reserved = frozenset(class_names.taken)
    lifted = _lift(group, name, known, reserved)
    if lifted is not None:
        return [(group, *lifted)]
    by_kind: dict[tuple, list[Instance]] = {}
    for inst in group:
        kinds = tuple(None if c is None else c.callee for _, c in inst.members)
        by_kind.setdefault(kinds, []).append(inst)
    out = []
    for k, part in enumerate(by_kind.values()):
        own = name if k == 0 else class_names(_class_base_name(part[0]), "Block")
        lifted = _lift(part, own, known, reserved) if len(by_kind) > 1 else None
        if lifted is not None:
            out.append((part, *lifted))
            continue
        for j, inst in enumerate(part):
            single = own if j == 0 else class_names(_class_base_name(inst), "Block")
            cls, calls = _lift([inst], single, known, reserved)
            out.append(([inst], cls, calls))
    return out


def anonymous(inst: Instance) -> tuple[str, ...]:
    """`construct` with member names replaced by their positions (`self.@0`)."""
    return inst.construct.anonymous([n for n, _ in inst.members])


def unify_member_names(group: list[Instance]) -> None:
    """Give the members of cells found by repetition one name per position across the group.

    Their names come from the source's weight names (`conv1` in one block, `conv2` in the next,
    `fc6`/`fc7`); where they differ, the shared part without its number is used (`conv`, `fc`).
    Statements, sub-cells and checkpoint keys are renamed with them.
    """
    namer = Namer()
    final = []
    for j in range(len(group[0].members)):
        names = [inst.members[j][0] for inst in group]
        base = names[0] if len(set(names)) == 1 else re.sub(r"[\d_]+$", "", os.path.commonprefix(names))
        final.append(namer(base or "layer", "layer"))
    for inst in group:
        old = [n for n, _ in inst.members]
        if old == final:
            continue
        mapping = dict(zip(old, final, strict=True))
        inst.members = [(mapping[n], c) for n, c in inst.members]
        inst.construct.rename_members(mapping)
        for u in inst.writer.unsupported:
            u.member = mapping.get(u.member, u.member)
        inst.children = {mapping.get(k, k): v for k, v in inst.children.items()}
        renamed = []
        for e in inst.checkpoint:
            head, dot, rest = e.name.partition(".")
            renamed.append(CheckpointEntry(mapping.get(head, head) + dot + rest, e.ref))
        inst.checkpoint = renamed

