"""materialize-shapes: shape operands computed at run time become `mc.dims` (sizes read off tensors), so the shape arithmetic dies."""

from __future__ import annotations

import numpy as np

from mindconverter.ir import symbolic as S
from mindconverter.ir.core import Block, Builder, Func, Module, Op, Value
from mindconverter.ir.dialect import create
from mindconverter.ir.shape_values import all_known, all_static, contents
from mindconverter.ir.types import DType, Sym
from mindconverter.passes.fold_constants import protected_ops
from mindconverter.passes.manager import PassContext, register_pass

#: Per ONNX op, the inputs that are shapes, sizes, axes or counts (read as numbers by the emitters).
SHAPE_OPERANDS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2),
    "Slice": (1, 2, 3, 4), "Pad": (1, 3), "Split": (1,), "TopK": (1,), "OneHot": (1,),
    "Squeeze": (1,), "Unsqueeze": (1,), "Resize": (3,), "CenterCropPad": (1,),
}

#: How far back a chain is searched for the tensors whose sizes it reads.
_MAX_DEPTH = 64


def _shape_reads(v: Value) -> list[Op]:
    """The Shape/Size ops of run-time values that `v`'s chain reads, nearest first."""
    seen: set[int] = set()
    out: list[Op] = []
    frontier = [v]
    for _ in range(_MAX_DEPTH):
        nxt = []
        for u in frontier:
            op = u.op
            if op is None or id(op) in seen:
                continue
            seen.add(id(op))
            if op.name in ("onnx.Shape", "onnx.Size"):
                if op.operands[0] is not None and not _is_known(op.operands[0]):
                    out.append(op)
                continue
            nxt += [w for w in op.operands if w is not None]
        frontier = nxt
        if not frontier:
            break
    return out


def _symbolic(v: Value, module: Module, cache: dict, protected: set[Op]) -> tuple[list[Value], list, list] | None:
    """(carriers, dims, bind) giving `v`'s contents from the sizes of carriers, or None when that cannot be said.

    Static contents give no carriers (the caller makes a constant), except for a protected chain (see
    fold_constants.protected_ops: a weight's positions taken from a static export's sequence length),
    whose sizes are read at run time by position.
    """
    c = contents(v, module.weights, cache)
    if not all_known(c):
        return None
    reads = _shape_reads(v)
    if all_static(c):
        return _positional(v, module, reads) if v.op in protected else ([], list(c), [])
    func_args = _func_args(v)
    candidates = list(dict.fromkeys([op.operands[0] for op in reads] + func_args))
    carriers: list[Value] = []
    for name in sorted(set().union(*(S.free_symbols(d) for d in c))):
        carrier = next((x for x in candidates if x.type.dims is not None and Sym(name) in x.type.dims), None)
        if carrier is None:
            return None
        if carrier not in carriers:
            carriers.append(carrier)
    return carriers, [_text(d) for d in c], []


def _positional(v: Value, module: Module, reads: list[Op]) -> tuple[list[Value], list, list] | None:
    """Contents in terms of fresh symbols standing for every dim the chain reads (the real dims are restored)."""
    if not reads:
        return None
    carriers = list(dict.fromkeys(op.operands[0] for op in reads))
    saved = {x: x.type for x in carriers}
    names: dict[str, tuple[int, int]] = {}
    try:
        for i, x in enumerate(carriers):
            if x.type.dims is None:
                return None
            dims = []
            for axis in range(len(x.type.dims)):
                name = f"s{i}_{axis}"
                names[name] = (i, axis)
                dims.append(Sym(name))
            x.type = x.type.with_dims(tuple(dims))
        c = contents(v, module.weights, {})
    finally:
        for x, t in saved.items():
            x.type = t
    if not all_known(c) or all_static(c):
        return None
    used = sorted(set().union(*(S.free_symbols(d) for d in c)))
    kept = list(dict.fromkeys(carriers[names[n][0]] for n in used))
    bind = [[n, kept.index(carriers[names[n][0]]), names[n][1]] for n in used]
    return kept, [_text(d) for d in c], bind


def _text(d: object) -> int | str:
    return d if isinstance(d, int) else str(d)


def _func_args(v: Value) -> list[Value]:
    block = v.owner if isinstance(v.owner, Block) else v.owner.parent if v.owner is not None else None
    while block is not None:
        parent = block.parent
        if isinstance(parent, Func):
            return list(parent.args)
        block = parent.parent if isinstance(parent, Op) else None
    return []


def _is_known(v: Value) -> bool:
    return v.op is not None and v.op.name in ("ir.const", "ir.param")


@register_pass("materialize-shapes")
def materialize_shapes(module: Module, ctx: PassContext) -> bool:
    """Replace each shape-like operand computed at run time whose entries are known sizes by an `mc.dims`.

    1. Shape-like operands are listed per op in SHAPE_OPERANDS (Reshape's shape, Slice's starts/ends/
       axes/steps, Pad's pads, Range's bounds, TopK's k, ...); only int64 ones are replaced.
    2. The entries come from `ir.shape_values.contents`: every entry must be an int or an expression
       of symbols, and each symbol a plain dim of a tensor the chain reads (its Shape inputs) or of a
       function argument; those tensors become the `mc.dims` operands.
    3. Static entries surviving fold-constants (the indices of a weight it must not truncate) are read
       at run time by position (`bind`), so the network follows its input's sizes.
    4. The chain it replaces is left for `dce`; operands that are data (a graph input) stay.
    """
    changed = False
    for func in module.funcs:
        changed |= _materialize(func, module, ctx)
    return changed


def _materialize(func: Func, module: Module, ctx: PassContext) -> bool:
    changed = False
    cache: dict = {}
    protected = protected_ops(func)
    made: dict[tuple, Value] = {}  # (id of value, id of block, loc of the user) -> its replacement
    keep_alive: list[Value] = []  # the cache and `made` are keyed by ids
    for op in list(func.walk()):
        positions = SHAPE_OPERANDS.get(op.op_type) if op.dialect == "onnx" else None
        for i in positions or ():
            v = op.operands[i] if i < len(op.operands) else None
            if v is None or _is_known(v) or v.type.dtype != DType.I64 or v.type.rank not in (0, 1):
                continue
            if v.op is not None and v.op.name == "mc.dims":
                continue
            key = (id(v), id(op.parent), op.loc)  # one per source node: outlining moves it with its user
            if key not in made:
                found = _symbolic(v, module, cache, protected)
                if found is None:
                    continue
                carriers, dims, bind = found
                b = Builder.before(op)
                if not carriers:
                    array = np.array(dims, dtype=np.int64).reshape(() if v.type.rank == 0 else (-1,))
                    made[key] = b.const(array, module.weights, op.loc)
                else:
                    attrs: dict = {"dims": dims}
                    if bind:
                        attrs["bind"] = bind
                    if v.type.rank == 0:
                        attrs["scalar"] = True
                    made[key] = create(b, "mc.dims", carriers, op.loc, **attrs).result
                keep_alive.append(v)
                ctx.log.debug("materialize-shapes: input %d of %s (%s) is %s", i, op.name, op.loc_name, dims)
            op.operands[i] = made[key]
            changed = True
    return changed


__all__ = ["SHAPE_OPERANDS", "materialize_shapes"]
