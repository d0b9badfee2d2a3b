"""Run the IR: export it to ONNX (weights fed as inputs, no copy) and execute it in onnxruntime.

`onnx.*` ops have ONNX semantics, so onnxruntime is their reference implementation. Our own
`mc.*` ops run through their declared decomposition (`ir.dialect.lower_to_onnx`); a module with
ops that have neither is "not executable" (NotExecutable), which the checker reports, not fails.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import numpy as np

from mindconverter.errors import RuntimeCheckError
from mindconverter.ir.core import Block, Builder, Module, Op, Value, WeightStore, erase_op, replace_uses

#: Ops that define data, not computation: never compared on their own.
DATA_OPS = ("ir.param", "ir.const", "ir.return", "ir.yield")


class NotExecutable(Exception):
    """The IR holds ops that neither onnxruntime nor a declared decomposition can run."""


@attrs.define
class IRRun:
    """The outputs of one IR execution and, when asked, the value of every top-level op result."""

    outputs: list[np.ndarray]
    values: dict[Value, np.ndarray]


def _foreign_ops(module: Module) -> list[str]:
    return sorted({op.name for op in module.ops() if op.dialect not in ("onnx", "ir")})


@attrs.define
class Snapshot:
    """A deep copy of a module sharing the weight arrays, with the value correspondence."""

    module: Module
    copy_of: dict[Value, Value]  # value of the original module -> its copy in `module`


def snapshot(module: Module) -> Snapshot:
    """Copy `module` (weights are shared, not copied) and remember which copy each value became."""
    weights = WeightStore()
    for key in module.weights.keys():
        weights.set(key, module.weights.get(key), module.weights.origin.get(key))
    memo: dict[int, Any] = {id(module.weights): weights}
    copied = copy.deepcopy(module, memo)
    live = [a for f in module.funcs for a in f.args] + [r for op in module.ops() for r in op.results]
    return Snapshot(copied, {v: memo[id(v)] for v in live if id(v) in memo})


def _root_block(block: Block) -> Block:
    while isinstance(block.parent, Op) and block.parent.parent is not None:
        block = block.parent.parent
    return block


def executable(module: Module) -> tuple[Module, dict[Value, Value] | None]:
    """`module` when all its ops have ONNX semantics (mapping None), else a lowered copy and value mapping.

    The copy has every `mc.*` op replaced by its declared decomposition (ir.dialect); the mapping
    takes each value of `module` to the copy's value computing it. Raises NotExecutable otherwise.
    """
    foreign = _foreign_ops(module)
    if not foreign:
        return module, None
    try:
        from mindconverter.ir import dialect
    except ImportError:
        raise NotExecutable(f"ops without an ONNX decomposition: {', '.join(foreign)}") from None
    unknown = [n for n in foreign if n not in getattr(dialect, "DIALECT", {})]
    if unknown:
        raise NotExecutable(f"ops without an ONNX decomposition: {', '.join(unknown)}")
    snap = snapshot(module)
    lowered = snap.module
    replaced: dict[Value, Value] = {}
    try:
        while True:
            pending = [op for op in lowered.ops() if op.dialect == "mc"]
            if not pending:
                break
            op = pending[0]
            spec = dialect.DIALECT[op.name].of(op)
            new = spec.decompose(Builder.before(op), op, lowered.weights)
            replaced.update(zip(op.results, new, strict=True))
            replace_uses(_root_block(op.parent), dict(zip(op.results, new, strict=True)))
            erase_op(op)
    except Exception as exc:  # noqa: BLE001 - a failing decomposition makes the stage unverifiable, not the run
        raise NotExecutable(f"lowering {', '.join(foreign)} to ONNX failed: {type(exc).__name__}: {exc}") from exc
    left = _foreign_ops(lowered)
    if left:
        raise NotExecutable(f"ops without an ONNX decomposition: {', '.join(left)}")
    mapping = {}
    for v, c in snap.copy_of.items():
        while c in replaced:
            c = replaced[c]
        mapping[v] = c
    return lowered, mapping


def run_ir(module: Module, inputs: list[np.ndarray], *, intermediates: bool = False) -> IRRun:
    """Execute `module.main` on `inputs` (one array per argument) in onnxruntime.

    With `intermediates`, every result of a top-level op is fetched too (`IRRun.values`).
    Raises NotExecutable for foreign ops and RuntimeCheckError when onnxruntime refuses the IR.
    """
    import onnxruntime as ort

    from mindconverter.ir.onnx_bridge import func_to_onnx

    runnable, mapping = executable(module)
    func = runnable.main
    extra: list[Value] = []
    if intermediates:
        extra = [r for op in func.body.ops if op.name not in DATA_OPS for r in op.results]
    try:
        model, names = func_to_onnx(runnable, extra_outputs=extra, with_weights=False)
    except ValueError as exc:
        raise NotExecutable(str(exc)) from exc
    feeds = {names[a]: x for a, x in zip(func.args, inputs, strict=True)}
    for op in func.body.ops:
        if op.name in ("ir.param", "ir.const") and "key" in op.attrs and op.result in names:
            feeds[names[op.result]] = np.ascontiguousarray(runnable.weights.get(op.attrs["key"]))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Basic rewrites only: the IR is being checked, so onnxruntime should run it as written (and start fast).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        results = [np.asarray(x) for x in session.run(None, feeds)]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise RuntimeCheckError(
            f"onnxruntime cannot run the IR: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            fix="the IR may be malformed; look at its dump (--dump-ir DIR)",
        ) from exc
    outs = list(func.outputs)
    values: dict[Value, np.ndarray] = {}
    n = len(outs)
    for v, x in zip(outs, results[:n], strict=True):
        values[v] = x
    for v, x in zip([v for v in extra if v not in outs], results[n:], strict=True):
        values[v] = x
    if mapping is not None:  # back from the lowered copy's values to the module's own
        values = {v: values[c] for v, c in mapping.items() if c in values}
    return IRRun(results[:n], values)
