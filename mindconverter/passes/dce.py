"""dce: dead-code elimination."""

from __future__ import annotations

from mindconverter.ir.core import Func, Module, Op, erase_ops, use_counts
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET, optional_outputs
from mindconverter.passes.manager import PassContext, register_pass

#: Ops kept even when their results are unused.
_SIDE_EFFECTS = ("ir.return", "ir.yield")


def _dead(op: Op, counts: dict) -> bool:
    return op.name not in _SIDE_EFFECTS and all(counts.get(r, 0) == 0 for r in op.results)


def _erase_dead(func: Func) -> bool:
    """Erase the dead ops of `func` in one backward walk: a user is seen before its producers (SSA order,
    and a region's ops before the op owning it), so erasing it, which lowers its operands' counts, makes
    a whole dead chain go in one round rather than one op per round."""
    counts = use_counts(func)
    dead: list[Op] = []
    gone: set[int] = set()
    for op in reversed(list(func.walk())):
        if id(op) in gone or not _dead(op, counts):
            continue
        for inner in op.walk():  # the op and what is left in its regions
            if id(inner) not in gone:
                gone.add(id(inner))
                for v in inner.operands:
                    if v is not None:
                        counts[v] -= 1
        dead.append(op)
    erase_ops([op for op in dead if not _inside(op, gone)])
    return bool(dead)


def _inside(op: Op, gone: set[int]) -> bool:
    """Whether `op` is in a region of an erased op (it goes with that op)."""
    block = op.parent
    while block is not None and isinstance(block.parent, Op):
        if id(block.parent) in gone:
            return True
        block = block.parent.parent
    return False


@register_pass("dce")
def dce(module: Module, ctx: PassContext) -> bool:
    """Erase ops none of whose results is used, then drop weights no op refers to any more.

    1. Runs to a fixed point within the pass (erasing a user can make its producers dead): one backward
       walk erases whole dead chains, so the work is linear in the ops.
    2. Unused trailing results that the ONNX schema marks optional are dropped (Dropout's mask,
       MaxPool's indices, BatchNormalization's training statistics).
    3. A weight-store key is removed only when no `ir.param`/`ir.const` names it.
    """
    changed = False
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    for func in module.funcs:
        counts = use_counts(func)
        returned = set(func.outputs)
        for op in func.walk():
            if op.dialect != "onnx" or len(op.results) < 2:
                continue
            optional = optional_outputs(op.op_type, opset)
            while (
                len(op.results) > 1
                and len(op.results) <= len(optional)
                and optional[len(op.results) - 1]
                and counts.get(op.results[-1], 0) == 0
                and op.results[-1] not in returned
            ):
                op.results.pop()
                changed = True
        while _erase_dead(func):  # one round erases every dead chain; the next one finds nothing
            changed = True
    used_keys = {op.attrs["key"] for op in module.ops() if op.name in ("ir.param", "ir.const") and "key" in op.attrs}
    for key in module.weights.keys():
        if key not in used_keys:
            module.weights.remove(key)
            changed = True
    return changed
