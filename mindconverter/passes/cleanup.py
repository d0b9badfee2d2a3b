"""cleanup: remove ops that compute nothing (Identity, no-op Cast/Reshape/Transpose/Expand)."""

from __future__ import annotations

from mindconverter.ir.core import Module, Op, Value, erase_ops, known_array, replace_uses
from mindconverter.passes.manager import PassContext, register_pass


def _forwarded(op: Op, module: Module) -> Value | None:
    """The operand `op` merely forwards, or None when it does real work."""
    if op.dialect != "onnx" or not op.operands or op.operands[0] is None or len(op.results) != 1:
        return None
    x, out = op.operands[0], op.result
    kind = op.op_type
    if kind == "Identity":
        return x
    same_type = x.type == out.type and x.type.is_static
    if kind == "Cast" and x.type.dtype == out.type.dtype and x.type.dims is not None and x.type.dims == out.type.dims:
        return x
    if kind in ("Reshape", "Expand", "Squeeze", "Unsqueeze", "Flatten") and same_type:
        return x
    if kind == "Transpose":
        perm = op.attr("perm")
        if perm is not None and list(perm) == list(range(len(perm))):
            return x
    if kind == "Dropout" and len(op.operands) >= 3:
        training = known_array(op.operands[2], module.weights)
        if training is not None and not bool(training):
            return None  # kept: restored as nn.Dropout, an identity in inference
    return None


@register_pass("cleanup")
def cleanup(module: Module, ctx: PassContext) -> bool:
    """Replace ops that forward their input unchanged by that input, and erase them.

    1. Identity always; Cast to the input's own dtype; Reshape/Expand/Squeeze/Unsqueeze/Flatten
       whose static output type equals the input's; Transpose with the identity permutation.
    2. Dropout is never removed here: it becomes nn.Dropout, which trains like the source.
    """
    changed = False
    for func in module.funcs:
        mapping: dict[Value, Value] = {}
        dead: list[Op] = []
        for op in func.walk():
            src = _forwarded(op, module)
            if src is not None:
                mapping[op.result] = src
                dead.append(op)
        if mapping:
            replace_uses(func, mapping)
            erase_ops(dead)
            changed = True
    return changed
