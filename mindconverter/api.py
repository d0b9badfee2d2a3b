"""The driver: `convert()` wires frontend -> passes -> backend -> parity check -> outputs."""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter import __version__
from mindconverter.errors import ArgumentError, FileWriteError, MindConverterError, ParityError, UnsupportedOpsError

log = logging.getLogger("mindconverter")

CHECK_CHOICES = ("off", "end")
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


def _pair_shapes(
    shape: Sequence[str | Sequence[int]] | None, input_nodes: Sequence[str] | None, model_inputs: list[str]
) -> dict[str, tuple[int, ...]]:
    from mindconverter.frontend.onnx import parse_shape

    shapes = [parse_shape(s) if isinstance(s, str) else tuple(int(d) for d in s) for s in (shape or [])]
    nodes = list(input_nodes or [])
    if not shapes:
        return {}
    if not nodes:
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
    dump_ir: str | os.PathLike[str] | None = None,
    print_ir_after_all: bool = False,
    passes: Sequence[str] | None = None,
    overwrite: bool = False,
    allow_unsupported: bool = False,
) -> ConversionResult:
    """Convert an ONNX model to a MindSpore script + checkpoint + reports, and check parity.

    Raises UnsupportedOpsError (after writing everything) when ops could not be converted and
    `allow_unsupported` is False, and ParityError (after writing) when the check fails.
    """
    timings: dict[str, float] = {}
    model_path = Path(model_file)
    if check not in CHECK_CHOICES:
        raise ArgumentError(f"--check must be one of {', '.join(CHECK_CHOICES)}, got '{check}'")
    if check_mode not in MODE_CHOICES:
        raise ArgumentError(f"--check-mode must be one of {', '.join(MODE_CHOICES)}, got '{check_mode}'")
    if not model_path.is_file():
        raise ArgumentError(f"model file '{model_path}' does not exist", fix="check the --model_file path")
    suffix = model_path.suffix.lower()
    if suffix == ".pb":
        raise ArgumentError(
            "TensorFlow .pb models are not supported by this version yet",
            where=str(model_path),
            fix="convert it to ONNX with tf2onnx (python -m tf2onnx.convert --graphdef ...) and pass the .onnx file",
        )
    if suffix != ".onnx":
        raise ArgumentError(f"--model_file must be an .onnx (or .pb) file, got '{model_path.name}'")
    name = model_path.stem
    out_dir = Path(output)
    rep_dir = Path(report) if report is not None else out_dir
    paths = output_paths(name, out_dir, rep_dir)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileWriteError(
            f"output file '{existing[0]}' already exists" + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""),
            fix="choose another --output/--report folder, or pass --overwrite to replace them",
        )

    from mindconverter.backend.cell_writer import generate
    from mindconverter.frontend.onnx import load_onnx
    from mindconverter.passes.manager import DEFAULT_PIPELINE, PassManager

    start = time.perf_counter()
    log.info("[1/4] loading %s", model_path.name)
    shapes = _pair_shapes(shape, input_nodes, _model_inputs(model_path))
    source = load_onnx(model_path, shapes=shapes, outputs=list(output_nodes) if output_nodes else None)
    module = source.module
    timings["frontend"] = time.perf_counter() - start

    start = time.perf_counter()
    pipeline = tuple(passes) if passes else DEFAULT_PIPELINE
    log.info("[2/4] running passes: %s", ", ".join(pipeline))
    manager = PassManager(
        pipeline,
        dump_dir=Path(dump_ir) if dump_ir else None,
        print_after_all=print_ir_after_all,
        source_name=model_path.name,
    )
    manager.run(module)
    timings["passes"] = time.perf_counter() - start

    start = time.perf_counter()
    log.info("[3/4] generating MindSpore code")
    docstring = _docstring(module, source, None)
    gen = generate(module, docstring=docstring)
    timings["backend"] = time.perf_counter() - start

    node_count = sum(1 for op in module.ops() if op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield"))
    stage_dir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=_existing_parent(out_dir)))
    try:
        staged = output_paths(name, stage_dir, stage_dir)
        staged["script"].write_text(gen.code)
        from mindconverter.backend.checkpoint import write_checkpoint, write_weight_map

        write_checkpoint(gen.checkpoint, staged["checkpoint"])
        write_weight_map(name, gen.checkpoint, staged["weight_map"])

        parity: list[dict[str, Any]] = []
        check_note = ""
        if check == "off":
            check_note = "parity check skipped (--check off)"
        elif gen.unsupported:
            check_note = f"parity check skipped: {len(gen.unsupported)} op(s) were not converted"
        else:
            start = time.perf_counter()
            log.info("[4/4] checking parity with onnxruntime (%s)", check_mode)
            parity = _check_parity(source, module, staged, gen, check_mode, rtol, atol, input_data, seed)
            timings["check"] = time.perf_counter() - start
            gen.docstring = _docstring(module, source, parity)
            staged["script"].write_text(gen.code)

        report_data = _report_json(name, module, source, gen, parity, check_note, timings, node_count)
        staged["report_json"].write_text(json.dumps(report_data, indent=2) + "\n")
        staged["report_txt"].write_text(_report_txt(gen, parity, check_note))
        _publish(staged, paths, overwrite)
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
        raise ParityError(
            f"parity failed: output '{bad['name']}' max abs diff {bad['max_abs_err']:.3g} > atol {bad['atol']:g} "
            f"(rtol {bad['rtol']:g}) in {bad['mode']} mode" + (f": {bad['problem']}" if bad.get("problem") else ""),
            where=f"worst element at index {bad['worst_index']}; outputs were written to {out_dir}",
            fix="rerun with --dump-ir DIR and -v, and report the model; --rtol/--atol loosen the check if this error is expected",
        )
    return result


