"""ONNX conformance: run every node case of `onnx.backend.test` through the real conversion pipeline.

    .venv/bin/python -m tests.conformance.runner [--only PREFIX ...] [--jobs 2] [--batch 40] [--write-expected]

Each case's model is converted (frontend -> default passes -> generated Cell + checkpoint), run in
MindSpore (PYNATIVE) on the case's inputs and compared with the case's expected outputs: rtol 1e-3 /
atol 1e-4 for float32/float64, the dtype's own tolerance for float16/bfloat16, exact for ints and
bools; dtype and shape must match too. Cases using types MindSpore tensors cannot hold (sequences,
optionals, strings, float8, int4, complex) or random/training ops are classified up front as
inexpressible and not run.

Cases run in worker subprocesses, `--batch` per process, `--jobs` processes at a time; a batch
whose process dies (a segfault inside MindSpore) is re-run one case per process, so one crash
costs one case. Prints the pass rate per op type and the total; `--write-expected` records every
result in tests/conformance/expected.json (the file the CI test compares against).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXPECTED = HERE / "expected.json"
RTOL, ATOL = 1e-3, 1e-4

# ONNX element types MindSpore tensors cannot represent (TensorProto enum names).
_INEXPRESSIBLE_ELEM = {
    "STRING": "string tensor",
    "COMPLEX64": "complex type", "COMPLEX128": "complex type",
    "FLOAT8E4M3FN": "float8 type", "FLOAT8E4M3FNUZ": "float8 type", "FLOAT8E5M2": "float8 type",
    "FLOAT8E5M2FNUZ": "float8 type", "FLOAT8E8M0": "float8 type",
    "INT4": "int4/uint4 type", "UINT4": "int4/uint4 type", "FLOAT4E2M1": "float4 type",
    "INT2": "int2/uint2 type", "UINT2": "int2/uint2 type",
}
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial"}
_SEQUENCE_OPS = {
    "SequenceConstruct", "SequenceAt", "SequenceEmpty", "SequenceInsert", "SequenceErase", "SequenceLength",
    "SplitToSequence", "ConcatFromSequence", "SequenceMap", "Optional", "OptionalHasElement", "OptionalGetElement",
}
_TRAINING_DOMAINS = {"ai.onnx.preview.training"}


# -- cases ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def collect_node_cases() -> dict:
    """name -> onnx TestCase for every node case (collected once per process; ~5 s)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return {c.name: c for c in cases if c.kind == "node"}


@lru_cache(maxsize=1)
def _schema_names() -> dict[str, str]:
    """Normalised name (lowercase, no underscores) -> ONNX op type, for the ai.onnx and ai.onnx.ml domains."""
    import onnx.defs

    return {s.name.lower(): s.name for s in onnx.defs.get_all_schemas_with_history()}


#: Test-name prefixes that abbreviate the op (normalised: lowercase, no underscores).
_ALIASES = {"nllloss": "NegativeLogLikelihoodLoss", "sce": "SoftmaxCrossEntropyLoss", "mvn": "MeanVarianceNormalization",
            "clip": "Clip"}


def op_type_of(case) -> str:
    """The op type a case tests: the longest op name its test name starts with, else its first node's op."""
    stem = case.name.removeprefix("test_").replace("_", "").lower()
    for prefix, op in _ALIASES.items():
        if case.name.removeprefix("test_").split("_")[0] == prefix:
            return op
    names = _schema_names()
    best = ""
    for key in names:
        if stem.startswith(key) and len(key) > len(best):
            best = key
    nodes = case.model.graph.node
    if len(nodes) == 1 and (not best or names[best] != nodes[0].op_type):
        return nodes[0].op_type  # `test_basic_conv_...`, `test_gradient_...`: the node says what it is
    return names[best] if best else (nodes[0].op_type if nodes else "?")


def _type_problem(tp) -> str | None:
    """Why a TypeProto is inexpressible as a MindSpore tensor, or None."""
    from onnx import TensorProto

    kind = tp.WhichOneof("value")
    if kind in ("sequence_type", "optional_type", "map_type", "sparse_tensor_type"):
        return f"non-tensor type ({kind.removesuffix('_type')})"
    if kind == "tensor_type":
        name = TensorProto.DataType.Name(tp.tensor_type.elem_type)
        return _INEXPRESSIBLE_ELEM.get(name)
    return None


