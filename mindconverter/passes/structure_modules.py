"""structure-modules: group ops into mc.cell regions that mirror the source model's module hierarchy."""

from __future__ import annotations

from collections.abc import Hashable

import attrs

from mindconverter.ir.core import Block, Builder, Func, Module, Op, Value
from mindconverter.ir.scopes import SourceScopes, op_path
from mindconverter.ir.uses import Uses, ancestor, place
from mindconverter.ir.uses import inside as in_block
from mindconverter.passes.manager import PassContext, register_pass
from mindconverter.passes.structure_repeats import Instance, defined_values, external_values, plan_repeats

Path = tuple[str, ...]

def scope_path(loc_name: str) -> Path:
    """The module path of one source node name on its own (see ir/scopes.py): `/layer1/layer1.0/conv1/Conv` -> ("layer1", "0", "conv1")."""
    return SourceScopes.of([loc_name]).path(loc_name)


def _is_structural(op: Op) -> bool:
    return op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield")


def _outline(uses: Uses, block: Block, ops: list[Op], name: str) -> Op | None:
    """Move `ops` (in `block`, program order) into a new mc.cell named `name`; None when they cannot move.

    The cell takes the place of the last op; this is valid when no op outside the group uses a result
    of the group before that place. The users of the group's values come from the use index `uses`
    (kept current here), so outlining costs the group and its uses, not the whole block.
    """
    members = set(ops)
    inside = defined_values(ops)
    inputs = external_values(ops, inside)  # weights and constants stay outside; the region sees them
    last = block.ops.index(ops[-1])
    places = {}
    for v in inside:
        for user in uses.users(v):
            top = ancestor(user, block)
            if top is not None and top not in members:
                places[user] = place(user, block)
    outputs: dict[Value, None] = {}
    for user in sorted(places, key=places.__getitem__):  # in program order: the cell's results follow first use
        for v in user.operands:
            if v is not None and v in inside:
                if places[user][0] < last:
                    return None  # used between the group's ops: the group is not contiguous in the dataflow
                outputs.setdefault(v)
    if not outputs:
        return None
    args = [Value(v.type, None) for v in inputs]
    region = Block(args=args)
    for op in ops:
        block.ops.remove(op)
        op.parent = region
        region.ops.append(op)
    uses.replace(dict(zip(inputs, args, strict=True)), where=lambda op: in_block(op, region))
    outs = list(outputs)
    Builder(region, uses=uses).create("ir.yield", outs)
    cell = Builder(block, last - len(ops) + 1, uses).create(
        "mc.cell", list(inputs), [v.type for v in outs], {"name": name}, (), [region]
    )
    mapping = dict(zip(outs, cell.results, strict=True))
    for v, r in mapping.items():
        r.name = v.name
    uses.replace(mapping, where=lambda op: not in_block(op, region))
    return cell


# ----------------------------------------------------------------------------------------------
# optional sub-modules (ResNet's downsample): a structural skeleton with one sub-cell bypassed


def _leaf(op: Op, base: Path, scopes: SourceScopes | None) -> str:
    if op.name == "mc.cell":
        return op.attrs["name"].split(".")[-1]
    path = op_path(op, scopes)
    return ".".join(path[len(base):]) if path[: len(base)] == base else ".".join(path)


class Skeletons:
    """Skeletons computed once per cell: in a skeleton a nested cell stands as the number of its own.

    So a skeleton is as long as its cell's own ops, and comparing or hashing it costs that much.
    `forget(cell)` after changing a cell (the cells around it change too).
    """

    def __init__(self, scopes: SourceScopes | None = None) -> None:
        self.scopes = scopes
        self._of: dict[Op, int] = {}
        self._numbers: dict[Hashable, int] = {}

    def number(self, cell: Op) -> int:
        """The number of `cell`'s skeleton: cells with equal skeletons have equal numbers."""
        if cell not in self._of:
            self._of[cell] = self._numbers.setdefault(skeleton(cell, scopes=self.scopes, memo=self), len(self._numbers))
        return self._of[cell]

    def forget(self, cell: Op | Func | None) -> None:
        while isinstance(cell, Op):
            self._of.pop(cell, None)
            cell = cell.parent.parent if cell.parent is not None else None


