"""Shape rules of ops with regions: If, Loop, and mc.cell. `infer-shapes` infers the regions first.

Region arguments of mc.cell take the types of its operands; the results of all three are read
from what the regions yield.
"""

from __future__ import annotations

from mindconverter.ir.core import Op, known_array
from mindconverter.ir.shape_rules import Results, ShapeContext, shape_rule
from mindconverter.ir.symbolic import equal
from mindconverter.ir.types import UNKNOWN, TensorType


def join(a: TensorType, b: TensorType) -> TensorType:
    """A type that holds both: dims that are equal in both are kept, the others become unknown."""
    if a.dims is None or b.dims is None or len(a.dims) != len(b.dims):
        return a.with_dims(None)
    return a.with_dims(tuple(x if x == y or equal(x, y) is True else UNKNOWN for x, y in zip(a.dims, b.dims, strict=True)))


def _yielded(op: Op, region: int) -> list[TensorType]:
    term = op.regions[region].terminator
    return [v.type for v in term.operands] if term is not None else []


@shape_rule("onnx.If")
def if_(op: Op, cx: ShapeContext) -> Results:
    """Each result holds what either branch yields."""
    then, other = _yielded(op, 0), _yielded(op, 1)
    if len(then) != len(op.results) or len(other) != len(op.results):
        return [None] * len(op.results)
    return [join(a, b) for a, b in zip(then, other, strict=True)]


@shape_rule("onnx.Loop")
def loop(op: Op, cx: ShapeContext) -> Results:
    """Carried values hold their initial and their yielded types; scan outputs gain a leading trip count."""
    body = _yielded(op, 0)[1:]  # after the condition
    carried = [v.type for v in op.operands[2:] if v is not None]
    n = len(carried)
    if len(body) != len(op.results):
        return [None] * len(op.results)
    out: Results = [join(c, y) for c, y in zip(carried, body[:n], strict=True)]
    trips = _trip_count(op, cx)
    out += [t.with_dims(None if t.dims is None else (trips, *t.dims)) for t in body[n:]]
    return out


def _trip_count(op: Op, cx: ShapeContext) -> object:
    """M when the loop cannot stop early: no condition (or a true one) in, and the body passes it on unchanged."""
    m = cx.contents(0)
    region = op.regions[0]
    term = region.terminator
    if m is None or len(m) != 1 or term is None or len(region.args) < 2:
        return UNKNOWN
    cond_in = cx.array(1) if cx.has(1) else True
    if cond_in is None or not bool(cond_in):
        return UNKNOWN
    yielded = term.operands[0]
    passes_on = yielded is region.args[1]
    constant = known_array(yielded, cx.weights) if not passes_on else None
    return m[0] if passes_on or (constant is not None and bool(constant)) else UNKNOWN


@shape_rule("onnx.Scan")
def scan(op: Op, cx: ShapeContext) -> Results:
    """States hold their initial and yielded types; each scan output stacks its per-step type along its axis."""
    m = int(op.attr("num_scan_inputs"))
    operands = [v for v in op.operands if v is not None]
    n = len(operands) - m
    body = _yielded(op, 0)
    if len(body) != len(op.results) or m < 1:
        return [None] * len(op.results)
    first = operands[n].type
    in_axis = int((op.attr("scan_input_axes") or [0])[0])
    steps = first.dims[cx.axis(in_axis, len(first.dims))] if first.dims is not None else UNKNOWN
    out: Results = [join(operands[i].type, body[i]) for i in range(n)]
    out_axes = list(op.attr("scan_output_axes") or [0] * (len(body) - n))
    for t, axis in zip(body[n:], out_axes, strict=True):
        if t.dims is None:
            out.append(t)
            continue
        a = cx.axis(int(axis), len(t.dims) + 1)
        out.append(t.with_dims((*t.dims[:a], steps, *t.dims[a:])))
    return out


@shape_rule("mc.cell")
def cell(op: Op, cx: ShapeContext) -> Results:
    """What the region yields (its arguments have the operands' types)."""
    return list(_yielded(op, 0))
