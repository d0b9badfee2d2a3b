"""First-divergence search: which op's output first differs between two executions of a model.

Two searches share one comparison:
- across a pass: the IR before the pass (a snapshot) and after it, both run in onnxruntime; values
  are matched by identity (the snapshot remembers which value it copied), new values by their users;
- across the backend: the final IR (onnxruntime) and the generated MindSpore network rebuilt so that
  it returns every intermediate value.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter.ir.core import Module, Op, Value
from mindconverter.ir.printer import print_module, value_names
from mindconverter.runtime_check.compare import compare_output
from mindconverter.runtime_check.evaluate import DATA_OPS, Snapshot, run_ir


@attrs.define
class Divergence:
    """The first op whose output differs: where (stage, op, value, source location), how much, and at which index."""

    stage: str
    op: str
    value: str
    loc: str
    max_abs_err: float
    max_rel_err: float
    rtol: float
    atol: float
    index: list[int]
    shape: list[int]
    problem: str = ""
    note: str = ""
    ir_line: str = ""
    dumps: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def describe(self) -> str:
        """`%9 = "onnx.Sub" loc("Add_3") at index [0, 17]: max abs diff 3.1e-02`."""
        err = self.problem or f"max abs diff {self.max_abs_err:.3g} (atol {self.atol:g}, rtol {self.rtol:g})"
        return f"{self.value} = '{self.op}' loc(\"{self.loc}\") at index {self.index}: {err}" + (f"; {self.note}" if self.note else "")


def _ir_line(module: Module, op: Op) -> str:
    text = print_module(module)
    names = value_names(module.main)
    first = ", ".join(names.get(r, "?") for r in op.results)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{first} = \"{op.name}\""):
            return stripped
    return ""


def _culprit(op: Op, is_new: Callable[[Value], bool], order: dict[Op, int]) -> Op:
    """The earliest new op (created by the pass) feeding `op` through new values, else `op` itself."""
    found: list[Op] = []
    stack = [v for v in op.operands if v is not None and is_new(v)]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if id(v) in seen or v.op is None:
            continue
        seen.add(id(v))
        if v.op.name in DATA_OPS:
            continue
        found.append(v.op)
        stack.extend(u for u in v.op.operands if u is not None and is_new(u))
    return min(found, key=lambda o: order.get(o, 0)) if found else op


def _make(stage: str, module: Module, culprit: Op, compared: Op, value: Value, cmp, note: str) -> Divergence:
    names = value_names(module.main)
    return Divergence(
        stage=stage,
        op=culprit.name,
        value=", ".join(names.get(r, "?") for r in culprit.results) or "(no result)",
        loc=culprit.loc_name if culprit.loc else "",
        max_abs_err=cmp.max_abs_err,
        max_rel_err=cmp.max_rel_err,
        rtol=cmp.rtol,
        atol=cmp.atol,
        index=cmp.worst_index,
        shape=cmp.shape,
        problem=cmp.problem,
        note=note if culprit is compared else (
            f"{note + '; ' if note else ''}{culprit.name} was created by '{stage}'; its result first shows up in "
            f"{names.get(value, '?')} = '{compared.name}'" + (f" loc(\"{compared.loc_name}\")" if compared.loc else "")
        ),
        ir_line=_ir_line(module, culprit),
    )


def _search(
    stage: str,
    module: Module,
    got: dict[Value, np.ndarray],
    expected_of: Callable[[Value], np.ndarray | None],
    rtol: float | None,
    atol: float | None,
    is_new: Callable[[Value], bool],
) -> Divergence | None:
    ops = [op for op in module.main.body.ops if op.name not in DATA_OPS]
    order = {op: i for i, op in enumerate(ops)}
    for op in ops:
        for r in op.results:
            want = expected_of(r)
            if want is None or r not in got:
                continue
            cmp = compare_output(str(r), got[r], want, rtol, atol)
            if not cmp.passed:
                return _make(stage, module, _culprit(op, is_new, order), op, r, cmp, "")
    return None


def pass_divergence(
    stage: str, before: Snapshot, after: Module, inputs: list[np.ndarray], rtol: float | None, atol: float | None
) -> Divergence | None:
    """The first op of `after` (the IR a pass produced) whose value differs from the IR before the pass."""
    old = run_ir(before.module, inputs, intermediates=True).values
    new = run_ir(after, inputs, intermediates=True).values
    if not old or not new:
        return None

    def expected_of(v: Value) -> np.ndarray | None:
        c = before.copy_of.get(v)
        return old.get(c) if c is not None else None

    def is_new(v: Value) -> bool:
        return v not in before.copy_of

    found = _search(stage, after, new, expected_of, rtol, atol, is_new)
    if found is not None:
        return found
    # Nothing matched by identity differs: the outputs themselves are new values; compare by position.
    old_outs = before.module.main.outputs
    for i, v in enumerate(after.main.outputs):
        if i < len(old_outs) and v in new and old_outs[i] in old:
            cmp = compare_output(str(v), new[v], old[old_outs[i]], rtol, atol)
            if not cmp.passed and v.op is not None:
                order = {op: k for k, op in enumerate(after.main.body.ops)}
                return _make(stage, after, _culprit(v.op, is_new, order) if is_new(v) else v.op, v.op, v, cmp, "")
    return None


def backend_divergence(
    module: Module, inputs: list[np.ndarray], rtol: float | None, atol: float | None, mode: str = "pynative", *,
    write_network: Callable[[Module, Path], tuple[Path, Path]],
) -> Divergence | None:
    """The first op whose value in the generated MindSpore network differs from the IR run in onnxruntime.

    The network is regenerated by `write_network` (the driver passes the backend's) from `module`
    with every top-level value as an extra output.
    """
    from mindconverter.runtime_check.mindspore_run import run_network

    reference = run_ir(module, inputs, intermediates=True).values
    if not reference:
        return None
    func = module.main
    ret = func.return_op
    values = [r for op in func.body.ops if op.name not in DATA_OPS for r in op.results]
    saved = (list(ret.operands), ret.attrs.get("names"))
    ret.operands[:] = values
    ret.attrs["names"] = [f"v{i}" for i in range(len(values))]
    with tempfile.TemporaryDirectory(prefix="mc_divergence_") as tmp:
        try:
            script, ckpt = write_network(module, Path(tmp))
        finally:
            ret.operands[:] = saved[0]
            if saved[1] is None:
                ret.attrs.pop("names", None)
            else:
                ret.attrs["names"] = saved[1]
        got_list = run_network(script, ckpt, inputs, mode)
    got: dict[Value, np.ndarray] = {}
    for v, x in zip(values, got_list, strict=False):
        try:
            got[v] = np.asarray(x)
        except Exception:  # noqa: BLE001 - a value MindSpore keeps in another form is just not compared
            continue
    return _search("backend", module, got, reference.get, rtol, atol, lambda v: False)


def reference_values(model, feeds: dict[str, np.ndarray], base_dir=None) -> dict[str, np.ndarray]:
    """Every typed intermediate tensor of the source model run in onnxruntime, by ONNX tensor name
    (external data read from `base_dir`)."""
    import onnx
    import onnxruntime as ort

    from mindconverter.runtime_check.reference import session

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - then only declared types are known
        inferred = model
    typed = {vi.name: vi for vi in inferred.graph.value_info if vi.type.tensor_type.elem_type}
    extended = onnx.ModelProto()
    extended.CopyFrom(model)
    present = {o.name for o in extended.graph.output}
    names = [o for n in extended.graph.node for o in n.output if o and o in typed and o not in present]
    extended.graph.output.extend(typed[n] for n in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    run = session(extended, base_dir, options)
    outs = [o.name for o in run.get_outputs()]
    return dict(zip(outs, (np.asarray(x) for x in run.run(None, feeds)), strict=True))


def frontend_divergence(
    stage: str, model, feeds: dict[str, np.ndarray], module: Module, inputs: list[np.ndarray],
    rtol: float | None, atol: float | None, base_dir=None,
) -> Divergence | None:
    """The first op of the frontend's IR whose value differs from the source model's tensor of the same name."""
    ref = reference_values(model, feeds, base_dir)
    got = run_ir(module, inputs, intermediates=True).values
    if not got:
        return None

    def expected_of(v: Value) -> np.ndarray | None:
        return ref.get(v.name) if v.name else None

    return _search(stage, module, got, expected_of, rtol, atol, lambda v: False)