def skeleton(cell: Op, bypass: Op | None = None, scopes: SourceScopes | None = None, memo: Skeletons | None = None) -> Hashable:
    """The structure of a cell: op names, member names and dataflow; no attribute values or shapes.

    With `bypass` (a sub-cell of one input and one output), that sub-cell is treated as the identity.
    Skeletons compare equal only when made with the same `memo` (nested cells are numbered by it).
    """
    memo = Skeletons(scopes) if memo is None else memo
    region = cell.regions[0]
    base = tuple(cell.attrs["name"].split("."))
    ref: dict[Value, Hashable] = {a: ("arg", i) for i, a in enumerate(region.args)}
    items = []
    k = 0
    for op in region.ops:
        if op is bypass:
            ref[op.results[0]] = ref.get(op.operands[0], ("ext",))
            continue
        operands = tuple(
            None if v is None else ref.get(v, ("ext", v.op.name if v.op is not None else "arg")) for v in op.operands
        )
        nested = memo.number(op) if op.name == "mc.cell" else None
        items.append((op.name, _leaf(op, base, memo.scopes), operands, len(op.results), nested, bool(op.attrs.get("absent"))))
        for j, r in enumerate(op.results):
            ref[r] = ("op", k, j)
        k += 1
    return tuple(items)


def _add_absent_sub_cells(cells: list[Op], scopes: SourceScopes | None = None) -> bool:
    """Give cells that match another cell minus one optional sub-cell an `absent` copy of that sub-cell.

    torchvision's Bottleneck has a `downsample` only in the first block of each stage; with the absent
    copies, all blocks share one structure (and one class, whose `downsample` may be None). Items of
    containers (`layer1.1`) are never optional: a one-block `nn.Sequential` is not a longer one missing a block.
    """
    memo = Skeletons(scopes)
    by_skeleton: dict[Hashable, list[Op]] = {}
    for c in cells:
        by_skeleton.setdefault(skeleton(c, memo=memo), []).append(c)
    changed = False
    done: set[tuple[int, str]] = set()
    for a in cells:
        for sub in a.regions[0].ops:
            if sub.name != "mc.cell" or len(sub.operands) != 1 or len(sub.results) != 1 or sub.attrs.get("absent"):
                continue
            if sub.operands[0] is None or sub.operands[0].owner is None:
                continue
            leaf = sub.attrs["name"].split(".")[-1]
            if leaf.isdigit():
                continue  # an item of a container (`layer2 = nn.Sequential(block)`): never an optional member
            key = skeleton(a, bypass=sub, memo=memo)
            for b in by_skeleton.get(key, []):
                sub.attrs["optional"] = True
                changed = True
                if (id(b), leaf) not in done:
                    done.add((id(b), leaf))
                    _insert_absent(a, sub, b)
                    memo.forget(b)
    return changed


def _insert_absent(a: Op, sub: Op, b: Op) -> None:
    """Insert into `b` an absent copy of `a`'s sub-cell `sub`, at the same place and wired the same way."""
    ra, rb = a.regions[0], b.regions[0]
    pos = ra.ops.index(sub)
    # Map a's values (with sub bypassed) to b's values position by position.
    mapping: dict[Value, Value] = dict(zip(ra.args, rb.args, strict=True))
    a_ops = [op for op in ra.ops if op is not sub]
    for oa, ob in zip(a_ops, rb.ops, strict=True):
        mapping.update(zip(oa.results, ob.results, strict=True))
    source = sub.operands[0]
    vb = mapping.get(source)
    if vb is None:
        return
    arg = Value(vb.type, None)
    inner = Block(args=[arg])
    Builder(inner).create("ir.yield", [arg])
    leaf = sub.attrs["name"].split(".")[-1]
    absent = Builder(rb, pos).create(
        "mc.cell", [vb], [vb.type], {"name": f"{b.attrs['name']}.{leaf}", "absent": True, "optional": True}, (), [inner]
    )
    # The users of sub's result in a: the same operand slots in b now read the absent cell.
    for oa, ob in zip(a_ops, [op for op in rb.ops if op is not absent], strict=True):
        for i, v in enumerate(oa.operands):
            if v is sub.results[0]:
                ob.operands[i] = absent.results[0]


#: The name of the variadic parameter of a cell that concatenates its inputs at its entrance (`*features`).
VARARGS = "features"


def _entrance_concat(cell: Op) -> Op | None:
    """The onnx.Concat of all of a cell's inputs, in order, when they are used by nothing else (DenseNet's layers)."""
    region = cell.regions[0]
    args = list(region.args)
    if not args:
        return None
    users = [op for op in region.walk() if any(v in args for v in op.operands if v is not None)]
    if len(users) != 1 or users[0].name != "onnx.Concat" or list(users[0].operands) != args:
        return None
    return users[0]


