"""The driver: `convert()` wires frontend -> passes -> backend -> parity check -> outputs."""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter import __version__, staging
from mindconverter.errors import ArgumentError, FileWriteError, MindConverterError, ParityError, UnsupportedOpsError

log = logging.getLogger("mindconverter")

CHECK_CHOICES = ("off", "end", "each")
MODE_CHOICES = ("pynative", "graph", "both")


@attrs.define
class ConversionResult:
    """Paths of what was written, the report (as in report_of_NAME.json) and the parity results."""

    name: str
    script: Path
    checkpoint: Path
    report_txt: Path
    report_json: Path
    weight_map: Path
    report: dict[str, Any]
    unsupported: list[dict[str, Any]]

    @property
    def parity(self) -> list[dict[str, Any]]:
        return self.report.get("parity", [])

    @property
    def stages(self) -> list[dict[str, Any]]:
        """One row per checked stage (frontend, each pass, backend) with its status and max errors."""
        return self.report.get("stages", [])

    @property
    def first_divergence(self) -> dict[str, Any] | None:
        """Where a failing check first diverged: stage, op, value, loc, error, index (None if it passed)."""
        return self.report.get("first_divergence")

    @property
    def parity_passed(self) -> bool | None:
        stages = self.parity
        return None if not stages else all(s["passed"] for s in stages)

    def load(self, class_name: str = "MindSporeModel"):
        """Import the generated script and return the network with the checkpoint loaded."""
        from mindconverter.runtime_check.mindspore_run import build_network

        net, missing, unused = build_network(self.script, self.checkpoint, class_name)
        if missing or unused:
            raise MindConverterError(f"checkpoint does not fit the network: missing {missing[:3]}, unused {unused[:3]}")
        return net


@attrs.define
class Reference:
    """What the generated network is checked against, when that is not onnxruntime running the model file."""

    #: Who computes the expected outputs, for messages ("torch").
    label: str
    #: The source as the generated script's docstring names it ("the torch module ResNet").
    source: str
    #: Inputs (numpy, in the model's input order) -> expected outputs.
    run: Callable[[list[np.ndarray]], list[np.ndarray]]
    #: The report's `source.format` (default: the label).
    format: str | None = None


def _pair_shapes(
    shape: Sequence[str | Sequence[int]] | None, input_nodes: Sequence[str] | None, model_inputs: Callable[[], list[str]]
) -> dict[str, tuple[int, ...]]:
    """--shape values by input name; `model_inputs()` (which parses the model) is called only when names are missing."""
    from mindconverter.frontend.onnx import parse_shape

    shapes = [parse_shape(s) if isinstance(s, str) else tuple(int(d) for d in s) for s in (shape or [])]
    nodes = list(input_nodes or [])
    if not shapes:
        return {}
    if not nodes:
        model_inputs = model_inputs()
        if len(model_inputs) != len(shapes):
            raise ArgumentError(
                f"--shape gives {len(shapes)} shape(s) but the model has {len(model_inputs)} inputs ({', '.join(model_inputs)})",
                fix="name the inputs with --input_nodes, one per --shape",
            )
        nodes = model_inputs
    if len(nodes) != len(shapes):
        raise ArgumentError(
            f"--input_nodes names {len(nodes)} input(s) but --shape gives {len(shapes)}",
            fix="give one --shape per --input_nodes entry, in the same order",
        )
    return dict(zip(nodes, shapes, strict=True))


def _load_pb(model_path: Path, shape, input_nodes, output_nodes):
    """The ONNX frontend's source for a frozen GraphDef, and TensorFlow running that GraphDef as the reference."""
    from mindconverter.frontend.pb import load_pb
    from mindconverter.runtime_check.tf_reference import graph_def_runner

    pb = load_pb(model_path, shape, input_nodes, output_nodes)
    run = graph_def_runner(pb.graph_def, pb.input_tensors, pb.output_tensors)
    return pb.onnx, Reference("TensorFlow", f"the TensorFlow graph {model_path.name}", run, format="pb")


