"""The use index: which ops use each value, built in one walk and kept current by the edits made through it.

A pass that asks "who uses v?" for many values while it changes the IR builds one `Uses` per
function instead of rescanning the function (`users(func)`) after every change, so its work grows
with the function, not with the function times its rewrites:

    uses = Uses(func)                        # one walk (nested regions included)
    uses.only_user(v)                        # no scan: the op using v once, or None
    b = Builder.before(op, uses=uses)        # ops created through b are indexed
    uses.replace({op.result: new})           # rewires the users of op.result: work in its uses
    uses.erase(op)

The index sees the edits made through it: `set_operand`, `replace`, `erase` and Builders given
`uses=`. After editing `op.operands` directly or moving ops by hand, build a new one. `replace` also
indexes the ops that compute the new values when they were created without it.
"""

from __future__ import annotations

from collections.abc import Callable

from mindconverter.ir.core import Block, Func, Op, Value, erase_op


def ancestor(op: Op, block: Block) -> Op | None:
    """The op of `block` that is `op` or holds it in a region; None when `op` is not under `block`."""
    while op.parent is not block:
        owner = op.parent.parent if op.parent is not None else None
        if not isinstance(owner, Op):
            return None
        op = owner
    return op


def inside(op: Op, block: Block) -> bool:
    """Whether `op` is in `block`, directly or in a region of one of its ops."""
    return ancestor(op, block) is not None


def place(op: Op, block: Block) -> tuple[int, ...] | None:
    """Where `op` is under `block`, as indexes (op in `block`, region, op in region, ...); None when it is not.

    Sorting ops by their places gives walk (program) order.
    """
    path: list[int] = []
    while op.parent is not block:
        region = op.parent
        owner = region.parent if region is not None else None
        if not isinstance(owner, Op):
            return None
        path += [region.ops.index(op), owner.regions.index(region)]
        op = owner
    path.append(block.ops.index(op))
    return tuple(reversed(path))


class Uses:
    """The users of every value of a func or block (nested regions included), with the number of operand slots each fills."""

    def __init__(self, root: Func | Block) -> None:
        self._slots: dict[Value, dict[Op, int]] = {}
        for op in root.walk():
            self.add(op)

    # -- questions -------------------------------------------------------------------------------

    def users(self, v: Value) -> list[Op]:
        """The ops using `v`: in program order when the index was built, ops indexed later come last."""
        return list(self._slots.get(v, ()))

    def count(self, v: Value) -> int:
        """How many operand slots hold `v`."""
        return sum(self._slots.get(v, {}).values())

    def only_user(self, v: Value) -> Op | None:
        """The single op using `v` once, or None when it has none, several, or uses it twice."""
        slots = self._slots.get(v)
        if not slots or len(slots) != 1:
            return None
        ((op, n),) = slots.items()
        return op if n == 1 else None

    def indexed(self, op: Op) -> bool:
        """Whether the operands of `op` are in the index (an op without operands has nothing to index)."""
        first = next((v for v in op.operands if v is not None), None)
        return first is None or op in self._slots.get(first, ())

    # -- edits -----------------------------------------------------------------------------------

    def add(self, op: Op) -> None:
        """Index the operands of `op`, a new op (not the ops of its regions: they are indexed as they are created)."""
        for v in op.operands:
            if v is not None:
                slots = self._slots.setdefault(v, {})
                slots[op] = slots.get(op, 0) + 1

    def _drop(self, op: Op) -> None:
        for v in op.operands:
            slots = self._slots.get(v) if v is not None else None
            if slots is not None and op in slots:
                slots[op] -= 1
                if not slots[op]:
                    del slots[op]

    def set_operand(self, op: Op, index: int, value: Value | None) -> None:
        """`op.operands[index] = value`, with the index kept current."""
        old = op.operands[index]
        if old is value:
            return
        if old is not None:
            slots = self._slots[old]
            slots[op] -= 1
            if not slots[op]:
                del slots[op]
        op.operands[index] = value
        if value is not None:
            slots = self._slots.setdefault(value, {})
            slots[op] = slots.get(op, 0) + 1

    def replace(self, mapping: dict[Value, Value], where: Callable[[Op], bool] | None = None) -> int:
        """Replace every use of a key of `mapping` by its value (chains a -> b -> c followed); returns the count.

        With `where`, only the uses by ops for which it is true change (`lambda op: inside(op, region)`).
        """
        count = 0
        for old in mapping:
            new = mapping[old]
            while new in mapping:
                new = mapping[new]
            self._index_new(new)
            for op in self.users(old):
                if where is not None and not where(op):
                    continue
                for i, v in enumerate(op.operands):
                    if v is old:
                        self.set_operand(op, i, new)
                        count += 1
        return count

    def _index_new(self, value: Value) -> None:
        """Index the op computing `value` and the new ops it reads, when they were created without the index."""
        todo = [value.op]
        while todo:
            op = todo.pop()
            if op is None or self.indexed(op):
                continue
            self.add(op)
            todo.extend(v.op for v in op.operands if v is not None)

    def erase(self, op: Op) -> None:
        """Remove `op` (and the ops of its regions) from its block and from the index; its results must be unused."""
        for inner in op.walk():
            if inner is op or _in_regions_of(inner, op):
                self._drop(inner)
        for r in op.results:
            if not self._slots.get(r, True):
                del self._slots[r]
        erase_op(op)


def _in_regions_of(op: Op, owner: Op) -> bool:
    """Whether `op` sits in a region that still belongs to `owner` (a region may have moved to a new op)."""
    block = op.parent
    while block is not None:
        if block.parent is owner:
            return True
        parent = block.parent
        block = parent.parent if isinstance(parent, Op) else None
    return False
