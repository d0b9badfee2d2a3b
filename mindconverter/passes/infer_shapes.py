"""infer-shapes: give every value the most precise type ONNX shape inference can derive."""

from __future__ import annotations

import onnx

from mindconverter.ir.core import Module
from mindconverter.ir.onnx_bridge import func_to_onnx, type_from_onnx
from mindconverter.ir.types import Dim, Sym, TensorType
from mindconverter.passes.manager import PassContext, register_pass


def _rank(d: Dim) -> int:
    return 2 if isinstance(d, int) else 1 if isinstance(d, Sym) else 0


def merge(old: TensorType, new: TensorType) -> TensorType:
    """Per dim, keep the better of old and new: a size beats a symbol beats unknown."""
    if new.dims is None:
        return old
    if old.dims is None or len(old.dims) != len(new.dims):
        return TensorType(old.dtype, new.dims) if old.dims is None else old
    dims = tuple(n if _rank(n) > _rank(o) else o for o, n in zip(old.dims, new.dims, strict=True))
    return TensorType(old.dtype, dims)


@register_pass("infer-shapes")
def infer_shapes(module: Module, ctx: PassContext) -> bool:
    """Refine result types with ONNX symbolic shape inference (data propagation on).

    1. Types only get more precise: a known size is never replaced by a symbol or unknown.
    2. Symbols the user's model names (`batch`) are kept; onnx's own `unk__N` become `?`.
    3. Ops outside the onnx dialect keep their types (their own shape rules apply).
    """
    changed = False
    for func in module.funcs:
        if any(op.dialect not in ("onnx", "ir") for op in func.body.ops):
            ctx.log.debug("infer-shapes: skipping @%s, it has non-ONNX ops", func.name)
            continue
        model, names = func_to_onnx(module, func, with_weights=False)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception as exc:  # noqa: BLE001 - onnx raises InferenceError and others
            ctx.log.warning("shape inference failed: %s", exc)
            continue
        found = {}
        for vi in [*inferred.graph.value_info, *inferred.graph.output]:
            t = type_from_onnx(vi.type)
            if t is not None:
                found[vi.name] = t
        for op in func.body.ops:
            for r in op.results:
                t = found.get(names.get(r, ""))
                if t is None:
                    continue
                dtype_fixed = r.type.dims is None and r.type.dtype != t.dtype
                new = merge(r.type, t)
                if dtype_fixed:
                    new = TensorType(t.dtype, new.dims)
                if new != r.type:
                    r.type = new
                    changed = True
    return changed


__all__ = ["infer_shapes", "merge"]