def _model_inputs(model_file: Path) -> list[str]:
    import onnx

    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception:  # noqa: BLE001 - the frontend reports unreadable models properly
        return []
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def output_paths(name: str, output: Path, report: Path) -> dict[str, Path]:
    """The five output files of a conversion (MindConverter's layout)."""
    return {
        "script": output / f"{name}.py",
        "checkpoint": output / f"{name}.ckpt",
        "report_txt": report / f"report_of_{name}.txt",
        "weight_map": report / f"weight_map_of_{name}.json",
        "report_json": report / f"report_of_{name}.json",
    }


def convert(
    model_file: str | os.PathLike[str],
    shape: Sequence[str | Sequence[int]] | None = None,
    input_nodes: Sequence[str] | None = None,
    output_nodes: Sequence[str] | None = None,
    output: str | os.PathLike[str] = "output",
    report: str | os.PathLike[str] | None = None,
    *,
    check: str = "end",
    check_mode: str = "pynative",
    rtol: float | None = None,
    atol: float | None = None,
    input_data: str | os.PathLike[str] | None = None,
    seed: int = 0,
    check_sizes: dict[str, Any] | Sequence[str] | None = None,
    dump_ir: str | os.PathLike[str] | None = None,
    print_ir_after_all: bool = False,
    passes: Sequence[str | Callable[..., bool]] | None = None,
    overwrite: bool = False,
    allow_unsupported: bool = False,
    pass_plugins: Sequence[str | os.PathLike[str]] = (),
    skip_passes: Sequence[str] = (),
    print_ir_after: Sequence[str] = (),
    print_ir_after_change: bool = False,
    print_ir_after_failure: bool = False,
    resume_ir: str | os.PathLike[str] | None = None,
    explain_patterns: Sequence[str] = (),
    pass_options: dict[str, Any] | None = None,
    reference: Reference | None = None,
    fold_batchnorm: bool = False,
) -> ConversionResult:
    """Convert an ONNX model (or a TensorFlow frozen graph) to a MindSpore script + checkpoint + reports, and check parity.

    `check="each"` also runs the IR after the frontend and after every pass that changed it, and on
    a mismatch names the first diverging op. `passes` is a pipeline of pass names or registered pass
    functions; `pass_plugins` are .py files imported first (their decorators register passes).
    `resume_ir` starts from an (edited) IR dump instead of the frontend's IR: weights come from the
    model's initializers and the dump folder's weights.npz; only `passes` run (none by default).
    `explain_patterns` prints, for each named pattern, every root candidate and why it did not
    match, just before the pattern's pass runs (or after all passes if it is not in the pipeline).
    `fold_batchnorm` adds the fold-batchnorm pass (Conv + BatchNorm -> one Conv: for deployment; the
    default keeps nn.BatchNorm2d with its moving statistics so the network trains).
    `check_sizes` gives test sizes for symbolic input dims (`{"batch": [1, 3], "seq": [5, 16]}`):
    the check runs at every combination (runtime_check/sizes.py chooses them when not given).
    `pass_options` are read by passes through `ctx.option(...)` (e.g. `dropout-rate`). `reference`
    replaces onnxruntime as the source of expected outputs of the final check (pytorch2mindspore
    checks against the torch module itself); stage checks still run the model file in onnxruntime.
    A `.pb` model (a frozen TensorFlow GraphDef) needs `input_nodes` and `output_nodes`; TensorFlow
    runs the GraphDef as the reference of every check.

    Raises UnsupportedOpsError (after writing everything) when ops could not be converted and
    `allow_unsupported` is False, and ParityError (after writing) when the check fails.
    """
    timings: dict[str, float] = {}
    model_path = Path(model_file)
    if check not in CHECK_CHOICES:
        raise ArgumentError(f"--check must be one of {', '.join(CHECK_CHOICES)}, got '{check}'")
    if check_mode not in MODE_CHOICES:
        raise ArgumentError(f"--check-mode must be one of {', '.join(MODE_CHOICES)}, got '{check_mode}'")
    if not 0 <= int(seed) < 2**63:
        raise ArgumentError(f"--seed must be a non-negative integer below 2**63, got {seed}", fix="e.g. --seed 0")
    if not model_path.is_file():
        raise ArgumentError(f"model file '{model_path}' does not exist", fix="check the --model_file path")
    suffix = model_path.suffix.lower()
    if suffix not in (".onnx", ".pb"):
        raise ArgumentError(f"--model_file must be an .onnx (or .pb) file, got '{model_path.name}'")
    name = model_path.stem
    out_dir = Path(output)
    rep_dir = Path(report) if report is not None else out_dir
    paths = output_paths(name, out_dir, rep_dir)
    staging.check_output_dirs({"--output": out_dir, "--report": rep_dir, "--dump-ir": Path(dump_ir) if dump_ir else None})
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileWriteError(
            f"output file '{existing[0]}' already exists" + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""),
            fix="choose another --output/--report folder, or pass --overwrite to replace them",
        )

    from mindconverter.backend.cell_writer import generate
    from mindconverter.frontend.onnx import load_onnx
    from mindconverter.passes.manager import DEFAULT_PIPELINE, PassManager, load_plugin

    for plugin in pass_plugins:
        load_plugin(plugin)
    pipeline = _pipeline(passes, DEFAULT_PIPELINE if resume_ir is None else (), skip_passes)
    if fold_batchnorm and "fold-batchnorm" not in pipeline:
        # After shape inference and constant folding, before the fusions that rely on the final convs.
        at = pipeline.index("fuse-pad") if "fuse-pad" in pipeline else len(pipeline)
        pipeline = (*pipeline[:at], "fold-batchnorm", *pipeline[at:])

    if suffix == ".pb" and passes is None and resume_ir is None:
        from mindconverter.frontend.pb import PIPELINE_ADDITIONS

        at = pipeline.index("simplify-reshapes") if "simplify-reshapes" in pipeline else len(pipeline)
        pipeline = (*pipeline[:at], *(p for p in PIPELINE_ADDITIONS if p not in skip_passes), *pipeline[at:])

    start = time.perf_counter()
    log.info("[1/4] loading %s", model_path.name)
    if suffix == ".pb":  # tf2onnx, then the ONNX frontend; TensorFlow runs the GraphDef as the reference
        source, tf_reference = _load_pb(model_path, shape, input_nodes, output_nodes)
        reference = reference or tf_reference
    else:
        shapes = _pair_shapes(shape, input_nodes, lambda: _model_inputs(model_path))
        source = load_onnx(model_path, shapes=shapes, outputs=list(output_nodes) if output_nodes else None)
    module = source.module
    first_stage = "frontend"
    resumed_weights: dict[str, np.ndarray] = {}
    if resume_ir is not None:
        module, resumed_weights = _resume(Path(resume_ir), module)
        first_stage = "resumed"
    timings["frontend"] = time.perf_counter() - start

    checker = None
    check_data = None
    if check != "off":
        # Made from the frontend's IR, where the ops that give inputs a meaning (Gather...) are still ONNX ops.
        check_data = _check_data(module, source, input_data, seed, check_sizes)
    if check == "each":
        from mindconverter.errors import RuntimeCheckError
        from mindconverter.runtime_check.stages import StageChecker

        start = time.perf_counter()
        stage_case = check_data.cases(module, first_only=True)[0]  # the IR stages are checked at the first sizes
        try:
            checker = StageChecker(
                source, stage_case.inputs, rtol, atol,
                dump_dir=Path(dump_ir) if dump_ir else rep_dir / f"dumps_of_{name}",
                source_name=model_path.name, expected=reference.run(stage_case.inputs) if suffix == ".pb" else None,
            )
        except RuntimeCheckError as exc:
            log.warning("--check each: no stage checks, the reference does not run: %s", exc.what)
        else:
            checker.check(first_stage, 0, module)
        timings["check"] = time.perf_counter() - start

    explainer = _Explainer(explain_patterns, checker.before_pass if checker else None)
    start = time.perf_counter()
    log.info("[2/4] running passes: %s", ", ".join(pipeline) or "(none)")
    manager = PassManager(
        pipeline,
        dump_dir=Path(dump_ir) if dump_ir else None,
        print_after_all=print_ir_after_all,
        source_name=model_path.name,
        print_after=tuple(print_ir_after),
        print_after_change=print_ir_after_change,
        print_after_failure=print_ir_after_failure,
        before_pass=explainer.before_pass,
        after_pass=checker.after_pass if checker else None,
        dump_frontend=resume_ir is None,
        dump_weights=resumed_weights,
        options=pass_options,
    )
    checked_before = checker.seconds if checker else 0.0
    manager.run(module)
    explainer.finish(module)
    timings["passes"] = time.perf_counter() - start
    if checker is not None:  # the stage checks ran inside the pass manager: count them as checking
        during = checker.seconds - checked_before
        timings["passes"] -= during
        timings["check"] += during

    start = time.perf_counter()
    log.info("[3/4] generating MindSpore code")
    docstring = _docstring(module, source, None, reference)
    gen = generate(module, docstring=docstring)
    timings["backend"] = time.perf_counter() - start

    node_count = sum(1 for op in module.ops() if op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield"))
    stage_dir = staging.stage_dir(out_dir, name)
    try:
        staged = output_paths(name, stage_dir, stage_dir)
        staged["script"].write_text(gen.code)
        from mindconverter.backend.checkpoint import write_checkpoint, write_weight_map

        write_checkpoint(gen.checkpoint, staged["checkpoint"])
        write_weight_map(name, gen.checkpoint, staged["weight_map"])

        parity: list[dict[str, Any]] = [dict(p, sizes=stage_case.sizes) for p in checker.parity] if checker else []
        divergence = checker.divergence if checker else None
        check_note = ""
        if check == "off":
            check_note = "parity check skipped (--check off)"
        elif gen.unsupported:
            check_note = f"parity check skipped: {len(gen.unsupported)} op(s) were not converted"
        else:
            start = time.perf_counter()
            log.info("[4/4] checking parity with %s (%s)", reference.label if reference else "onnxruntime", check_mode)
            cases = check_data.cases(module)
            backend, expected = _check_parity(source, staged, gen, check_mode, rtol, atol, cases, reference, input_data is None)
            if divergence is None and not all(p["passed"] for p in backend):
                at = next(i for i, c in enumerate(cases) for p in backend if not p["passed"] and p["sizes"] == c.sizes)
                divergence = _backend_divergence(module, cases[at].inputs, expected[at], rtol, atol, checked_ir=checker is not None)
            parity += backend
            timings["check"] = timings.get("check", 0.0) + time.perf_counter() - start
            gen.docstring = _docstring(module, source, backend, reference)
            staged["script"].write_text(gen.code)
        stages = list(checker.stages) if checker else []
        if check != "off" and not gen.unsupported:
            stages.append(_backend_stage(parity))

        report_data = _report_json(name, module, source, gen, parity, check_note, timings, node_count)
        if reference is not None:
            report_data["source"]["format"] = reference.format or reference.label
        report_data["stages"] = stages
        if check_data is not None and check_data.plan is not None and check_data.plan.symbols:
            from mindconverter.runtime_check.sizes import size_summary

            report_data["check_sizes"] = dict(check_data.plan.to_json(), results=size_summary(parity))
        report_data["first_divergence"] = divergence.to_json() if divergence else None
        staged["report_json"].write_text(json.dumps(report_data, indent=2) + "\n")
        staged["report_txt"].write_text(_report_txt(gen, parity, check_note))
        staging.publish(staged, paths, overwrite)
    except OSError as exc:
        raise FileWriteError(
            f"cannot write the outputs: {exc.strerror or exc}",
            where=str(out_dir),
            fix="check free space and permissions of the --output/--report folders",
        ) from exc
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)

    result = ConversionResult(name=name, report=report_data, unsupported=report_data["unsupported"], **paths)
    _log_summary(result, gen, parity, check_note)
    if gen.unsupported and not allow_unsupported:
        kinds: dict[str, int] = {}
        for u in gen.unsupported:
            kinds[u.op_name] = kinds.get(u.op_name, 0) + 1
        first = gen.unsupported[0]
        others = ", ".join(f"{k.rsplit('.', 1)[-1]} (x{n})" for k, n in kinds.items())
        raise UnsupportedOpsError(
            f"{len(gen.unsupported)} op(s) could not be converted: {others}",
            where=f"first: node '{first.node}' ({first.op_name}): {first.reason}; see {paths['report_txt']}",
            fix="the script has placeholder Cells for them; implement those by hand, "
            "or rerun with --allow-unsupported to accept this",
        )
    if parity and not all(p["passed"] for p in parity):
        bad = next(p for p in parity if not p["passed"])
        if divergence is not None or bad["stage"] != "backend":
            raise _stage_parity_error(bad, divergence, out_dir)
        raise ParityError(
            f"parity failed: output '{bad['name']}' max abs diff {bad['max_abs_err']:.3g} > atol {bad['atol']:g} "
            f"(rtol {bad['rtol']:g}) in {bad['mode']} mode{_at_sizes(bad)}" + (f": {bad['problem']}" if bad.get("problem") else ""),
            where=f"worst element at index {bad['worst_index']}; outputs were written to {out_dir}",
            fix="rerun with --dump-ir DIR and -v, and report the model; --rtol/--atol loosen the check if this error is expected",
        )
    return result


