"""Small matchers shared by the fusion patterns (fuse-*.py): constants, commuted operands, producers."""

from __future__ import annotations

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.passes.pattern import Rewriter


def scalar(v: Value | None, rw: Rewriter) -> float | None:
    """The value of a known one-element float constant, else None."""
    array = rw.known(v)
    if array is None or array.size != 1 or array.dtype.kind != "f":
        return None
    item = np.asarray(array).reshape(-1)[0]
    return float(str(item))  # the shortest decimal of the value in its own dtype (1e-05, not 9.99999974e-06)


def near(value: float | None, target: float, rtol: float = 1e-4) -> bool:
    return value is not None and abs(value - target) <= rtol * max(1.0, abs(target))


def split(op: Op, name: str, rw: Rewriter) -> tuple[Op, Value] | None:
    """For a binary op: (the operand produced by an op named `name`, the other operand), either order."""
    for i in (0, 1):
        producer = rw.producer(op.operands[i], name)
        if producer is not None:
            return producer, op.operands[1 - i]
    return None


def split_const(op: Op, rw: Rewriter) -> tuple[Value, float] | None:
    """For a binary op with a scalar constant operand: (the other operand, the constant)."""
    for i in (0, 1):
        c = scalar(op.operands[1 - i], rw)
        if c is not None:
            return op.operands[i], c
    return None


def single_use(v: Value, user: Op, rw: Rewriter) -> bool:
    return rw.only_user(v) is user


def known_axes(op: Op, rw: Rewriter) -> list[int] | None:
    """An op's `axes`: the attribute (older opsets) or the constant second input (newer); None when unknown."""
    if op.attr("axes") is not None:
        return [int(a) for a in op.attr("axes")]
    known = rw.known(op.operands[1]) if len(op.operands) > 1 and op.operands[1] is not None else None
    return None if known is None else [int(a) for a in known.reshape(-1)]
