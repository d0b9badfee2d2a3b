"""Two custom passes, written the way docs/writing_passes.md explains. Load them with

    mindconverter --model_file model.onnx --pass-plugin examples/custom_pass.py \
        --passes cleanup,infer-shapes,remove-mul-by-one,max-zero-to-relu,dce --check each

- `remove-mul-by-one`, a function pass: `x * 1` is `x`.
- `max-zero-to-relu`, a rewrite pattern: `Max(x, 0)` is `Relu(x)` (nn.ReLU in the generated code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir import Module, Op, const_array, replace_op
from mindconverter.passes.manager import PassContext, register_pass
from mindconverter.passes.pattern import Rewriter, register_pattern


def _is_all(value, number: float, module: Module) -> bool:
    """Whether `value` is a constant whose elements all equal `number`."""
    array = const_array(value, module.weights) if value is not None else None
    return array is not None and array.size > 0 and bool(np.all(array == number))


@register_pass("remove-mul-by-one")
def remove_mul_by_one(module: Module, ctx: PassContext) -> bool:
    """Replace `onnx.Mul(x, 1)` (either operand all ones) by `x`.

    1. Only when the result has x's type: a broadcasting 1 that makes the result bigger stays.
    """
    changed = False
    for func in module.funcs:
        for op in list(func.walk()):
            if op.name != "onnx.Mul":
                continue
            for keep, one in ((0, 1), (1, 0)):
                x = op.operands[keep]
                if _is_all(op.operands[one], 1, module) and x is not None and x.type == op.result.type:
                    replace_op(func, op, [x])
                    changed = True
                    break
    return changed


@register_pattern("max-zero-to-relu", root="onnx.Max")
class MaxZeroToRelu:
    """Replace `onnx.Max(x, 0)` by `onnx.Relu(x)`.

    1. Exactly two operands, one of them a constant of zeros that does not broadcast x to a bigger shape.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if len(op.operands) != 2:
            return f"Max has {len(op.operands)} operands, not 2"
        for keep, zero in ((0, 1), (1, 0)):
            z = rw.known(op.operands[zero])
            if z is not None and z.size > 0 and np.all(z == 0):
                x = op.operands[keep]
                if x.type != op.result.type:
                    return "the zero broadcasts x to a bigger shape"
                m["x"] = x
                return None
        return "no operand is a constant of zeros"

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        relu = rw.builder(op).op1("onnx.Relu", [m["x"]], op.result.type, loc=op.loc)
        rw.replace(op, [relu])
