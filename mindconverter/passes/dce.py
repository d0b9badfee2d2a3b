"""dce: dead-code elimination."""

from __future__ import annotations

from mindconverter.ir.core import Module, Op, erase_op, use_counts
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET, optional_outputs
from mindconverter.passes.manager import PassContext, register_pass

#: Ops kept even when their results are unused.
_SIDE_EFFECTS = ("ir.return", "ir.yield")


def _dead(op: Op, counts: dict) -> bool:
    return op.name not in _SIDE_EFFECTS and all(counts.get(r, 0) == 0 for r in op.results)


@register_pass("dce")
def dce(module: Module, ctx: PassContext) -> bool:
    """Erase ops none of whose results is used, then drop weights no op refers to any more.

    1. Runs to a fixed point within the pass (erasing a user can make its producers dead).
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
        while True:
            counts = use_counts(func)
            dead = [op for op in func.walk() if _dead(op, counts)]
            if not dead:
                break
            for op in dead:
                erase_op(op)
            changed = True
    used_keys = {op.attrs["key"] for op in module.ops() if op.name in ("ir.param", "ir.const") and "key" in op.attrs}
    for key in module.weights.keys():
        if key not in used_keys:
            module.weights.remove(key)
            changed = True
    return changed
