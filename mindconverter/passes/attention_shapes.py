"""Shape facts for fuse-attention: head reshapes whose targets are computed at run time, and the size reads they leave.

Dynamic exports compute reshape targets at run time (`Concat(Gather(Shape(x), 0), ...)`, or the
`mc.dims` materialize-shapes makes of them). `ir.shape_values.contents` says what they hold as dims,
and `ir.symbolic.equal` whether those are the sizes the pattern needs. Such chains read the sizes of
values the fusion removes; `settle_size_reads` finds what dies with the match and moves the rest.
"""

from __future__ import annotations

from typing import Any

from mindconverter.ir import symbolic as S
from mindconverter.ir.core import Op, Value
from mindconverter.ir.dims_op import Dims
from mindconverter.ir.shape_values import all_known, all_static, contents
from mindconverter.ir.types import Sym, Unknown
from mindconverter.passes.pattern import Rewriter

#: Ops that read only the sizes of an operand, never its data.
SIZE_READERS = ("onnx.Shape", "onnx.Size", "mc.dims")


def same_dim(a: Any, b: Any) -> bool:
    """Whether two dims are provably the same size: equal ints, or equal symbolic sizes."""
    return not isinstance(a, Unknown) and not isinstance(b, Unknown) and S.equal(a, b) is True


def size_tree(op: Op, rw: Rewriter, depth: int = 0) -> list[Op] | None:
    """`op` and the ops below it when they only serve size reads: Shape/Size/mc.dims ends, any ops between
    (`k.size(-2)` of a transposed copy of the heads), at most 3 deep; None when some result is used for data."""
    if op.name in SIZE_READERS:
        return [op]
    users = [u for r in op.results for u in rw.users(r)]
    if depth >= 3 or op.dialect == "ir" or not users:
        return None
    out = [op]
    for u in users:
        below = size_tree(u, rw, depth + 1)
        if below is None:
            return None
        out += below
    return out


def feeds(v: Value, user: Op, rw: Rewriter) -> bool:
    """Whether `user` uses `v` once and every other user of `v` only serves size reads (see size_tree)."""
    us = rw.users(v)
    return (any(u is user for u in us) and sum(1 for x in user.operands if x is v) == 1
            and all(u is user or size_tree(u, rw) is not None for u in us))


def target_of(reshape: Op, rw: Rewriter) -> tuple | None:
    """The entries of `reshape`'s target as dims (ints, symbolic sizes), or None when some entry is not known."""
    found = contents(reshape.operands[1], rw.weights)
    return found if all_known(found) else None


def _text(target: tuple) -> str:
    return "[" + ", ".join(str(d) for d in target) + "]"


def target_reason(reshape: Op, want: tuple[Any, ...], rw: Rewriter) -> str | None:
    """Why `reshape`'s target does not give `want` from its input (0 = copy, -1 = inferred), or None."""
    target = target_of(reshape, rw)
    if target is None:
        return "its target shape is computed from more than sizes"
    dims = reshape.operands[0].type.dims
    if len(target) != len(want) or target.count(-1) > 1:
        return f"its target shape is {_text(target)}"
    for i, (t, w) in enumerate(zip(target, want, strict=True)):
        if t == -1 or (t == 0 and not reshape.attr("allowzero", 0) and i < len(dims) and same_dim(dims[i], w)):
            continue
        if not same_dim(t, w):
            return f"its target shape is {_text(target)}"
    return None


def copies_dims_from(reshape: Op, target: tuple, first: int) -> bool:
    """Whether a 0 at position >= `first` of the target copies an input dim (allowzero = 0)."""
    return not reshape.attr("allowzero", 0) and any(t == 0 for t in target[first:])


def rebuilt_target(target: tuple, like: Value) -> tuple[list, bool] | None:
    """mc.dims entries giving `target` from the sizes of `like` (static: (ints, False)), or None when it cannot."""
    if all_static(target):
        return list(target), False
    names = set().union(*(S.free_symbols(d) for d in target))
    if like.type.dims is None or any(Sym(n) not in like.type.dims for n in names):
        return None
    return [d if isinstance(d, int) else str(d) for d in target], True


def settle_size_reads(root: Op, matched: list[Op], kept: list[Value], rw: Rewriter) -> tuple[list[Op], list] | str:
    """(ops that die with `matched`, [(mc.dims op, operand index, new operand)]), or why the size reads cannot be settled.

    `root` is the matched op whose result the fused op replaces: reads of its sizes stay as they are.
    An op dies when every user of its results is matched or dies (reshape targets, the Shape/mc.dims
    reading a removed value); producers of `kept` values (the fused op's operands) and constants never die.
    Any other op reading the sizes of a removed value must be an mc.dims without `bind`, and one of
    `kept` must carry every size it reads there: it then reads them from that value.
    """
    gone = {id(o) for o in matched}
    keep = {id(v.op) for v in kept if v is not None and v.op is not None}
    dying: dict[int, Op] = {}
    frontier = [x.op for o in matched for x in o.operands if x is not None and x.op is not None]
    while frontier:
        p = frontier.pop()
        if id(p) in gone or id(p) in dying or id(p) in keep or p.name in ("ir.const", "ir.param"):
            continue
        if all(id(u) in gone or id(u) in dying for r in p.results for u in rw.users(r)):
            dying[id(p)] = p
            frontier += [x.op for x in p.operands if x is not None and x.op is not None]
    moves = []
    for o in matched:
        for r in o.results if o is not root else ():
            for u in rw.users(r):
                tree = [] if id(u) in gone or id(u) in dying else size_tree(u, rw) or [u]
                read = {id(r)} | {id(x) for t in tree if t.name not in SIZE_READERS for x in t.results}
                for t in tree:
                    if t.name not in SIZE_READERS:
                        dying.setdefault(id(t), t)  # it serves only the reads moved below
                        continue
                    move = None if id(t) in dying else _moved_read(t, read, kept)
                    if move is None and id(t) not in dying:
                        return f"the sizes of the fused {o.op_type} {o.loc_name} are also read by '{t.name}' {t.loc_name}"
                    moves += move or []
    return list(dying.values()), moves


def _moved_read(reader: Op, read: set[int], kept: list[Value]) -> list | None:
    """[(reader, i, w)]: the operands of an mc.dims that are removed values (ids in `read`) moved to a kept value w
    having the sizes it reads there."""
    if reader.name != "mc.dims" or reader.attrs.get("bind"):
        return None
    spec = Dims.of(reader)
    try:
        sources = spec.sources([x.type if x is not None else None for x in reader.operands])
    except ValueError:
        return None
    out = []
    for i, x in enumerate(reader.operands):
        if id(x) not in read:
            continue
        needed = [Sym(name) for name, (j, _) in sources.items() if j == i]
        w = next((k for k in kept if k is not None and k.type.dims is not None
                  and all(s in k.type.dims for s in needed)), None)
        if w is None:
            return None
        out.append((reader, i, w))
    return out


__all__ = ["SIZE_READERS", "copies_dims_from", "feeds", "rebuilt_target", "same_dim", "settle_size_reads",
           "target_of", "target_reason"]
