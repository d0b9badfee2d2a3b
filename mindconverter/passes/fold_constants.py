"""fold-constants: evaluate ops whose inputs are all known at conversion time."""

from __future__ import annotations

import math

import attrs
import numpy as np

from mindconverter.ir.core import (
    INLINE_LIMIT,
    Builder,
    Module,
    Op,
    Value,
    erase_op,
    is_param,
    known_array,
    replace_uses,
    use_counts,
)
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET, evaluate_op
from mindconverter.passes.manager import PassContext, register_pass

#: Ops never folded: random ones (a value per run), and Dropout (kept as a layer that trains).
_IMPURE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"}

#: Shape-only ops fold even when their input is a runtime value with a static type.
_SHAPE_OPS = {"Shape", "Size"}


def _foldable(op: Op, module: Module) -> bool:
    if op.dialect != "onnx" or op.regions or op.op_type in _IMPURE:
        return False
    if op.op_type in _SHAPE_OPS:
        return op.operands[0] is not None and op.operands[0].type.is_static
    return all(v is None or (v.op is not None and v.op.name in ("ir.const", "ir.param")) for v in op.operands)


def _static_shape_value(op: Op) -> np.ndarray:
    """onnx.Shape / onnx.Size of a value whose type is static (no need to know its data)."""
    shape = np.array(op.operands[0].type.shape, dtype=np.int64)
    if op.op_type == "Size":
        return np.array(int(np.prod(shape)), dtype=np.int64)
    rank = len(shape)
    start, end = op.attr("start", 0), op.attr("end", rank)
    return shape[slice(start, end)]


@attrs.define
class FoldOptions:
    """Options of fold-constants."""

    fold_limit: int = attrs.field(default=2**28, converter=int, metadata={"help": "results with more elements stay unfolded"})


@register_pass("fold-constants", options=FoldOptions)
def fold_constants(module: Module, ctx: PassContext) -> bool:
    """Replace ops whose operands are all ir.const/ir.param by constants holding the result.

    1. Random ops and Dropout never fold; ops with regions do not fold.
    2. Shape and Size fold whenever their input's type is static.
    3. A float result with more than INLINE_LIMIT elements becomes an `ir.param` (a real, trainable
       weight, e.g. the ConstantOfShape-generated weights of ONNX's light models), and so does any
       result computed from a param (a transposed weight stays a weight); the rest become `ir.const`.
    4. Results over `fold-limit` elements (option, default 2**28) stay unfolded; when the result
       types are static this is known before evaluating, so nothing that large is allocated.
    5. Constants that fed only folded ops are erased (their weight-store data is left to `dce`).
    """
    limit = ctx.options_of(FoldOptions).fold_limit
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    changed = False
    for func in module.funcs:
        mapping: dict[Value, Value] = {}
        inputs_of_folded: list[Value] = []
        for op in list(func.body.ops):
            if any(v in mapping for v in op.operands if v is not None):
                op.operands = [mapping.get(v, v) if v is not None else None for v in op.operands]
            if not _foldable(op, module) or _declared_size(op) > limit:  # refused before allocating it
                continue
            if op.op_type in _SHAPE_OPS:
                results = [_static_shape_value(op)]
            else:
                inputs = [None if v is None else known_array(v, module.weights) for v in op.operands]
                try:
                    results = evaluate_op(op, inputs, opset)
                except Exception as exc:  # noqa: BLE001 - leave it to the backend; the reason is logged
                    ctx.log.debug("not folding %s (%s): %s", op.name, op.loc_name, exc)
                    continue
            if any(np.asarray(r).size > limit for r in results):
                continue
            from_param = any(v is not None and is_param(v) for v in op.operands)
            builder = Builder.before(op)
            for result, array in zip(op.results, results, strict=True):
                array = np.asarray(array)
                if array.dtype != result.type.dtype.to_numpy() and result.type.dtype.to_numpy() != np.dtype(object):
                    array = array.astype(result.type.dtype.to_numpy())
                key = result.name or (op.loc[0] if op.loc else "folded")
                if array.dtype.kind == "f" and (array.size > INLINE_LIMIT or from_param):
                    origin = result.name or ",".join(op.loc) or key
                    new = builder.param(array, module.weights, key, op.loc, origin=origin)
                else:
                    new = builder.const(array, module.weights, op.loc, key=key)
                mapping[result] = new
            inputs_of_folded += [v for v in op.operands if v is not None]
            erase_op(op)
            changed = True
        replace_uses(func, mapping)
        counts = use_counts(func)
        for v in dict.fromkeys(inputs_of_folded):  # constants that only fed folded ops
            if counts.get(v, 0) == 0 and v.op is not None and v.op.parent is not None:
                erase_op(v.op)
    return changed


def _declared_size(op: Op) -> int:
    """Elements of the op's largest result, from the result types (0 when not static)."""
    sizes = [math.prod(r.type.shape) for r in op.results if r.type.is_static]
    return max(sizes, default=0)
