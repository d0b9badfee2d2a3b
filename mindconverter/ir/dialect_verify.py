"""Well-formedness of `mc.*` ops: known names, typed attributes, operand counts and shapes that agree with the op's rule."""

from __future__ import annotations

from mindconverter.ir.core import Module, Op
from mindconverter.ir.dialect import DIALECT
from mindconverter.ir.symbolic import equal
from mindconverter.ir.types import TensorType


def verify_op(op: Op) -> str | None:
    """Why `op` (an `mc.*` op) is malformed, or None when it is well formed."""
    spec_cls = DIALECT.get(op.name)
    if spec_cls is None:
        return f"unknown dialect op '{op.name}' (known: {', '.join(sorted(DIALECT))})"
    try:
        spec = spec_cls.of(op)
    except (TypeError, ValueError) as exc:
        return f"bad attributes for '{op.name}': {exc}"
    if spec_cls.has_region:
        if len(op.regions) != 1:
            return f"'{op.name}' needs one region, got {len(op.regions)}"
        region = op.regions[0]
        if len(region.args) != len(op.operands):
            return f"'{op.name}' has {len(op.operands)} operands but its region takes {len(region.args)} arguments"
        yielded = region.terminator.operands if region.terminator is not None else []
        if [v.type for v in yielded] != [r.type for r in op.results]:
            return f"'{op.name}' results do not match the types its region yields"
        return None
    if op.regions:
        return f"'{op.name}' takes no regions"
    names = spec_cls.operands
    required = sum(1 for n in names if not n.endswith("?"))
    if spec_cls.variadic:
        if any(v is None for v in op.operands):
            return f"'{op.name}' takes no omitted (none) operands"
    elif not required <= len(op.operands) <= len(names):
        return f"'{op.name}' takes {required} to {len(names)} operands ({', '.join(names)}), got {len(op.operands)}"
    for i, v in enumerate(op.operands):
        if v is None and not names[i].endswith("?"):
            return f"operand {i} ('{names[i]}') of '{op.name}' is none, but it is not optional"
    try:
        want = spec.infer([v.type if v is not None else None for v in op.operands])
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        return f"the shape rule of '{op.name}' does not apply to its operands: {exc}"
    if len(want) != len(op.results):
        return f"'{op.name}' has {len(op.results)} results, its shape rule gives {len(want)}"
    for i, (w, r) in enumerate(zip(want, op.results, strict=True)):
        if not _compatible(w, r.type):
            return f"result {i} of '{op.name}' is {r.type}, but its shape rule gives {w}"
    return None


def verify_dialect(module: Module) -> None:
    """Raise VerifyError for the first malformed `mc.*` op (attributes, arity, shape rule, region).

    `verify()` runs the same checks (through `verify_op`) with the rest of the module's; this one checks mc ops alone.
    """
    from mindconverter.errors import VerifyError

    for op in module.ops():
        if op.dialect == "mc":
            problem = verify_op(op)
            if problem is not None:
                raise VerifyError(problem, where=f"'{op.name}' loc{op.loc}",
                                  fix="see the op's declaration in mindconverter/ir/dialect.py")


def _compatible(a: TensorType, b: TensorType) -> bool:
    if a.dtype != b.dtype:
        return False
    if a.dims is None or b.dims is None:
        return True
    if len(a.dims) != len(b.dims):
        return False
    # Symbolic dims must not provably differ (?(2*b) where the rule gives ?b); unknown ones fit anything.
    return all(x == y or equal(x, y) is not False for x, y in zip(a.dims, b.dims, strict=True))
