"""The conversion's stages, in order: load -> checks -> passes -> backend -> outputs (with the final check) -> verdict.

`convert()` (api.py) builds the options and runs `Conversion(...).run()`; each stage is one method
that reads the options of its group and leaves its product on the conversion.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mindconverter.errors import ArgumentError, FileWriteError, UnsupportedOpsError
from mindconverter.options import Options
from mindconverter.pipeline import Explainer, check_data, pipeline_names, resume

if TYPE_CHECKING:
    from mindconverter.api import Reference

log = logging.getLogger("mindconverter")


def output_paths(name: str, output: Path, report: Path) -> dict[str, Path]:
    """The five output files of a conversion (MindConverter's layout)."""
    return {
        "script": output / f"{name}.py",
        "checkpoint": output / f"{name}.ckpt",
        "report_txt": report / f"report_of_{name}.txt",
        "weight_map": report / f"weight_map_of_{name}.json",
        "report_json": report / f"report_of_{name}.json",
    }


def write_network(module, folder: Path) -> tuple[Path, Path]:
    """The code generator the run-time checks are given: the script and checkpoint of `module` in `folder`."""
    from mindconverter.backend.cell_writer import generate
    from mindconverter.backend.checkpoint import write_checkpoint

    gen = generate(module)
    script, ckpt = folder / "debug_net.py", folder / "debug_net.ckpt"
    script.write_text(gen.code)
    return script, write_checkpoint(gen.checkpoint, ckpt)


class Conversion:
    """One conversion of `model_path` with `options`; `run()` goes through the stages."""

    def __init__(self, model_path: Path, options: Options, reference: Reference | None = None,
                 shape: Sequence[str | Sequence[int]] | None = None, input_nodes: Sequence[str] | None = None,
                 output_nodes: Sequence[str] | None = None) -> None:
        self.model_path, self.options, self.reference = model_path, options, reference
        self.shape, self.input_nodes = shape, input_nodes
        self.output_nodes = list(output_nodes) if output_nodes else None
        self.name = model_path.stem
        self.paths = output_paths(self.name, options.output.output, options.output.report_dir)
        if options.output.mindir:
            self.paths["mindir"] = options.output.output / f"{self.name}.mindir"
        self.timings: dict[str, float] = {}
        self.checker = None
        self.check_data = None
        self.stage_case = None
        self.parity: list[dict[str, Any]] = []
        self.divergence = None
        self.check_note = ""

    def run(self):
        from mindconverter.api import ConversionResult
        from mindconverter.backend.report import log_summary

        self.refuse_existing_outputs()
        pipeline = self.pipeline()
        if self.model_path.suffix.lower() == ".pb":
            pipeline = self.pb_pipeline(pipeline)
        self.load()
        self.setup_checks()
        self.run_passes(pipeline)
        self.generate()
        report = self.write_outputs()
        paths = dict(self.paths)
        if report.get("mindir", {}).get("file") is None:
            paths.pop("mindir", None)
        result = ConversionResult(name=self.name, report=report, unsupported=report["unsupported"], **paths)
        from mindconverter.runtime_check.final import size_lines

        log_summary(self.paths, self.gen, self.parity, size_lines(self.parity), self.check_note)
        self.verdict()
        return result

    def refuse_existing_outputs(self) -> None:
        from mindconverter import staging

        out = self.options.output
        staging.check_output_dirs({"--output": out.output, "--report": out.report_dir, "--dump-ir": self.options.debug.dump_ir})
        existing = [str(p) for p in self.paths.values() if p.exists()]
        if existing and not self.options.output.overwrite:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise FileWriteError(
                f"output file '{existing[0]}' already exists{more}",
                fix="choose another --output/--report folder, or pass --overwrite to replace them",
            )

    def pipeline(self) -> tuple[str, ...]:
        from mindconverter.passes.manager import DEFAULT_PIPELINE, load_plugin

        opts = self.options.passes
        for plugin in opts.plugins:
            load_plugin(plugin)
        pipeline = pipeline_names(opts.passes, DEFAULT_PIPELINE if opts.resume_ir is None else (), opts.skip)
        if opts.fold_batchnorm and "fold-batchnorm" not in pipeline:
            # After shape inference and constant folding, before the fusions that rely on the final convs.
            at = pipeline.index("fuse-pad") if "fuse-pad" in pipeline else len(pipeline)
            pipeline = (*pipeline[:at], "fold-batchnorm", *pipeline[at:])
        return pipeline

    def pb_pipeline(self, pipeline: tuple[str, ...]) -> tuple[str, ...]:
        """A .pb model's pipeline also folds tf2onnx's run-time shapes and sinks transposes (unless --passes)."""
        opts = self.options.passes
        if opts.passes is not None or opts.resume_ir is not None:
            return pipeline
        from mindconverter.frontend.pb import PIPELINE_ADDITIONS

        at = pipeline.index("simplify-reshapes") if "simplify-reshapes" in pipeline else len(pipeline)
        return (*pipeline[:at], *(p for p in PIPELINE_ADDITIONS if p not in opts.skip), *pipeline[at:])

    def load(self) -> None:
        from mindconverter.frontend.onnx import load_onnx

        start = time.perf_counter()
        log.info("[1/4] loading %s", self.model_path.name)
        if self.model_path.suffix.lower() == ".pb":  # tf2onnx, then the ONNX frontend; TensorFlow is the reference
            self.source, tf_reference = _load_pb(self.model_path, self.shape, self.input_nodes, self.output_nodes)
            self.reference = self.reference or tf_reference
        else:
            shapes = _pair_shapes(self.shape, self.input_nodes, lambda: _model_inputs(self.model_path))
            self.source = load_onnx(self.model_path, shapes=shapes, outputs=self.output_nodes)
        self.module = self.source.module
        self.first_stage = "frontend"
        self.resumed_weights: dict[str, Any] = {}
        if self.options.passes.resume_ir is not None:
            self.module, self.resumed_weights = resume(self.options.passes.resume_ir, self.module)
            self.first_stage = "resumed"
        self.timings["frontend"] = time.perf_counter() - start

    def setup_checks(self) -> None:
        opts = self.options.check
        if opts.check == "off":
            return
        # Made from the frontend's IR, where the ops that give inputs a meaning (Gather...) are still ONNX ops.
        self.check_data = check_data(self.module, self.source, opts.input_data, opts.seed, opts.sizes)
        if opts.check != "each":
            return
        from mindconverter.errors import RuntimeCheckError
        from mindconverter.runtime_check.stages import StageChecker

        start = time.perf_counter()
        self.stage_case = self.check_data.cases(self.module, first_only=True)[0]  # IR stages: at the first sizes
        inputs = self.stage_case.inputs
        try:
            self.checker = StageChecker(
                self.source, inputs, opts.rtol, opts.atol,
                dump_dir=self.options.debug.dump_ir or self.options.output.report_dir / f"dumps_of_{self.name}",
                source_name=self.model_path.name,
                expected=self.reference.run(inputs) if self.model_path.suffix.lower() == ".pb" else None,
            )
        except RuntimeCheckError as exc:
            log.warning("--check each: no stage checks, the reference does not run: %s", exc.what)
        else:
            self.checker.check(self.first_stage, 0, self.module)
        self.timings["check"] = time.perf_counter() - start

    def run_passes(self, pipeline: tuple[str, ...]) -> None:
        from mindconverter.passes.manager import PassManager

        debug, checker = self.options.debug, self.checker
        explainer = Explainer(debug.explain_patterns, checker.before_pass if checker else None)
        start = time.perf_counter()
        log.info("[2/4] running passes: %s", ", ".join(pipeline) or "(none)")
        manager = PassManager(
            pipeline,
            dump_dir=debug.dump_ir,
            print_after_all=debug.print_after_all,
            source_name=self.model_path.name,
            print_after=tuple(debug.print_after),
            print_after_change=debug.print_after_change,
            print_after_failure=debug.print_after_failure,
            before_pass=explainer.before_pass,
            after_pass=checker.after_pass if checker else None,
            dump_frontend=self.options.passes.resume_ir is None,
            dump_weights=self.resumed_weights,
            options=self.options.passes.options,
        )
        checked_before = checker.seconds if checker else 0.0
        manager.run(self.module)
        explainer.finish(self.module)
        self.timings["passes"] = time.perf_counter() - start
        if checker is not None:  # the stage checks ran inside the pass manager: count them as checking
            during = checker.seconds - checked_before
            self.timings["passes"] -= during
            self.timings["check"] += during

    def docstring(self, parity: list[dict[str, Any]] | None) -> str:
        from mindconverter.backend.report import docstring

        ref = self.reference
        origin = ref.source if ref else f"{self.module.name}.onnx (opset {self.source.source_opset})"
        return docstring(self.module, origin, parity, ref.label if ref else "onnxruntime")

    def generate(self) -> None:
        from mindconverter.backend.cell_writer import generate

        start = time.perf_counter()
        log.info("[3/4] generating MindSpore code")
        self.gen = generate(self.module, docstring=self.docstring(None))
        self.timings["backend"] = time.perf_counter() - start

    def write_outputs(self) -> dict[str, Any]:
        """Write everything to a staging folder (with the final check), then move it into place; returns the report."""
        from mindconverter import staging
        from mindconverter.backend.checkpoint import checkpoint_path, write_checkpoint, write_weight_map
        from mindconverter.backend.report import report_json, report_txt
        from mindconverter.runtime_check.final import parity_lines

        out_dir = self.options.output.output
        stage_dir = staging.stage_dir(out_dir, self.name)
        try:
            staged = output_paths(self.name, stage_dir, stage_dir)
            staged["script"].write_text(self.gen.code)
            staged["checkpoint"] = write_checkpoint(self.gen.checkpoint, staged["checkpoint"])  # a file, or segments
            self.paths["checkpoint"] = checkpoint_path(self.paths["checkpoint"], self.gen.checkpoint)
            if staged["checkpoint"].is_dir():
                log.info("the checkpoint is over 2 GiB: written as segments, load them with "
                         "mindspore.load_segmented_checkpoints('%s')", self.paths["checkpoint"])
            write_weight_map(self.name, self.gen.checkpoint, staged["weight_map"], self.tied_weights())
            self.final_check(staged)
            report = report_json(self.name, self.module, self.source_json(), self.gen, self.parity, self.check_note,
                                 self.timings)
            report["stages"] = self.stages()
            plan = self.check_data.plan if self.check_data is not None else None
            if plan is not None and plan.symbols:
                from mindconverter.runtime_check.sizes import size_summary

                report["check_sizes"] = dict(plan.to_json(), results=size_summary(self.parity))
            report["first_divergence"] = self.divergence.to_json() if self.divergence else None
            unmapped = self.unmapped_parameters()
            if unmapped:
                report["unmapped_parameters"] = unmapped
            final_paths = self.paths
            if self.options.output.mindir:
                staged["mindir"] = stage_dir / f"{self.name}.mindir"
                report["mindir"] = self.export_mindir(staged)
                if report["mindir"].get("file") is None:
                    final_paths = {k: v for k, v in self.paths.items() if k != "mindir"}
            staged["report_json"].write_text(json.dumps(report, indent=2) + "\n")
            staged["report_txt"].write_text(report_txt(self.gen, parity_lines(self.parity), self.check_note,
                                                       _unmapped_lines(unmapped) + _mindir_lines(report.get("mindir"))))
            staging.publish(staged, final_paths, self.options.output.overwrite)
        except OSError as exc:
            raise FileWriteError(
                f"cannot write the outputs: {exc.strerror or exc}",
                where=str(out_dir),
                fix="check free space and permissions of the --output/--report folders",
            ) from exc
        finally:
            shutil.rmtree(stage_dir, ignore_errors=True)
        return report

    def export_mindir(self, staged: dict[str, Path]) -> dict[str, Any]:
        """NAME.mindir after a successful conversion (backend/mindir.py); the report's `mindir` entry."""
        from mindconverter.backend.mindir import export_mindir

        if self.gen.unsupported or not all(p["passed"] for p in self.parity):
            why = "ops were not converted" if self.gen.unsupported else "the parity check failed"
            return {"file": None, "error": f"not exported: {why}"}
        start = time.perf_counter()
        log.info("exporting %s", staged["mindir"].name)
        cases = self.check_data.cases(self.module, first_only=True) if self.check_data is not None else []
        try:
            entry = export_mindir(staged["script"], staged["checkpoint"], self.module.main.args, staged["mindir"],
                                  cases[0].inputs if cases else None)
        except Exception as exc:  # noqa: BLE001 - MindSpore raises many types; the conversion itself succeeded
            log.warning("--mindir: the export failed: %s: %s", type(exc).__name__, exc)
            entry = {"file": None, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        if cases and entry.get("file"):
            entry["checked_at"] = dict(cases[0].sizes)
        self.timings["mindir"] = time.perf_counter() - start
        return entry

    def tied_weights(self) -> list[list[str]]:
        """Groups of source weight names of one shared tensor, as the torch frontend records them (weight map)."""
        from mindconverter.frontend.torch import TIED_WEIGHTS_KEY

        metadata = {p.key: p.value for p in self.source.source_model.metadata_props}
        return json.loads(metadata.get(TIED_WEIGHTS_KEY, "[]"))

    def unmapped_parameters(self) -> list[str]:
        """The source's parameters that train (TRAINABLE_ATTR) and that no checkpoint tensor comes from, tied keys
        aside: folded into another weight (weight_norm's g and v become one weight, named after v) or unused."""
        from mindconverter.ir.scopes import TRAINABLE_ATTR

        listed = self.module.attrs.get(TRAINABLE_ATTR) or []
        sources = {e.ref.source for e in self.gen.checkpoint}
        for group in self.tied_weights():
            if sources.intersection(group):
                sources.update(group)
        return [name for name in listed if name not in sources]

    def source_json(self) -> dict[str, Any]:
        ref = self.reference
        fmt = (ref.format or ref.label) if ref is not None else "onnx"
        return {"format": fmt, "opset": self.source.source_opset, "converted_opset": self.source.opset}

    def final_check(self, staged: dict[str, Path]) -> None:
        """Run the generated network against the reference at every test size (unless off or ops are unsupported)."""
        from mindconverter.runtime_check import final
        from mindconverter.runtime_check.reference import run_onnxruntime

        opts, checker, source = self.options.check, self.checker, self.source
        self.parity = [dict(p, sizes=self.stage_case.sizes) for p in checker.parity] if checker else []
        self.divergence = checker.divergence if checker else None
        if opts.check == "off":
            self.check_note = "parity check skipped (--check off)"
            return
        if self.gen.unsupported:
            self.check_note = f"parity check skipped: {len(self.gen.unsupported)} op(s) were not converted"
            return
        start = time.perf_counter()
        log.info("[4/4] checking parity with %s (%s)", self.reference.label if self.reference else "onnxruntime", opts.mode)

        def run_source(inputs: list[Any]) -> list[Any]:
            return run_onnxruntime(source.source_model, dict(zip(source.input_names, inputs, strict=True)), source.base_dir)

        cases = self.check_data.cases(self.module)
        modes = ("pynative", "graph") if opts.mode == "both" else (opts.mode,)
        backend, expected = final.check_at_sizes(
            cases, self.reference.run if self.reference else run_source, staged["script"], staged["checkpoint"],
            self.gen.output_names, modes, opts.rtol, opts.atol, opts.input_data is None)
        if self.divergence is None and not all(p["passed"] for p in backend):
            at = next(i for i, c in enumerate(cases) for p in backend if not p["passed"] and p["sizes"] == c.sizes)
            self.divergence = final.backend_divergence(self.module, cases[at].inputs, expected[at], opts.rtol, opts.atol,
                                                       checker is not None, write_network)
        self.parity += backend
        self.timings["check"] = self.timings.get("check", 0.0) + time.perf_counter() - start
        self.gen.docstring = self.docstring(backend)
        staged["script"].write_text(self.gen.code)

    def stages(self) -> list[dict[str, Any]]:
        from mindconverter.runtime_check.final import backend_stage

        stages = list(self.checker.stages) if self.checker else []
        if self.options.check.check != "off" and not self.gen.unsupported:
            stages.append(backend_stage(self.parity))
        return stages

    def verdict(self) -> None:
        """Raise for unsupported ops (unless allowed) and for a failed parity check, after everything was written."""
        from mindconverter.runtime_check.final import parity_error

        unsupported = self.gen.unsupported
        if unsupported and not self.options.output.allow_unsupported:
            kinds: dict[str, int] = {}
            for u in unsupported:
                kinds[u.op_name] = kinds.get(u.op_name, 0) + 1
            first = unsupported[0]
            others = ", ".join(f"{k.rsplit('.', 1)[-1]} (x{n})" for k, n in kinds.items())
            raise UnsupportedOpsError(
                f"{len(unsupported)} op(s) could not be converted: {others}",
                where=f"first: node '{first.node}' ({first.op_name}): {first.reason}; see {self.paths['report_txt']}",
                fix="the script has placeholder Cells for them; implement those by hand, "
                "or rerun with --allow-unsupported to accept this",
            )
        bad = next((p for p in self.parity if not p["passed"]), None)
        if bad is not None:
            raise parity_error(bad, self.divergence, self.options.output.output)


def _unmapped_lines(unmapped: list[str]) -> list[str]:
    """The report's warning about source parameters the checkpoint has under no name of theirs."""
    if not unmapped:
        return []
    shown = ", ".join(unmapped[:5]) + (f" and {len(unmapped) - 5} more" if len(unmapped) > 5 else "")
    line = (f"{len(unmapped)} source parameter(s) are in no checkpoint tensor under their own name (folded into another "
            f"weight, as weight_norm's g and v are into one, or unused by forward): {shown}")
    log.warning("%s", line)
    return [f"[Warning] {line}"]


def _mindir_lines(entry: dict[str, Any] | None) -> list[str]:
    """The txt report's `[MINDIR]` line: the file and its input shapes, or why there is none."""
    if entry is None:
        return []
    if entry.get("file") is None:
        return [f"[MINDIR] not written: {entry.get('error', '')}"]
    shapes = ", ".join(f"{i['name']} {i['shape']}" for i in entry["inputs"])
    kind = "dynamic" if entry["dynamic"] else "static"
    err = f"; loaded with nn.GraphCell: max abs err {entry['max_abs_err']:.3g}" if "max_abs_err" in entry else ""
    note = f" ({entry['note']})" if entry.get("note") else ""
    return [f"[MINDIR] {entry['file']}: {kind} inputs {shapes}{err}{note}"]


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


def _model_inputs(model_file: Path) -> list[str]:
    import onnx

    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception:  # noqa: BLE001 - the frontend reports unreadable models properly
        return []
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def _load_pb(model_path: Path, shape, input_nodes, output_nodes):
    """The ONNX frontend's source for a frozen GraphDef, and TensorFlow running that GraphDef as the reference."""
    from mindconverter.api import Reference
    from mindconverter.frontend.pb import load_pb
    from mindconverter.runtime_check.tf_reference import graph_def_runner

    pb = load_pb(model_path, shape, input_nodes, output_nodes)
    run = graph_def_runner(pb.graph_def, pb.input_tensors, pb.output_tensors)
    return pb.onnx, Reference("TensorFlow", f"the TensorFlow graph {model_path.name}", run, format="pb")