def classify(case) -> tuple[str, str] | None:
    """(category, reason) when the case cannot be expressed with MindSpore tensors at all, else None."""
    graph = case.model.graph
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        problem = _type_problem(vi.type)
        if problem:
            return problem, f"'{vi.name}' has a {problem}"
    for node in _all_nodes(graph):
        if node.domain in _TRAINING_DOMAINS:
            return "training op", f"{node.op_type} is a training op ({node.domain})"
        if node.op_type in _RANDOM_OPS:
            return "random op", f"{node.op_type} draws random numbers: no reproducible expected output"
        if node.op_type in _SEQUENCE_OPS:
            return "non-tensor type (sequence)", f"{node.op_type} works on sequences/optionals"
        for a in node.attribute:
            if a.type == a.TENSOR and _INEXPRESSIBLE_ELEM.get(_elem_name(a.t.data_type)):
                return _INEXPRESSIBLE_ELEM[_elem_name(a.t.data_type)], f"attribute '{a.name}' of {node.op_type}"
            if a.name == "to" and a.type == a.INT and _INEXPRESSIBLE_ELEM.get(_elem_name(a.i)):
                return _INEXPRESSIBLE_ELEM[_elem_name(a.i)], f"{node.op_type} to {_elem_name(a.i)}"
    if case.name.startswith("test_training_dropout") and "zero_ratio" not in case.name:
        return "random op", "Dropout in training mode draws a random mask"
    for inputs, outputs in case.data_sets:
        for x in map(_as_array, list(inputs) + list(outputs)):
            if not isinstance(x, (np.ndarray, np.generic)):
                return "non-tensor type (sequence)", f"a {type(x).__name__} input or output"
            if x.dtype == object or x.dtype.kind in "cUS":
                return "string tensor" if x.dtype.kind != "c" else "complex type", f"a {x.dtype} input or output"
    return None


def _as_array(x):
    """Case data as numpy: onnx keeps some (Cast's float8/bfloat16 cases) as TensorProto."""
    import onnx
    from onnx import numpy_helper

    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x


def _elem_name(code: int) -> str:
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(code)
    except ValueError:
        return "?"


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for a in node.attribute:
            if a.type == a.GRAPH:
                yield from _all_nodes(a.g)
            for g in a.graphs:
                yield from _all_nodes(g)


# -- one case, in-process -----------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {line}"[:240]