def _existing_parent(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _publish(staged: dict[str, Path], final: dict[str, Path], overwrite: bool) -> None:
    """Move staged files into place; refuses to replace files that appeared meanwhile (unless overwrite)."""
    for dest in final.values():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and not overwrite:
            raise FileWriteError(f"output file '{dest}' appeared during the conversion", fix="rerun with --overwrite")
    for key, dest in final.items():
        try:
            os.replace(staged[key], dest)
        except OSError:
            shutil.move(str(staged[key]), str(dest))  # across file systems


def _check_parity(source, module, staged, gen, check_mode, rtol, atol, input_data, seed) -> list[dict[str, Any]]:
    from mindconverter.runtime_check.compare import compare_output
    from mindconverter.runtime_check.inputs import load_input_data, random_inputs
    from mindconverter.runtime_check.mindspore_run import run_network
    from mindconverter.runtime_check.reference import run_onnxruntime

    args = module.main.args
    inputs = load_input_data(Path(input_data), args) if input_data else random_inputs(args, seed)
    feeds = {name: x for name, x in zip(source.input_names, inputs, strict=True)}
    expected = run_onnxruntime(source.reference, feeds)
    modes = ("pynative", "graph") if check_mode == "both" else (check_mode,)
    results = []
    for mode in modes:
        try:
            got = run_network(staged["script"], staged["checkpoint"], inputs, mode)
        except Exception as exc:  # noqa: BLE001 - any MindSpore failure is a conversion bug to report
            from mindconverter.errors import RuntimeCheckError

            raise RuntimeCheckError(
                f"the generated network failed to run in {mode} mode: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                fix="rerun with -v for the traceback, and --check off to keep the output anyway",
            ) from exc
        if len(got) != len(expected):
            raise ParityError(f"the generated network returns {len(got)} outputs, the source {len(expected)}")
        for out_name, g, e in zip(gen.output_names, got, expected, strict=True):
            p = compare_output(out_name, g, e, rtol, atol).to_json()
            p["stage"] = "backend"
            p["mode"] = mode
            results.append(p)
    return results


def _docstring(module, source, parity: list[dict[str, Any]] | None) -> str:
    n_nodes = sum(1 for op in module.ops() if op.name not in ("ir.param", "ir.const", "ir.return", "ir.yield"))
    lines = [f"Generated by mindconverter {__version__} from {module.name}.onnx (opset {source.source_opset}).", ""]
    lines.append(f"Source: {n_nodes} ops after passes, {len(module.weights)} weights.")
    if parity:
        worst = max(p["max_abs_err"] for p in parity)
        status = "passed" if all(p["passed"] for p in parity) else "FAILED"
        modes = "/".join(sorted({p["mode"] for p in parity}))
        lines.append(
            f"Parity with onnxruntime ({modes}): {status}, max abs err {worst:.2g} "
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
    for p in parity:
        status = "pass" if p["passed"] else "FAIL"
        lines.append(
            f"[Parity] {p['mode']} output '{p['name']}': max abs err {p['max_abs_err']:.3g}, max rel err "
            f"{p['max_rel_err']:.3g} (rtol {p['rtol']:g}, atol {p['atol']:g}): {status}"
        )
    lines.append("[Convert Over]")
    lines.append(f"Converted Rate: {gen.converted_rate:.2f}%.")
    return "\n".join(lines) + "\n"


def _log_summary(result: ConversionResult, gen, parity, check_note) -> None:
    log.info("wrote %s and %s", result.script, result.checkpoint)
    log.info("reports: %s, %s, %s", result.report_txt, result.report_json, result.weight_map)
    log.info("converted rate: %.2f%% (%d ops)", gen.converted_rate, gen.op_count)
    for p in parity:
        log.info(
            "parity %s '%s': max abs err %.3g, max rel err %.3g -> %s",
            p["mode"], p["name"], p["max_abs_err"], p["max_rel_err"], "pass" if p["passed"] else "FAIL",
        )
    if check_note:
        log.warning("%s", check_note)