def pytorch2mindspore(
    model: Any,
    dummy_inputs: Any,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    **options: Any,
) -> ConversionResult:
    """Convert a live torch.nn.Module: export it to ONNX and convert that, checked against the module itself.

    `dummy_inputs` is a tensor (or a tuple of tensors / numpy arrays), one per argument of forward();
    it fixes the input shapes and is what the parity check runs unless `input_data` is given. The
    generated Cells are named after the module's classes (`Bottleneck`) and members (`layer1`), its
    weights keep their state_dict names in the checkpoint, and its nn.Dropout layers become
    nn.Dropout(p=...) at their place. Files are named `name` (default: the module's class name) and
    written to `output_dir` (default "output"); other `options` are those of `convert()`.
    """
    from mindconverter.errors import RuntimeCheckError
    from mindconverter.frontend.torch import export_module, run_module

    name = name or type(model).__name__
    if not name.isidentifier():
        raise ArgumentError(f"name must be a valid Python identifier (it names the files), got '{name}'")
    if "reference" in options:
        raise ArgumentError("pytorch2mindspore checks against the torch module itself; reference= cannot be given")

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return run_module(model, inputs)
        except Exception as exc:  # noqa: BLE001 - the module may raise anything
            raise RuntimeCheckError(
                f"the torch module failed on the check inputs: {type(exc).__name__}: {exc}",
                fix="give input_data= with valid inputs, or check=\"off\"",
            ) from exc

    with tempfile.TemporaryDirectory(prefix="mindconverter-torch-") as tmp:
        start = time.perf_counter()
        log.info("exporting %s to ONNX (torch.onnx.export, opset 17)", name)
        exported = export_module(model, dummy_inputs, Path(tmp) / f"{name}.onnx")
        log.debug("export took %.2f s; %d Dropout layers kept", time.perf_counter() - start, len(exported.dropouts))
        if options.get("input_data") is None:
            from mindconverter.frontend.torch import as_tensors

            npz = Path(tmp) / "dummy_inputs.npz"
            arrays = {n: t.cpu().numpy() for n, t in zip(exported.input_names, as_tensors(dummy_inputs), strict=True)}
            np.savez(npz, **arrays)
            options["input_data"] = npz
        pass_options = {"module-classes": exported.module_classes, **(options.pop("pass_options", None) or {})}
        reference = Reference("torch", f"the torch module {type(model).__name__}", run)
        return convert(
            exported.path, output=output_dir if output_dir is not None else "output", pass_options=pass_options,
            reference=reference, **options,
        )