def run_case(name: str, model, data_sets, workdir: Path | None = None) -> dict:
    """Convert one case, run it in PYNATIVE mode and compare; returns {"status", "reason", "category"}."""
    from mindconverter.runtime_check.compare import compare_output, tolerance_for

    workdir = Path(workdir or tempfile.mkdtemp(prefix="mc_conf_"))
    try:
        gen, script, ckpt = _convert(model, workdir)
    except Exception as exc:  # noqa: BLE001 - every failure is a result
        return _fail("conversion error", _first_line(exc))
    if gen.unsupported:
        parts = [f"{u.op_name}: {u.reason}" for u in gen.unsupported[:2]]
        return _fail("unsupported", "; ".join(parts)[:300])
    from mindconverter.runtime_check.mindspore_run import run_network

    init = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    for inputs, expected in data_sets:
        inputs, expected = [_as_array(x) for x in inputs], [_as_array(x) for x in expected]
        by_name = dict(zip([i.name for i in model.graph.input], inputs, strict=False))
        feeds = [np.asarray(by_name[n]) for n in names if n in by_name]
        try:
            got = run_network(script, ckpt, feeds, "pynative")
        except Exception as exc:  # noqa: BLE001
            return _fail("mindspore error", _first_line(exc))
        if len(got) != len(expected):
            return _fail("mismatch", f"{len(got)} outputs, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            e = np.asarray(e)
            if str(g.dtype) != str(e.dtype):  # two bfloat16 types (MindSpore's, ml_dtypes') compare unequal
                return _fail("mismatch", f"output {i}: dtype {g.dtype} != expected {e.dtype}")
            # float16/bfloat16 results are only as exact as their type: use its own tolerance.
            rtol, atol = (RTOL, ATOL) if e.dtype.itemsize >= 4 or e.dtype.kind != "f" else tolerance_for(e.dtype)
            parity = compare_output(str(i), g, e, rtol, atol)
            if not parity.passed:
                what = parity.problem or f"max abs err {parity.max_abs_err:.3g} at {parity.worst_index}"
                return _fail("mismatch", f"output {i}: {what}")
    return {"status": "pass", "reason": "", "category": "pass"}


def _fail(category: str, reason: str) -> dict:
    return {"status": "fail", "reason": f"{category}: {reason}" if not reason.startswith(category) else reason,
            "category": category}


def _convert(model, workdir: Path):
    import onnx

    from mindconverter.backend.cell_writer import generate
    from mindconverter.backend.checkpoint import write_checkpoint
    from mindconverter.frontend.onnx import load_onnx
    from mindconverter.passes.manager import run_default_pipeline

    src = workdir / "model.onnx"
    onnx.save(model, str(src))
    source = load_onnx(src)
    run_default_pipeline(source.module)
    gen = generate(source.module)
    script, ckpt = workdir / "model.py", workdir / "model.ckpt"
    script.write_text(gen.code)
    write_checkpoint(gen.checkpoint, ckpt)
    return gen, script, ckpt


def run_named_case(name: str) -> dict:
    """Classify and run one collected case by name (used by the CI test)."""
    case = collect_node_cases()[name]
    problem = classify(case)
    if problem:
        return {"status": "fail", "reason": f"inexpressible: {problem[0]}: {problem[1]}", "category": "inexpressible"}
    return run_case(case.name, case.model, case.data_sets)


# -- workers ------------------------------------------------------------------------------------------


def _worker(batch_file: Path, result_file: Path) -> None:
    """Run the pickled cases of one batch, appending one JSON line per case (flushed, so a crash loses one)."""
    import logging

    logging.disable(logging.WARNING)
    from mindconverter.runtime_check.mindspore_run import import_mindspore

    import_mindspore()
    cases = pickle.loads(batch_file.read_bytes())
    with open(result_file, "a") as out, warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name, model, data_sets in cases:
            out.write(json.dumps({"start": name}) + "\n")
            out.flush()
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="mc_conf_") as tmp:
                try:
                    result = run_case(name, model, data_sets, Path(tmp))
                except Exception as exc:  # noqa: BLE001 - a bug in the runner itself
                    result = _fail("runner error", _first_line(exc) + " " + traceback.format_exc(limit=1)[-120:])
            result.update(name=name, seconds=round(time.perf_counter() - start, 2))
            out.write(json.dumps(result) + "\n")
            out.flush()


def _run_batch(cases: list, tmp: Path, index: int, timeout: float) -> dict[str, dict]:
    """Run cases in one subprocess; returns results for the cases it finished."""
    batch_file, result_file, log_file = tmp / f"b{index}.pkl", tmp / f"b{index}.jsonl", tmp / f"b{index}.log"
    batch_file.write_bytes(pickle.dumps([(c.name, c.model, c.data_sets) for c in cases]))
    env = dict(os.environ, GLOG_v="3", PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "tests.conformance.runner", "--worker", str(batch_file), str(result_file)]
    crashed = ""
    with open(log_file, "w") as log:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
            if proc.returncode != 0:
                crashed = f"worker exited with code {proc.returncode}"
        except subprocess.TimeoutExpired:
            crashed = f"timeout after {timeout:.0f} s"
    results = {}
    if result_file.exists():
        for line in result_file.read_text().splitlines():
            rec = json.loads(line)
            if "status" in rec:
                results[rec["name"]] = rec
    if crashed and len(cases) == 1 and cases[0].name not in results:
        tail = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()][-1:]
        reason = crashed + (f" ({tail[0].strip()[:160]})" if tail else "")
        results[cases[0].name] = {"name": cases[0].name, **_fail("crash", reason)}
    return results