def _variadic_entrances(cells: list[Op], scopes: SourceScopes | None = None) -> bool:
    """Cells that differ only in how many inputs they concatenate at their entrance take them as `*features`.

    torchvision's DenseNet layer k concatenates the k features before it (`torch.cat(inputs, 1)`).
    Such cells (at least one with two inputs or more) get the attribute `varargs` (the backend writes
    `construct(self, *features)` and `ops.concat(features, axis=...)`); a one-input cell with the same
    structure after the concat (the first layer of a block; an exporter may have dropped its one-input
    concat) gets a one-input concat and is marked the same way, so all share one class.
    """
    memo = Skeletons(scopes)
    entrances = {c: op for c in cells if not c.attrs.get("absent") and (op := _entrance_concat(c)) is not None}
    shapes = {skeleton(c, bypass=op, memo=memo): op for c, op in entrances.items() if len(op.operands) >= 2}
    changed = False
    for cell in cells:
        region = cell.regions[0]
        if cell.attrs.get("absent") or cell.attrs.get("varargs") or not region.args:
            continue
        if cell in entrances:
            if skeleton(cell, bypass=entrances[cell], memo=memo) in shapes:
                cell.attrs["varargs"] = VARARGS
                changed = True
            continue
        model = shapes.get(skeleton(cell, memo=memo)) if len(region.args) == 1 else None
        if model is None:
            continue
        arg = region.args[0]
        concat = Builder(region, 0).create("onnx.Concat", [arg], [arg.type], dict(model.attrs), model.loc)
        for inner in region.walk():
            if inner is not concat:
                inner.operands = [concat.results[0] if v is arg else v for v in inner.operands]
        memo.forget(cell)
        cell.attrs["varargs"] = VARARGS
        changed = True
    return changed


def _cells(func: Func) -> list[Op]:
    return [op for op in func.walk() if op.name == "mc.cell"]


def _stages(instances: list[Instance]) -> list[list[Instance]]:
    """A run of blocks split before each block (but the first) with a projection shortcut.

    A projection changes the tensor's shape (channels, stride), which is where torchvision's
    `_make_layer` starts a new stage: ResNet's `layer1` ... `layer4`.
    """
    parts: list[list[Instance]] = []
    for i, inst in enumerate(instances):
        if i == 0 or inst.shortcut:
            parts.append([])
        parts[-1].append(inst)
    return parts


def _outline_repeats(
    func: Func, ctx: PassContext, block: Block | None = None, prefix: str = "", classes: dict | None = None,
    uses: Uses | None = None,
) -> bool:
    """Outline the repeated units of an unscoped function as mc.cell regions (see structure_repeats).

    Names: a run of consecutive instances is split into stages (`_stages`); a stage of several
    instances becomes a cell `stage<k>` holding `stage<k>.0`, `stage<k>.1`, ... (the backend writes it
    as an nn.SequentialCell), a stage of one instance is the cell `stage<k>`, and an isolated
    instance is `block<k>` (also every instance when one run is the whole function, which is never
    outlined as a single cell). `cls` is the unit's class name; a projection shortcut becomes the
    sub-cell `<name>.downsample`. Each instance is then structured the same way inside (`prefix`
    is its path): a unit of maxpool + two Fire modules holds its Fire modules as cells.
    """
    block = func.body if block is None else block
    classes = {} if classes is None else classes
    uses = Uses(func) if uses is None else uses
    runs = plan_repeats(block, classes)
    total = sum(1 for op in block.ops if _is_structural(op))
    changed = False
    stage = count = 0
    for run in runs:
        staged = len(run.instances) >= 2 and sum(len(inst.ops) for inst in run.instances) < total
        parts = _stages(run.instances) if staged else [[inst] for inst in run.instances]
        for part in parts:
            if staged:
                stage += 1
                names = [f"{prefix}stage{stage}.{j}" for j in range(len(part))] if len(part) >= 2 else [f"{prefix}stage{stage}"]
            else:
                count += 1
                names = [f"{prefix}block{count}"]
            cells = []
            for inst, name in zip(part, names, strict=True):
                cell = _outline(uses, block, inst.ops, name)
                if cell is None:
                    ctx.log.debug("structure-modules: repeated unit %s is not contiguous; left flat", name)
                    continue
                cell.attrs["cls"] = run.cls
                if inst.shortcut:
                    _outline(uses, cell.regions[0], inst.shortcut, f"{name}.downsample")
                _outline_repeats(func, ctx, cell.regions[0], f"{name}.", classes, uses)
                cells.append(cell)
                changed = True
            if len(part) >= 2 and len(cells) == len(part):
                _outline(uses, block, cells, f"{prefix}stage{stage}")
    return changed


