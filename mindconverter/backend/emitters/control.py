"""Control flow: onnx.If / Scan / Loop -> their bodies written into construct (If: both branches and ops.where,
Scan and Loop with a constant trip count: unrolled).

The IR keeps the bodies as op regions; `EmitContext.emit_region` emits one copy of a body's
statements. Branches and bodies are pure (ONNX graphs have no side effects), so computing an If's
two branches and selecting is exact, and a Scan over a static sequence length unrolls.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op, Value, known_array

#: Unrolling longer scans would write very long construct methods.
MAX_UNROLL = 64


@emits("onnx.If", since=1)
def if_(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.If -> the taken branch (constant condition), else both branches and ops.where(cond, then, else)."""
    then_branch, else_branch = op.regions
    cond = cx.const(0)
    if cond is not None:
        return tuple(cx.emit_region(then_branch if bool(cond.reshape(-1)[0]) else else_branch, []))
    for i in range(len(op.results)):
        shapes = [b.terminator.operands[i].type for b in (then_branch, else_branch)]
        if not all(t.is_static for t in shapes) or shapes[0].shape != shapes[1].shape or shapes[0].dtype != shapes[1].dtype:
            cx.fail(f"If with a run-time condition needs branches of one static shape and dtype (output {i}: {shapes[0]} vs {shapes[1]})")
    then_out = cx.emit_region(then_branch, [])
    else_out = cx.emit_region(else_branch, [])
    c = cx.arg(0)
    return tuple(f"ops.where({c}, {t}, {e})" for t, e in zip(then_out, else_out, strict=True))


@emits("onnx.Scan", since=9)
def scan(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.Scan (static sequence length) -> the body unrolled once per step; scan outputs stacked with ops.stack."""
    body = op.regions[0]
    if any(v is None for v in op.operands):
        cx.fail("Scan inputs must all be present (the opset-8 form with sequence_lens is not supported)")
    n_scan = int(cx.attr("num_scan_inputs"))
    n_state = len(op.operands) - n_scan
    n_out = len(op.results) - n_state
    in_axes = list(cx.attr("scan_input_axes") or [0] * n_scan)
    in_dirs = list(cx.attr("scan_input_directions") or [0] * n_scan)
    out_axes = list(cx.attr("scan_output_axes") or [0] * n_out)
    out_dirs = list(cx.attr("scan_output_directions") or [0] * n_out)
    lengths = set()
    for j in range(n_scan):
        t = cx.in_type(n_state + j)
        axis = in_axes[j] + t.rank if in_axes[j] < 0 else in_axes[j]
        in_axes[j] = axis
        if t.dims is None or not isinstance(t.dims[axis], int):
            cx.fail(f"Scan needs a static sequence length, got scan input {j} {t}")
        lengths.add(t.dims[axis])
        inner = body.args[n_state + j].type.dims
        if inner is not None and tuple(inner) != tuple(t.dims[:axis] + t.dims[axis + 1:]):
            cx.fail(f"Scan body input {j} has dims {inner}, but one step of scan input {t} has {t.dims[:axis] + t.dims[axis + 1:]}")
    if len(lengths) != 1 or not 0 < min(lengths) <= MAX_UNROLL:
        cx.fail(f"Scan sequence lengths {sorted(lengths)} must agree and be 1..{MAX_UNROLL} to unroll")
    steps = lengths.pop()
    states = [cx.arg(i) for i in range(n_state)]
    scans = [cx.arg(n_state + j) for j in range(n_scan)]
    collected: list[list[str]] = [[] for _ in range(n_out)]
    for t in range(steps):
        slices = []
        for j, x in enumerate(scans):
            pos = steps - 1 - t if in_dirs[j] else t
            slices.append(f"{x}[{':, ' * in_axes[j]}{pos}]")
        out = cx.emit_region(body, states + slices)
        states = out[:n_state]
        for k in range(n_out):
            collected[k].append(out[n_state + k])
    results = list(states)
    for k, items in enumerate(collected):
        if out_dirs[k]:
            items = items[::-1]
        results.append(f"ops.stack(({', '.join(items)},), {out_axes[k]})")
    return tuple(results)


def _is_true(cx: EmitContext, v: Value | None) -> bool:
    """Whether v is a constant true (a known single-element tensor)."""
    value = known_array(v, cx.writer.weights) if v is not None else None
    return value is not None and value.size == 1 and bool(value.reshape(-1)[0])


@emits("onnx.Loop", since=1)
def loop(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.Loop (constant trip count, no early exit) -> the body unrolled once per iteration; scan outputs stacked."""
    body = op.regions[0]
    trips = cx.const(0) if cx.has(0) else None
    if trips is None or trips.size != 1:
        cx.fail("Loop needs a constant trip count M to unroll (a run-time count or a while-loop has no static form)")
    trips = int(trips.reshape(-1)[0])
    if cx.has(1) and not _is_true(cx, cx.operand(1)):
        cx.fail("Loop's initial condition must be a constant true")
    cond_out = body.terminator.operands[0]
    if cond_out is not body.args[1] and not _is_true(cx, cond_out):
        cx.fail("Loop bodies that compute their exit condition are not supported (only a fixed trip count)")
    if not 0 < trips <= MAX_UNROLL:
        cx.fail(f"Loop trip count {trips} must be 1..{MAX_UNROLL} to unroll")
    n_carried = len(op.operands) - 2
    n_scan = len(op.results) - n_carried
    carried = [cx.arg(i) for i in range(2, len(op.operands))]
    collected: list[list[str]] = [[] for _ in range(n_scan)]
    cond = cx.tensor(np.array(True), hint="loop_cond")
    for i in range(trips):
        out = cx.emit_region(body, [cx.tensor(np.array(i, np.int64), hint=f"iteration_{i}"), cond, *carried])
        carried = out[1:1 + n_carried]
        for k in range(n_scan):
            collected[k].append(out[1 + n_carried + k])
    return tuple(carried) + tuple(f"ops.stack(({', '.join(items)},), 0)" for items in collected)