class _Explainer:
    """`--explain-pattern`: explain each pattern just before its pass first runs, or after all passes."""

    def __init__(self, names: Sequence[str], then: Callable[[str, Any], None] | None) -> None:
        from mindconverter.passes.pattern import PATTERNS

        unknown = [n for n in names if n not in PATTERNS]
        if unknown:
            raise ArgumentError(f"--explain-pattern names unknown pattern '{unknown[0]}'",
                                fix=f"known patterns: {', '.join(sorted(PATTERNS)) or '(none)'}")
        self.pending = list(dict.fromkeys(names))
        self.then = then

    def before_pass(self, name: str, module) -> None:
        if name in self.pending:
            self._explain(name, module)
        if self.then is not None:
            self.then(name, module)

    def finish(self, module) -> None:
        for name in list(self.pending):
            self._explain(name, module)

    def _explain(self, name: str, module) -> None:
        from mindconverter.opt import explain_text

        self.pending.remove(name)
        print(explain_text(module, name))


def _pipeline(passes, default: tuple[str, ...], skip: Sequence[str]) -> tuple[str, ...]:
    """Pass names from `passes` (names, or functions registered with @register_pass), minus `skip`."""
    from mindconverter.passes.manager import PASSES, load_builtin_passes, register_pass

    load_builtin_passes()
    names: list[str] = []
    for p in passes if passes else default:
        if isinstance(p, str):
            names.append(p)
            continue
        if not callable(p):
            raise ArgumentError(f"passes= entries must be pass names or pass functions, got {type(p).__name__}")
        found = [n for n, spec in PASSES.items() if spec.fn is p]
        if not found:
            found = [p.__name__.replace("_", "-")]
            register_pass(found[0])(p)
        names.append(found[0])
    unknown = [s for s in skip if s not in PASSES]
    if unknown:
        raise ArgumentError(f"--skip-pass names unknown pass '{unknown[0]}'", fix=f"known passes: {', '.join(sorted(PASSES))}")
    return tuple(n for n in names if n not in set(skip))