#: torch's container classes: their name says nothing of the block (`Sequential` x3), so the scope names it.
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})


@attrs.define
class StructureOptions:
    """Options of structure-modules."""

    module_classes: dict[str, str] = attrs.field(factory=dict, converter=lambda v: dict(v or {}), metadata={
        "help": "module path -> source class name, for class names (the torch API fills it)"})


@register_pass("structure-modules", options=StructureOptions)
def structure_modules(module: Module, ctx: PassContext) -> bool:
    """Group the ops of each source module scope (torch `/layer1/layer1.0/conv1/Conv`, TF `block_1_expand/Conv2D`) into an mc.cell.

    Scopes are read by `ir/scopes.py`: torch's nested module paths; for TF/Keras names the model-name
    prefix, Keras' call suffix and TF's op sub-scopes are dropped, and Keras block names are split
    (`block_1_expand` is layer `expand` of block `block_1`, `conv2_block1_1_conv` is `conv2.block1.conv1`).

    1. A scope becomes a cell when at least two ops belong to it (a one-op scope is a layer of its parent).
    2. Scopes are outlined innermost first; a scope whose ops are not contiguous in the dataflow
       (an outside op uses its results between its ops) is left to its parent.
    3. A cell that equals another cell minus one single-input sub-cell (ResNet's `downsample`) gets an
       `absent` copy of it, so both share one class; the backend makes such members optional.
    4. Cells keep their source path in `name` (`layer1.0`). The option `module-classes` (path -> class
       name, e.g. from the torch module: {"layer1.0": "Bottleneck"}) sets their `cls` (not torch's containers,
       `Sequential`, `ModuleList`: they say nothing of the block); without it the backend names classes after the scopes.
    5. A function whose ops carry no scope at all (other exporters, stripped node names) is
       structured by repetition instead (`_outline_repeats`, `structure_repeats`): repeated units
       become cells of one class each. Only then: where the source has scopes they are the
       structure its authors wrote, and guessing blocks among them would contradict their names.
    """
    changed = False
    classes = ctx.options_of(StructureOptions).module_classes
    for func in module.funcs:
        if any(op.name == "mc.cell" for op in func.body.ops):
            continue  # already structured
        naming = SourceScopes.of(name for op in func.walk() if _is_structural(op) for name in op.loc)
        paths: dict[Op, Path] = {op: op_path(op, naming) for op in func.body.ops if _is_structural(op)}
        if not any(paths.values()):
            if _outline_repeats(func, ctx):
                changed = True
                _add_absent_sub_cells(_cells(func), naming)
            continue
        counts: dict[Path, int] = {}
        for p in paths.values():
            # A TF path ends with the Keras layer: its ops (a Dense and its softmax, a BatchNorm as
            # Mul + Add) are one layer of the enclosing block, not a module of their own.
            for n in range(1, len(p) + (naming.style != "tf")):
                counts[p[:n]] = counts.get(p[:n], 0) + 1
        scopes = sorted((p for p, c in counts.items() if c >= 2), key=lambda p: (-len(p), p))
        uses = Uses(func)
        members: dict[Path, list[Op]] = {}
        depth = -1
        for scope in scopes:
            if len(scope) != depth:
                # The scopes of one depth hold disjoint ops: list them all in one walk of the body, after
                # the deeper scopes became cells (outlining one of them leaves the others' lists valid).
                depth, members = len(scope), {}
                for op in func.body.ops:
                    if len(paths.get(op, ())) >= depth:
                        members.setdefault(paths[op][:depth], []).append(op)
            ops = members.get(scope, [])
            if len(ops) < 2 and not (ops and ops[0].name == "mc.cell"):
                continue  # one layer: a member of its parent (a module wrapping one sub-module stays a cell)
            cell = _outline(uses, func.body, ops, ".".join(scope))
            if cell is not None and classes.get(".".join(scope)) not in (None, "", *_CONTAINERS):
                cell.attrs["cls"] = str(classes[".".join(scope)])
            if cell is None:
                ctx.log.debug("structure-modules: scope %s is not contiguous; left to its parent", ".".join(scope))
                continue
            for op in ops:
                paths.pop(op, None)
            paths[cell] = scope
            changed = True
        if changed:
            _add_absent_sub_cells(_cells(func), naming)
            _variadic_entrances(_cells(func), naming)
    return changed
