"""onnx.Einsum -> ops.transpose / ops.reshape / ops.matmul / ops.sum (MindSpore has no CPU einsum kernel).

The equation is compiled at conversion time, with the static input shapes: repeated labels in one
operand take the diagonal, labels used by one operand only are summed away, and each pair of
operands becomes one batched matmul (batch labels, then the left operand's free labels and the
contracted ones, against the contracted ones and the right operand's free labels).
"""

from __future__ import annotations

import math

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op
from mindconverter.ir.types import DType


def parse_equation(equation: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """Label lists for each operand and for the output; `...` becomes labels "…0", "…1", ... aligned right."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"the equation has {len(terms)} operands but the node has {len(ranks)} inputs")
    n_ell = max((r - (len(t) - 3) for t, r in zip(terms, ranks, strict=True) if "..." in t), default=0)
    operands = []
    for term, rank in zip(terms, ranks, strict=True):
        head, ell, tail = term.partition("...")
        k = rank - len(head) - len(tail) if ell else 0
        if len(head) + len(tail) + k != rank or k < 0:
            raise ValueError(f"operand '{term}' does not match an input of rank {rank}")
        operands.append(list(head) + [f"…{i}" for i in range(n_ell - k, n_ell)] + list(tail))
    if arrow:
        head, ell, tail = rhs.partition("...")
        output = list(head) + ([f"…{i}" for i in range(n_ell)] if ell else []) + list(tail)
    else:  # implicit output: the broadcast dims, then the labels used once, in alphabetical order
        counts: dict[str, int] = {}
        for labels in operands:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        output = [f"…{i}" for i in range(n_ell)] + sorted(c for c, n in counts.items() if n == 1 and not c.startswith("…"))
    return operands, output


class _Builder:
    """Builds the expression step by step, tracking each intermediate's labels."""

    def __init__(self, cx: EmitContext, sizes: dict[str, int]) -> None:
        self.cx = cx
        self.sizes = sizes

    def transpose(self, x: str, labels: list[str], order: list[str]) -> str:
        if labels == order:
            return x
        return f"ops.transpose({x}, {self.cx.lit(tuple(labels.index(c) for c in order))})"

    def reshape(self, x: str, from_labels: list[str], shape: tuple[int, ...]) -> str:
        if tuple(self.sizes[c] for c in from_labels) == shape:
            return x
        return f"ops.reshape({x}, {self.cx.lit(shape)})"

    def sum_out(self, x: str, labels: list[str], keep: set[str]) -> tuple[str, list[str]]:
        gone = [i for i, c in enumerate(labels) if c not in keep]
        if not gone:
            return x, labels
        return f"ops.sum({x}, {self.cx.lit(tuple(gone))})", [c for c in labels if c in keep]

    def diagonals(self, x: str, labels: list[str]) -> tuple[str, list[str]]:
        while len(set(labels)) != len(labels):
            label = next(c for c in labels if labels.count(c) > 1)
            i = labels.index(label)
            j = labels.index(label, i + 1)
            # ops.diagonal moves the diagonal of dims i and j to the end.
            x = f"ops.diagonal({x}, 0, {i}, {j})"
            labels = [c for k, c in enumerate(labels) if k not in (i, j)] + [label]
        return x, labels

    def contract(self, a: str, la: list[str], b: str, lb: list[str], needed: set[str]) -> tuple[str, list[str]]:
        batch = [c for c in la if c in lb and c in needed]
        summed = [c for c in la if c in lb and c not in needed]
        left = [c for c in la if c not in lb]
        right = [c for c in lb if c not in la]
        size = lambda labels: math.prod(self.sizes[c] for c in labels)  # noqa: E731
        a2 = self.reshape(self.transpose(a, la, batch + left + summed), batch + left + summed,
                          (size(batch), size(left), size(summed)))
        b2 = self.reshape(self.transpose(b, lb, batch + summed + right), batch + summed + right,
                          (size(batch), size(summed), size(right)))
        out = batch + left + right
        product = f"ops.matmul({a2}, {b2})"
        shape = tuple(self.sizes[c] for c in out)
        return (product if (size(batch), size(left), size(right)) == shape else f"ops.reshape({product}, {self.cx.lit(shape)})"), out


@emits("onnx.Einsum", since=12)
def einsum(op: Op, cx: EmitContext) -> str:
    """onnx.Einsum -> ops.transpose / ops.reshape / ops.matmul / ops.sum, compiled from the equation."""
    n = len(op.operands)
    shapes = [cx.in_shape(i) for i in range(n)]
    try:
        operands, output = parse_equation(cx.attr("equation", ""), [len(s) for s in shapes])
    except ValueError as exc:
        cx.fail(f"Einsum equation {cx.attr('equation')!r}: {exc}")
    sizes: dict[str, int] = {}
    for labels, shape in zip(operands, shapes, strict=True):
        for c, d in zip(labels, shape, strict=True):
            if sizes.setdefault(c, d) != d:
                cx.fail(f"Einsum label {c!r} has sizes {sizes[c]} and {d} (broadcasting a size-1 dim is not supported)")
    b = _Builder(cx, sizes)
    # MindSpore's CPU matmul and sum have no bfloat16 kernels: compute in float32, cast back.
    bf16 = cx.out_type().dtype == DType.BF16
    terms = []
    for i, labels in enumerate(operands):
        x, labels = b.diagonals(f"ops.cast({cx.arg(i)}, ms.float32)" if bf16 else cx.arg(i), labels)
        terms.append((x, labels))
    # Labels nobody else needs are summed away before any product.
    for i, (x, labels) in enumerate(terms):
        others = set(output).union(*(set(t[1]) for k, t in enumerate(terms) if k != i))
        terms[i] = b.sum_out(x, labels, others)
    x, labels = terms[0]
    for i in range(1, len(terms)):
        needed = set(output).union(*(set(t[1]) for t in terms[i + 1:]))
        y, ly = terms[i]
        x, labels = b.sum_out(x, labels, needed | set(ly))
        y, ly = b.sum_out(y, ly, needed | set(labels))
        x, labels = b.contract(x, labels, y, ly, needed)
    x, labels = b.sum_out(x, labels, set(output))
    x = b.transpose(x, labels, output)
    return f"ops.cast({x}, ms.bfloat16)" if bf16 else x