def _resume(path: Path, frontend_module):
    """The module of an IR dump, with the model's weights plus the dump folder's weights.npz on top.

    Returns the module and the arrays read from weights.npz (dumps of the resumed run keep them).
    """
    from mindconverter.errors import IRSyntaxError, VerifyError
    from mindconverter.ir.parser import parse
    from mindconverter.ir.verify import verify
    from mindconverter.weights_io import load_weights

    if not path.is_file():
        raise ArgumentError(f"--resume-ir file '{path}' does not exist", fix="give an IR dump written by --dump-ir")
    weights = frontend_module.weights
    npz = path.parent / "weights.npz"
    arrays: dict[str, np.ndarray] = {}
    if npz.is_file():
        arrays, origins = load_weights(npz)
        for key, array in arrays.items():
            weights.set(key, array, origins.get(key))
    try:
        module = parse(path.read_text(), weights)
        verify(module)
    except (IRSyntaxError, VerifyError) as exc:
        exc.where = f"{path}: {exc.where}" if exc.where else str(path)
        if isinstance(exc, VerifyError) and "key" in exc.what:
            exc.fix = (exc.fix + "; " if exc.fix else "") + f"weights come from the model and {npz}"
        raise
    return module, arrays


def _check_data(module, source, input_data, seed, check_sizes):
    """The check's inputs: --input_data, or seeded data at each test size (runtime_check/sizes.py)."""
    from mindconverter.runtime_check.inputs import load_input_data
    from mindconverter.runtime_check.sizes import CheckInputs, export_sizes_of, parse_check_sizes

    given = load_input_data(Path(input_data), module.main.args) if input_data else None
    metadata = {p.key: p.value for p in source.reference.metadata_props}
    return CheckInputs(module, given=given, seed=seed, requested=parse_check_sizes(check_sizes),
                       export_sizes=export_sizes_of(metadata))