def run_cases(cases: list, jobs: int = 2, batch: int = 40, progress: bool = True) -> dict[str, dict]:
    """Run cases in subprocess batches; crashed batches are re-run one case per process."""
    results: dict[str, dict] = {}
    batches = [cases[i:i + batch] for i in range(0, len(cases), batch)]
    done = [0]
    with tempfile.TemporaryDirectory(prefix="mc_conformance_") as tmpdir:
        tmp = Path(tmpdir)
        counter = iter(range(10**9))

        def one(group: list) -> dict[str, dict]:
            got = _run_batch(group, tmp, next(counter), timeout=120 + 30 * len(group))
            missing = [c for c in group if c.name not in got]
            for c in missing:  # the crash (or hang) of one case must not cost the others
                got.update(_run_batch([c], tmp, next(counter), timeout=300))
            done[0] += len(group)
            if progress:
                passed = sum(r["status"] == "pass" for r in got.values())
                print(f"  [{done[0]}/{len(cases)}] batch {group[0].name}..: {passed}/{len(group)} pass"
                      + (f", {len(missing)} re-run singly" if missing else ""), file=sys.stderr, flush=True)
            return got

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for got in pool.map(one, batches):
                results.update(got)
    return results


# -- the whole suite ----------------------------------------------------------------------------------


def run_suite(only: list[str] | None = None, jobs: int = 2, batch: int = 40, progress: bool = True) -> dict[str, dict]:
    """Results for every (selected) node case: name -> {"status", "reason", "category", "op"}."""
    cases = collect_node_cases()
    selected = [c for name, c in sorted(cases.items()) if not only or any(name.startswith(p) for p in only)]
    results: dict[str, dict] = {}
    runnable = []
    for c in selected:
        problem = classify(c)
        if problem:
            results[c.name] = {"status": "fail", "reason": f"inexpressible: {problem[0]}: {problem[1]}",
                               "category": "inexpressible"}
        else:
            runnable.append(c)
    if progress:
        print(f"{len(selected)} cases: {len(runnable)} to run, {len(selected) - len(runnable)} inexpressible",
              file=sys.stderr, flush=True)
    results.update(run_cases(runnable, jobs, batch, progress))
    for c in selected:
        results[c.name]["op"] = op_type_of(c)
    return {name: results[name] for name in sorted(results)}


def summary(results: dict[str, dict]) -> str:
    """Pass rate per op type, top failure reasons and the total."""
    per_op: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    reasons: collections.Counter = collections.Counter()
    for r in results.values():
        per_op[r["op"]][1] += 1
        if r["status"] == "pass":
            per_op[r["op"]][0] += 1
        else:
            reasons[_reason_key(r["reason"])] += 1
    lines = [f"{'op type':32} {'passed':>7} {'total':>6}"]
    for op, (p, t) in sorted(per_op.items()):
        lines.append(f"{op:32} {p:7d} {t:6d}" + ("" if p == t else "  *"))
    lines.append("")
    lines.append("top failure reasons:")
    for reason, n in reasons.most_common(25):
        lines.append(f"  {n:5d}  {reason}")
    passed = sum(r["status"] == "pass" for r in results.values())
    lines.append("")
    lines.append(f"TOTAL: {passed}/{len(results)} node cases pass ({100.0 * passed / max(1, len(results)):.1f}%)")
    return "\n".join(lines)


def _reason_key(reason: str) -> str:
    """A failure reason with its numbers and names blurred, so similar failures group together."""
    key = re.sub(r"'(?!onnx\.)[^']*'", "'…'", reason)
    key = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", key)
    return key[:110]


def write_expected(results: dict[str, dict], path: Path = EXPECTED, merge: bool = True) -> None:
    """Record results (name -> status, reason, op); with `merge`, cases not run keep their old entry."""
    old = json.loads(path.read_text()) if merge and path.exists() else {}
    for name, r in results.items():
        old[name] = {"status": r["status"], "op": r["op"], "reason": r["reason"]}
    path.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n")


def load_expected(path: Path = EXPECTED) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run only cases whose name starts with one of these")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=40, help="cases per worker process")
    parser.add_argument("--write-expected", action="store_true", help=f"record the results in {EXPECTED.name}")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return 0
    only = [p if p.startswith("test_") else f"test_{p}" for p in args.only] if args.only else None
    start = time.perf_counter()
    results = run_suite(only, args.jobs, args.batch, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    print(summary(results))
    print(f"time: {elapsed:.0f} s with --jobs {args.jobs} --batch {args.batch}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write_expected:
        write_expected(results, merge=bool(only))
        print(f"wrote {EXPECTED.relative_to(ROOT)}")
    if not only:
        regressions = [n for n, e in load_expected().items() if e["status"] == "pass" and results.get(n, {}).get("status") != "pass"]
        if regressions:
            print(f"REGRESSIONS ({len(regressions)}): {', '.join(regressions[:20])}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
