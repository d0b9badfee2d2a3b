"""`--check each`: run the IR after the frontend and after every pass, compare with the reference.

The StageChecker hooks into the PassManager (`after_pass` runs the IR, and keeps a copy of each
stage that passed, to compare with the next one if it fails). The first stage that fails is localised: the IR before and after it are compared value by
value (divergence.pass_divergence), and both are written to the dump folder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from mindconverter.errors import RuntimeCheckError
from mindconverter.ir.core import Module
from mindconverter.ir.printer import print_module
from mindconverter.runtime_check.compare import compare_output
from mindconverter.runtime_check.divergence import Divergence, frontend_divergence, pass_divergence
from mindconverter.runtime_check.evaluate import NotExecutable, Snapshot, run_ir, snapshot

log = logging.getLogger("mindconverter")


def compare_outputs(stage: str, got: list[np.ndarray], expected: list[np.ndarray], module: Module,
                    rtol: float | None, atol: float | None) -> list[dict[str, Any]]:
    """One parity row per output of `module.main` (as in the report's `parity` list), mode 'ir'."""
    rows = []
    for name, g, e in zip(module.main.output_names, got, expected, strict=False):
        row = compare_output(name, g, e, rtol, atol).to_json()
        row["stage"] = stage
        row["mode"] = "ir"
        rows.append(row)
    if len(got) != len(expected):
        rows.append({"name": "(outputs)", "shape": [], "dtype": "", "max_abs_err": float("inf"), "max_rel_err": float("inf"),
                     "rtol": 0.0, "atol": 0.0, "passed": False, "worst_index": [], "stage": stage, "mode": "ir",
                     "problem": f"the IR returns {len(got)} outputs, the source {len(expected)}"})
    return rows


class StageChecker:
    """Checks every stage against onnxruntime on the same inputs; records rows and the first divergence."""

    def __init__(self, source, inputs: list[np.ndarray], rtol: float | None, atol: float | None, *,
                 dump_dir: Path, source_name: str = "", expected: list[np.ndarray] | None = None) -> None:
        from mindconverter.runtime_check.reference import run_onnxruntime

        self.inputs = inputs
        self.source = source
        self.rtol, self.atol = rtol, atol
        self.dump_dir = dump_dir
        self.source_name = source_name
        feeds = {name: x for name, x in zip(source.input_names, inputs, strict=True)}
        # `expected`: the source framework's outputs when it is not the ONNX model (TensorFlow, torch).
        self.expected = expected if expected is not None else run_onnxruntime(source.source_model, feeds, source.base_dir)
        self.stages: list[dict[str, Any]] = []
        self.parity: list[dict[str, Any]] = []
        self.divergence: Divergence | None = None
        self.seconds = 0.0
        self._snapshot: Snapshot | None = None
        self._index = 0
        self._last_ok = True

    def before_pass(self, name: str, module: Module) -> None:
        """Nothing to do: the IR before a pass is the IR of the last checked stage (unchanged passes keep it)."""

    def after_pass(self, name: str, module: Module, changed: bool) -> None:
        self._index += 1
        self.check(name, self._index, module, changed)

    def check(self, stage: str, index: int, module: Module, changed: bool = True) -> None:
        start = time.perf_counter()
        try:
            self._check(stage, index, module, changed)
        finally:
            self.seconds += time.perf_counter() - start

    def _check(self, stage: str, index: int, module: Module, changed: bool) -> None:
        row: dict[str, Any] = {"stage": stage, "index": index}
        if not changed and self.stages:
            prev = self.stages[-1]
            row.update(status="unchanged", max_abs_err=prev.get("max_abs_err"), max_rel_err=prev.get("max_rel_err"))
            self.stages.append(row)
            return
        start = time.perf_counter()
        try:
            run = run_ir(module, self.inputs)
        except NotExecutable as exc:
            row.update(status="not executable", reason=str(exc))
            log.warning("--check each: the IR after '%s' is not executable: %s", stage, exc)
            self.stages.append(row)
            return
        except RuntimeCheckError as exc:
            row.update(status="error", reason=exc.what)
            log.warning("--check each: the IR after '%s' does not run: %s", stage, exc.what)
            self.stages.append(row)
            return
        rows = compare_outputs(stage, run.outputs, self.expected, module, self.rtol, self.atol)
        self.parity.extend(rows)
        ok = all(r["passed"] for r in rows)
        row.update(
            status="passed" if ok else "failed",
            max_abs_err=max((r["max_abs_err"] for r in rows), default=0.0),
            max_rel_err=max((r["max_rel_err"] for r in rows), default=0.0),
            seconds=round(time.perf_counter() - start, 3),
        )
        self.stages.append(row)
        log.debug("--check each: %s: %s (max abs err %.3g)", stage, row["status"], row["max_abs_err"])
        if not ok and self._last_ok and self.divergence is None:
            self.divergence = self._localise(stage, index, module)
        self._last_ok = ok
        # Only a transition from a good stage to a bad one needs the IR before it: keep a copy of
        # this stage while all is well (passes that report no change leave it as it is).
        self._snapshot = snapshot(module) if ok and self.divergence is None else None

    def _localise(self, stage: str, index: int, module: Module) -> Divergence | None:
        try:
            if self._snapshot is None:  # the first stage: compare with the source model's own tensors
                feeds = {name: x for name, x in zip(self.source.input_names, self.inputs, strict=True)}
                return frontend_divergence(stage, self.source.source_model, feeds, module, self.inputs, self.rtol, self.atol,
                                           self.source.base_dir)
            found = pass_divergence(stage, self._snapshot, module, self.inputs, self.rtol, self.atol)
        except (NotExecutable, RuntimeCheckError) as exc:
            log.warning("cannot localise the mismatch after '%s': %s", stage, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - localisation is a help; the parity failure is reported anyway
            log.warning("cannot localise the mismatch after '%s': %s: %s", stage, type(exc).__name__, exc)
            return None
        if found is None:
            return None
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        header = (f"source: {self.source_name}  " if self.source_name else "")
        before = self.dump_dir / f"{index:02d}-{stage}.before.ir"
        after = self.dump_dir / f"{index:02d}-{stage}.after.ir"
        before.write_text(print_module(self._snapshot.module, header=header + f"before: {stage}"))
        after.write_text(print_module(module, header=header + f"after: {stage}"))
        found.dumps = [str(before), str(after)]
        return found