def _backend_divergence(module, inputs, expected, rtol, atol, checked_ir: bool):
    """Localise a backend mismatch: the first op whose MindSpore value differs from the IR's."""
    from mindconverter.errors import RuntimeCheckError
    from mindconverter.runtime_check.divergence import Divergence, backend_divergence
    from mindconverter.runtime_check.evaluate import NotExecutable, run_ir
    from mindconverter.runtime_check.stages import compare_outputs

    try:
        if not checked_ir:  # --check end: is the IR itself still right?
            rows = compare_outputs("passes", run_ir(module, inputs).outputs, expected, module, rtol, atol)
            bad = [r for r in rows if not r["passed"]]
            if bad:
                return Divergence(
                    "passes", "", "", "", bad[0]["max_abs_err"], bad[0]["max_rel_err"], bad[0]["rtol"], bad[0]["atol"],
                    bad[0]["worst_index"], bad[0]["shape"],
                    note="the IR after the passes already differs from onnxruntime, so the backend is not at fault; "
                    "rerun with --check each to find the pass",
                )
        return backend_divergence(module, inputs, rtol, atol)
    except (NotExecutable, RuntimeCheckError) as exc:
        log.warning("cannot localise the mismatch: %s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - localisation is a help; the parity failure is reported anyway
        log.warning("cannot localise the mismatch: %s: %s", type(exc).__name__, exc)
        log.debug("traceback:", exc_info=True)
        return None


def _backend_stage(parity: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [p for p in parity if p["stage"] == "backend"]
    return {
        "stage": "backend",
        "status": "passed" if all(p["passed"] for p in rows) else "failed",
        "max_abs_err": max((p["max_abs_err"] for p in rows), default=0.0),
        "max_rel_err": max((p["max_rel_err"] for p in rows), default=0.0),
    }


def _stage_words(stage: str, divergence) -> str:
    if stage != "backend":
        return f" after {stage!r}"
    return "" if divergence is not None and divergence.stage != "backend" else " in the backend"


def _at_sizes(row: dict[str, Any]) -> str:
    sizes = row.get("sizes") or {}
    return " at sizes " + ", ".join(f"{k}={v}" for k, v in sizes.items()) if sizes else ""


def _stage_parity_error(bad: dict[str, Any], divergence, out_dir: Path) -> ParityError:
    stage = bad["stage"]
    what = (
        f"parity failed{_stage_words(stage, divergence)}{_at_sizes(bad)}: output '{bad['name']}' "
        f"max abs diff {bad['max_abs_err']:.3g} > atol {bad['atol']:g} (rtol {bad['rtol']:g})"
        + (f": {bad['problem']}" if bad.get("problem") else "")
    )
    if divergence is not None and divergence.op:
        where = f"first differing value {divergence.describe()} (stage '{divergence.stage}')"
    elif divergence is not None:
        where = divergence.note
    else:
        where = f"worst element of '{bad['name']}' at index {bad['worst_index']}"
    dumps = f"; IR before/after: {', '.join(divergence.dumps)}" if divergence is not None and divergence.dumps else ""
    if divergence is not None and divergence.stage == "backend" and divergence.op:
        fix = (
            f"this is a bug in the emitter of '{divergence.op}' (backend/emitters/); outputs were written to {out_dir}"
        )
    elif stage == "frontend" and divergence is not None and divergence.op:
        fix = "the frontend's IR already differs from the model: this is a bug in frontend/onnx.py; report the model"
    elif stage not in ("backend", "frontend", "resumed") and divergence is not None and divergence.stage == stage:
        fix = f"this is a bug in pass '{stage}'{dumps}; skip it with --skip-pass {stage}"
    else:
        fix = f"rerun with --check each --dump-ir DIR{dumps}; outputs were written to {out_dir}"
    return ParityError(what, where=where, fix=fix)


def _check_parity(
    source, staged, gen, check_mode, rtol, atol, cases, reference, generated: bool
) -> tuple[list[dict[str, Any]], list[list[np.ndarray]]]:
    """Run the reference and the generated network at every test size; returns per-output rows and the reference outputs."""
    from mindconverter.runtime_check.reference import run_onnxruntime
    from mindconverter.runtime_check.sizes import parity_at_sizes, reference_outputs

    def run_source(inputs: list[np.ndarray]) -> list[np.ndarray]:
        return run_onnxruntime(source.reference, dict(zip(source.input_names, inputs, strict=True)))

    expected = [reference_outputs(reference.run if reference else run_source, c, generated) for c in cases]
    modes = ("pynative", "graph") if check_mode == "both" else (check_mode,)
    rows = parity_at_sizes(cases, expected, staged["script"], staged["checkpoint"], gen.output_names, modes, rtol, atol)
    return rows, expected


def _docstring(module, source, parity: list[dict[str, Any]] | None, reference: Reference | None = None) -> str:
    n_nodes = sum(1 for op in module.ops() if op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield"))
    origin = reference.source if reference else f"{module.name}.onnx (opset {source.source_opset})"
    lines = [f"Generated by mindconverter {__version__} from {origin}.", ""]
    lines.append(f"Source: {n_nodes} ops after passes, {len(module.weights)} weights.")
    if parity:
        worst = max(p["max_abs_err"] for p in parity)
        status = "passed" if all(p["passed"] for p in parity) else "FAILED"
        modes = "/".join(sorted({p["mode"] for p in parity}))
        sizes = list(dict.fromkeys(", ".join(f"{k}={v}" for k, v in p["sizes"].items()) for p in parity if p.get("sizes")))
        at = f" at {len(sizes)} sizes ({'; '.join(sizes)})" if sizes else ""
        lines.append(
            f"Parity with {reference.label if reference else 'onnxruntime'} ({modes}){at}: {status}, max abs err {worst:.2g} "
            f"(rtol {parity[0]['rtol']:g}, atol {parity[0]['atol']:g})."
        )
    return "\n".join(lines)


def _type_json(v) -> dict[str, Any]:
    dims = None if v.type.dims is None else [d if isinstance(d, int) else str(d) for d in v.type.dims]
    return {"name": v.name or "", "shape": dims, "dtype": v.type.dtype.to_numpy().name if v.type.dtype.value != "str" else "str"}


def _report_json(name, module, source, gen, parity, check_note, timings, node_count) -> dict[str, Any]:
    import onnx
    import onnxruntime

    from mindconverter.runtime_check.mindspore_run import import_mindspore

    ms = import_mindspore()
    func = module.main
    outputs = [dict(_type_json(v), name=n) for v, n in zip(func.outputs, func.output_names, strict=True)]
    unsupported = [attrs.asdict(u) for u in gen.unsupported]
    return {
        "model": name,
        "network_class": gen.class_name,
        "source": {"format": "onnx", "opset": source.source_opset, "converted_opset": source.opset},
        "inputs": [_type_json(a) for a in func.args],
        "outputs": outputs,
        "ops": {"total": gen.op_count, "converted": gen.op_count - len(gen.unsupported)},
        "converted_rate": round(gen.converted_rate, 2),
        "unsupported": unsupported,
        "parity": parity,
        "check": check_note or "done",
        "weights": len(gen.checkpoint),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": {
            "mindconverter": __version__,
            "mindspore": ms.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _report_txt(gen, parity, check_note) -> str:
    lines = ["[Start Convert]"]
    for u in gen.unsupported:
        lines.append(
            f"line {u.line}:8: [UnConvert] '{u.op_name.replace('onnx.', 'onnx::')}' didn't convert. "
            f"input_shape: {', '.join(u.input_shapes)}, output_shape: {', '.join(u.output_shapes)}. reason: {u.reason}"
        )
    if check_note:
        lines.append(f"[Warning] {check_note}")
    from mindconverter.runtime_check.sizes import size_lines

    sized = any(p.get("sizes") for p in parity)
    lines += [f"[Parity] {line}" for line in size_lines(parity)] if sized else []
    for p in parity:
        if sized and p.get("stage", "backend") == "backend":
            continue  # one line per size above
        status = "pass" if p["passed"] else "FAIL"
        where = p["mode"] if p.get("stage", "backend") == "backend" else f"after {p['stage']}"
        lines.append(
            f"[Parity] {where} output '{p['name']}': max abs err {p['max_abs_err']:.3g}, max rel err "
            f"{p['max_rel_err']:.3g} (rtol {p['rtol']:g}, atol {p['atol']:g}): {status}"
        )
    lines.append("[Convert Over]")
    lines.append(f"Converted Rate: {gen.converted_rate:.2f}%.")
    return "\n".join(lines) + "\n"


def _log_summary(result: ConversionResult, gen, parity, check_note) -> None:
    log.info("wrote %s and %s", result.script, result.checkpoint)
    log.info("reports: %s, %s, %s", result.report_txt, result.report_json, result.weight_map)
    log.info("converted rate: %.2f%% (%d ops)", gen.converted_rate, gen.op_count)
    from mindconverter.runtime_check.sizes import size_lines

    sized = any(p.get("sizes") for p in parity)
    for line in size_lines(parity) if sized else []:
        log.info("parity %s", line)
    for p in parity:
        if sized and p["stage"] == "backend":
            continue
        where = p["mode"] if p["stage"] == "backend" else f"after {p['stage']}"
        log.info(
            "parity %s '%s': max abs err %.3g, max rel err %.3g -> %s",
            where, p["name"], p["max_abs_err"], p["max_rel_err"], "pass" if p["passed"] else "FAIL",
        )
    if check_note:
        log.warning("%s", check_note)
