"""fold-constants: evaluate ops whose inputs are all known at conversion time, and shape arithmetic whose entries are all sizes."""

from __future__ import annotations

import math

import attrs
import numpy as np

from mindconverter.ir.core import (
    INLINE_LIMIT,
    Builder,
    Func,
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
from mindconverter.ir.shape_values import all_static, contents
from mindconverter.passes.manager import PassContext, register_pass

#: Ops never folded: random ones (a value per run), and Dropout (kept as a layer that trains).
_IMPURE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"}

#: Ops that read a size off a run-time value (folding them needs only its type).
_SHAPE_OPS = {"Shape", "Size"}

#: Ops that pick part of their data input (input 0): of a weight, they keep the whole weight (rule 3).
_PICKS = {"Gather", "Slice"}


def _known(v: Value | None) -> bool:
    return v is None or (v.op is not None and v.op.name in ("ir.const", "ir.param"))


def _plain(op: Op) -> bool:
    return op.dialect == "onnx" and not op.regions and op.op_type not in _IMPURE


def _truncates(op: Op) -> bool:
    """Whether `op` is a Gather/Slice picking fewer elements out of a weight than the weight has."""
    if op.dialect != "onnx" or op.op_type not in _PICKS or not op.operands or op.operands[0] is None:
        return False
    data = op.operands[0]
    if not is_param(data) or not data.type.is_static:
        return False
    size = op.results[0].type.num_elements
    return size is None or size < (data.type.num_elements or 0)


def _runtime_shape(op: Op) -> bool:
    return op.dialect == "onnx" and op.op_type in _SHAPE_OPS and not _known(op.operands[0])


def protected_ops(func: Func) -> set[Op]:
    """Ops computing, from a run-time Shape/Size, the indices of a Gather/Slice that truncates a weight.

    They stay ops, so the generated network computes the positions it picks from its input (GPT-2's
    `wpe[arange(seq)]` follows the sequence length instead of freezing the export's).
    """
    reaches: dict[Value, bool] = {}

    def reach(v: Value | None, depth: int = 0) -> bool:
        if v is None or v.op is None or depth > 64:
            return False
        if v not in reaches:
            reaches[v] = False  # cycles (malformed IR) read as no
            op = v.op
            reaches[v] = _runtime_shape(op) or (_plain(op) and any(reach(u, depth + 1) for u in op.operands))
        return reaches[v]

    keep: set[Op] = set()
    stack = [u for op in func.walk() if _truncates(op) for u in op.operands[1:] if reach(u)]
    while stack:
        v = stack.pop()
        if v.op in keep:
            continue
        keep.add(v.op)
        stack += [u for u in v.op.operands if reach(u)]
    return keep


def _foldable(op: Op) -> bool:
    if not _plain(op):
        return False
    if op.op_type in _SHAPE_OPS:
        return op.operands[0] is not None and op.operands[0].type.is_static
    return all(map(_known, op.operands)) and not _truncates(op)


def _shape_contents(op: Op, module: Module, cache: dict) -> np.ndarray | None:
    """The value of a small integer result of `op` whose entries are all static sizes (shape arithmetic), else None."""
    if len(op.results) != 1 or not _plain(op) or op.op_type in _PICKS and _truncates(op):
        return None
    r = op.results[0]
    if not r.type.dtype.is_int or r.type.rank not in (0, 1):
        return None
    c = contents(r, module.weights, cache)
    if not all_static(c):
        return None
    array = np.array(c, dtype=r.type.dtype.to_numpy())
    return array.reshape(()) if r.type.rank == 0 else array


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
    """Replace ops whose operands are all ir.const/ir.param, and shape arithmetic of static sizes, by constants.

    1. Random ops and Dropout never fold; ops with regions do not fold.
    2. Shape and Size fold whenever their input's type is static, and so does any small integer
       tensor whose entries are all known sizes (`ir.shape_values.contents`): `Concat(Gather(Shape(x),
       0), [-1])` of a static x is a constant even when x itself is computed at run time.
    3. A Gather/Slice that picks fewer elements out of a weight than it has never folds, so the
       checkpoint keeps every source weight whole; nor do the ops computing its indices from a
       run-time Shape/Size (the network computes them from its input). Splits and Concats fold.
    4. A float result with more than INLINE_LIMIT elements becomes an `ir.param` (a real, trainable
       weight, e.g. the ConstantOfShape-generated weights of ONNX's light models), and so does any
       result computed from a param (a transposed weight stays a weight); the rest become `ir.const`.
    5. Results over `fold-limit` elements (option, default 2**28) stay unfolded; when the result
       types are static this is known before evaluating, so nothing that large is allocated.
    6. Constants that fed only folded ops are erased (their weight-store data is left to `dce`).
    """
    limit = ctx.options_of(FoldOptions).fold_limit
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    changed = False
    for func in module.funcs:
        mapping: dict[Value, Value] = {}
        inputs_of_folded: list[Value] = []
        protected = protected_ops(func)
        cache: dict = {}
        erased: list[Op] = []  # kept alive: the contents cache is keyed by value ids
        for op in list(func.body.ops):
            if any(v in mapping for v in op.operands if v is not None):
                op.operands = [mapping.get(v, v) if v is not None else None for v in op.operands]
            if op in protected or op.name in ("ir.const", "ir.param") or _declared_size(op) > limit:  # refused before allocating it
                continue
            if _foldable(op):
                if op.op_type in _SHAPE_OPS:
                    results = [_static_shape_value(op)]
                else:
                    inputs = [None if v is None else known_array(v, module.weights) for v in op.operands]
                    try:
                        results = evaluate_op(op, inputs, opset)
                    except Exception as exc:  # noqa: BLE001 - leave it to the backend; the reason is logged
                        ctx.log.debug("not folding %s (%s): %s", op.name, op.loc_name, exc)
                        continue
            else:
                value = _shape_contents(op, module, cache)
                if value is None:
                    continue
                results = [value]
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
                    origin = _source_weight(op, module) or result.name or ",".join(op.loc) or key
                    new = builder.param(array, module.weights, key, op.loc, origin=origin)
                else:
                    new = builder.const(array, module.weights, op.loc, key=key)
                mapping[result] = new
            inputs_of_folded += [v for v in op.operands if v is not None]
            erase_op(op)
            erased.append(op)
            changed = True
        replace_uses(func, mapping)
        counts = use_counts(func)
        stack = list(dict.fromkeys(inputs_of_folded))
        while stack:  # constants and shape arithmetic that only fed folded ops
            v = stack.pop()
            op = v.op
            if counts.get(v, 0) or op is None or op.parent is None or any(counts.get(r, 0) for r in op.results):
                continue
            if op.name in ("ir.const", "ir.param") or _plain(op):
                erase_op(op)
                for u in op.operands:
                    if u is not None:
                        counts[u] -= 1
                        stack.append(u)
    return changed


def _declared_size(op: Op) -> int:
    """Elements of the op's largest result, from the result types (0 when not static)."""
    sizes = [math.prod(r.type.shape) for r in op.results if r.type.is_static]
    return max(sizes, default=0)


def _source_weight(op, module: Module) -> str | None:
    """The source name of the first weight `op` reads: a weight transformed by a fold keeps that name."""
    return next((module.weights.origin.get(v.op.attrs["key"], v.op.attrs["key"]) for v in op.operands
                 if v is not None and is_param(v)), None)
