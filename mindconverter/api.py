"""The public API: `convert()` and `pytorch2mindspore()`; the stages themselves are in driver.py."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter.driver import Conversion, output_paths
from mindconverter.errors import ArgumentError, MindConverterError
from mindconverter.options import (
    CHECK_CHOICES,
    MODE_CHOICES,
    CheckOptions,
    DebugOptions,
    Options,
    OutputOptions,
    PassOptions,
)

log = logging.getLogger("mindconverter")

__all__ = ["CHECK_CHOICES", "MODE_CHOICES", "ConversionResult", "Options", "Reference", "convert", "output_paths",
           "pytorch2mindspore"]


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
    #: NAME.mindir when `mindir=True` exported it (None otherwise).
    mindir: Path | None = None

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
    mindir: bool = False,
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
    `mindir` also writes NAME.mindir (`mindspore.export` with the weights; symbolic dims become
    dynamic MINDIR inputs), loaded back with nn.GraphCell and compared (the report's `mindir`).

    Raises UnsupportedOpsError (after writing everything) when ops could not be converted and
    `allow_unsupported` is False, and ParityError (after writing) when the check fails.
    """
    options = Options(
        CheckOptions(check, check_mode, rtol, atol, input_data, seed, check_sizes),
        PassOptions(passes, pass_plugins, skip_passes, pass_options, fold_batchnorm, resume_ir),
        DebugOptions(dump_ir, print_ir_after_all, print_ir_after, print_ir_after_change, print_ir_after_failure,
                     explain_patterns),
        OutputOptions(output, report, overwrite, allow_unsupported, mindir),
    )
    return Conversion(_model_path(model_file), options, reference, shape, input_nodes, output_nodes).run()


def _model_path(model_file: str | os.PathLike[str]) -> Path:
    """The model file, checked: it exists and is an .onnx or .pb file."""
    model_path = Path(model_file)
    if not model_path.is_file():
        raise ArgumentError(f"model file '{model_path}' does not exist", fix="check the --model_file path")
    if model_path.suffix.lower() not in (".onnx", ".pb"):
        raise ArgumentError(f"--model_file must be an .onnx (or .pb) file, got '{model_path.name}'")
    return model_path


def pytorch2mindspore(
    model: Any,
    dummy_inputs: Any,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    dynamic_axes: dict[str, Any] | None = None,
    dynamic: bool = False,
    **options: Any,
) -> ConversionResult:
    """Convert a live torch.nn.Module: export it to ONNX and convert that, checked against the module itself.

    `dummy_inputs` is a tensor (or a tuple of tensors / numpy arrays), one per argument of forward(),
    or a dict of them passed by keyword (`{"input_ids": ids, "attention_mask": mask}`);
    it fixes the input shapes and is what the parity check runs unless `input_data` is given. The
    generated Cells are named after the module's classes (`Bottleneck`) and members (`layer1`), its
    weights keep their state_dict names in the checkpoint, and its nn.Dropout layers become
    nn.Dropout(p=...) at their place. Files are named `name` (default: the module's class name) and
    written to `output_dir` (default "output"); other `options` are those of `convert()`.

    `dynamic_axes` ({"input_ids": {0: "batch", 1: "sequence"}}) or `dynamic=True` (axis 0 of every
    input is `batch`; axis 1 of integer inputs of rank >= 2 and of rank-3 inputs is `sequence`)
    export those axes symbolic: the network serves every size, and the check runs the torch module
    and the network at several sizes of each (`check_sizes=` chooses them; frontend/torch.py).
    Outputs that are tuples or dicts (transformers' ModelOutput) are flattened, named by their keys.
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
            return run_module(model, inputs, exported.keywords)
        except Exception as exc:  # noqa: BLE001 - the module may raise anything
            raise RuntimeCheckError(
                f"the torch module failed on the check inputs: {type(exc).__name__}: {exc}",
                fix="give input_data= with valid inputs, or check=\"off\"",
            ) from exc

    with tempfile.TemporaryDirectory(prefix="mindconverter-torch-") as tmp:
        start = time.perf_counter()
        log.info("exporting %s to ONNX (torch.onnx.export, opset 17)", name)
        exported = export_module(model, dummy_inputs, Path(tmp) / f"{name}.onnx", dynamic_axes=dynamic_axes,
                                 dynamic=dynamic)
        log.debug("export took %.2f s; %d Dropout layers kept", time.perf_counter() - start, len(exported.dropouts))
        if options.get("input_data") is None and not exported.dynamic_axes:  # dynamic: the check plans sizes
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
