"""Shape rules of matrix products: MatMul, Gemm, Einsum."""

from __future__ import annotations

import re

from mindconverter.ir.core import Op
from mindconverter.ir.shape_rules import Results, ShapeContext, ShapeError, broadcast, shape_rule
from mindconverter.ir.types import DType, TensorType


@shape_rule("onnx.MatMul", "onnx.MatMulInteger")
def matmul(op: Op, cx: ShapeContext) -> Results:
    """numpy.matmul: 1-D operands gain a dim that is dropped again, batch dims broadcast."""
    a, b = cx.type(0), cx.type(1)
    dtype = DType.I32 if op.op_type == "MatMulInteger" else a.dtype
    if a.dims is None or b.dims is None:
        return [TensorType(dtype, None)]
    if not a.dims or not b.dims:
        raise ShapeError(f"'{op.name}' operands must have rank >= 1, got {a} and {b}")
    ad = (1, *a.dims) if len(a.dims) == 1 else a.dims
    bd = (*b.dims, 1) if len(b.dims) == 1 else b.dims
    cx.same(ad[-1], bd[-2], "contracted dims")
    batch = broadcast(cx, [ad[:-2], bd[:-2]])
    out = (*batch, *([ad[-2]] if len(a.dims) > 1 else []), *([bd[-1]] if len(b.dims) > 1 else []))
    return [TensorType(dtype, out)]


@shape_rule("onnx.Gemm")
def gemm(op: Op, cx: ShapeContext) -> Results:
    """(M, K) @ (K, N) with optional transposes; C broadcasts to (M, N)."""
    a, b = cx.type(0), cx.type(1)
    if a.dims is None or b.dims is None:
        return [TensorType(a.dtype, None)]
    if len(a.dims) != 2 or len(b.dims) != 2:
        raise ShapeError(f"'{op.name}' operands must be matrices, got {a} and {b}")
    m, ka = reversed(a.dims) if op.attr("transA", 0) else a.dims
    kb, n = reversed(b.dims) if op.attr("transB", 0) else b.dims
    cx.same(ka, kb, "contracted dims")
    return [TensorType(a.dtype, (m, n))]


_TERM = re.compile(r"[A-Za-z]*(\.\.\.)?[A-Za-z]*")


@shape_rule("onnx.Einsum")
def einsum(op: Op, cx: ShapeContext) -> Results:
    """Each output letter takes the size its inputs give it; `...` broadcasts."""
    equation = str(op.attr("equation", "")).replace(" ", "")
    types = [v.type for v in op.operands if v is not None]
    if any(t.dims is None for t in types):
        return [TensorType(types[0].dtype, None)]
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(types) or not all(_TERM.fullmatch(t) for t in terms + [rhs]):
        raise ShapeError(f"'{op.name}' equation '{equation}' does not fit its {len(types)} operands")
    sizes: dict[str, object] = {}
    ellipses = []
    for term, t in zip(terms, types, strict=True):
        head, dots, tail = term.partition("...")
        n_ell = len(t.dims) - len(head) - len(tail)
        if n_ell < 0 or (n_ell and not dots):
            raise ShapeError(f"'{op.name}' term '{term}' does not fit operand {t}")
        ellipses.append(t.dims[len(head):len(head) + n_ell])
        for letter, d in [*zip(head, t.dims[:len(head)], strict=True), *zip(tail, t.dims[len(t.dims) - len(tail):], strict=True)]:
            sizes[letter] = cx.same(sizes[letter], d, f"sizes of '{letter}'") if letter in sizes else d
    ell = broadcast(cx, ellipses)
    if not arrow:  # implicit output: the ellipsis, then letters seen once, sorted
        counts = {c: lhs.count(c) for c in set(lhs) if c.isalpha()}
        rhs = ("..." if any("..." in t for t in terms) else "") + "".join(sorted(c for c, n in counts.items() if n == 1))
    head, dots, tail = rhs.partition("...")
    out = [sizes[c] for c in head] + (list(ell) if dots else []) + [sizes[c] for c in tail]
    return [TensorType(types[0].dtype, tuple(out))]


@shape_rule("onnx.Det")
def det(op: Op, cx: ShapeContext) -> Results:
    """The determinant of each trailing square matrix: the batch dims."""
    x = cx.type(0)
    if x.dims is None:
        return [x]
    if len(x.dims) < 2:
        raise ShapeError(f"'{op.name}' needs matrices, got {x}")
    cx.same(x.dims[-1], x.dims[-2], "matrix dims")
    return [x.with_dims(x.dims[:-2])]
