"""The final check: the generated MindSpore network against the reference outputs, and what to say when it differs.

The code generator is passed in (`write_network`), so runtime_check does not import the backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mindconverter.errors import ParityError, RuntimeCheckError
from mindconverter.ir.core import Module

log = logging.getLogger("mindconverter")

#: Writes the MindSpore network of a module into a folder; returns (script, checkpoint).
WriteNetwork = Callable[[Module, Path], tuple[Path, Path]]


def check_at_sizes(cases: Sequence[Any], run_reference: Callable[[list[np.ndarray]], list[np.ndarray]], script: Path,
                   checkpoint: Path, output_names: list[str], modes: tuple[str, ...], rtol: float | None,
                   atol: float | None, generated: bool) -> tuple[list[dict[str, Any]], list[list[np.ndarray]]]:
    """Run the reference and the generated network at every test size; per-output rows and the reference outputs."""
    from mindconverter.runtime_check.sizes import parity_at_sizes, reference_outputs

    expected = [reference_outputs(run_reference, c, generated) for c in cases]
    rows = parity_at_sizes(cases, expected, script, checkpoint, output_names, modes, rtol, atol)
    return rows, expected


def size_lines(parity: list[dict[str, Any]]) -> list[str]:
    """One line per test size when the check ran at several sizes (else none)."""
    from mindconverter.runtime_check.sizes import size_lines as lines

    return list(lines(parity)) if any(p.get("sizes") for p in parity) else []


def parity_lines(parity: list[dict[str, Any]]) -> list[str]:
    """The parity results as report lines (without the `[Parity] ` prefix): one per size, or per output and stage."""
    from mindconverter.runtime_check.sizes import size_lines

    sized = any(p.get("sizes") for p in parity)
    lines = list(size_lines(parity)) if sized else []
    for p in parity:
        if sized and p.get("stage", "backend") == "backend":
            continue  # one line per size above
        status = "pass" if p["passed"] else "FAIL"
        where = p["mode"] if p.get("stage", "backend") == "backend" else f"after {p['stage']}"
        lines.append(
            f"{where} output '{p['name']}': max abs err {p['max_abs_err']:.3g}, max rel err "
            f"{p['max_rel_err']:.3g} (rtol {p['rtol']:g}, atol {p['atol']:g}): {status}"
        )
    return lines


def backend_divergence(module: Module, inputs: list[np.ndarray], expected: list[np.ndarray], rtol: float | None,
                       atol: float | None, checked_ir: bool, write_network: WriteNetwork):
    """Localise a backend mismatch: the first op whose MindSpore value differs from the IR's (None if unknown)."""
    from mindconverter.runtime_check import divergence as div
    from mindconverter.runtime_check.evaluate import NotExecutable, run_ir
    from mindconverter.runtime_check.stages import compare_outputs

    try:
        if not checked_ir:  # --check end: is the IR itself still right?
            rows = compare_outputs("passes", run_ir(module, inputs).outputs, expected, module, rtol, atol)
            bad = [r for r in rows if not r["passed"]]
            if bad:
                return div.Divergence(
                    "passes", "", "", "", bad[0]["max_abs_err"], bad[0]["max_rel_err"], bad[0]["rtol"], bad[0]["atol"],
                    bad[0]["worst_index"], bad[0]["shape"],
                    note="the IR after the passes already differs from onnxruntime, so the backend is not at fault; "
                    "rerun with --check each to find the pass",
                )
        return div.backend_divergence(module, inputs, rtol, atol, write_network=write_network)
    except (NotExecutable, RuntimeCheckError) as exc:
        log.warning("cannot localise the mismatch: %s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - localisation is a help; the parity failure is reported anyway
        log.warning("cannot localise the mismatch: %s: %s", type(exc).__name__, exc)
        log.debug("traceback:", exc_info=True)
        return None


def backend_stage(parity: list[dict[str, Any]]) -> dict[str, Any]:
    """The backend's row of the per-stage table."""
    rows = [p for p in parity if p["stage"] == "backend"]
    return {
        "stage": "backend",
        "status": "passed" if all(p["passed"] for p in rows) else "failed",
        "max_abs_err": max((p["max_abs_err"] for p in rows), default=0.0),
        "max_rel_err": max((p["max_rel_err"] for p in rows), default=0.0),
    }


def _at_sizes(row: dict[str, Any]) -> str:
    sizes = row.get("sizes") or {}
    return " at sizes " + ", ".join(f"{k}={v}" for k, v in sizes.items()) if sizes else ""


def _stage_words(stage: str, divergence) -> str:
    if stage != "backend":
        return f" after {stage!r}"
    return "" if divergence is not None and divergence.stage != "backend" else " in the backend"


def _fix(stage: str, divergence, out_dir: Path) -> str:
    dumps = f"; IR before/after: {', '.join(divergence.dumps)}" if divergence is not None and divergence.dumps else ""
    if divergence is not None and divergence.stage == "backend" and divergence.op:
        return f"this is a bug in the emitter of '{divergence.op}' (backend/emitters/); outputs were written to {out_dir}"
    if stage == "frontend" and divergence is not None and divergence.op:
        return "the frontend's IR already differs from the model: this is a bug in frontend/onnx.py; report the model"
    if stage not in ("backend", "frontend", "resumed") and divergence is not None and divergence.stage == stage:
        return f"this is a bug in pass '{stage}'{dumps}; skip it with --skip-pass {stage}"
    return f"rerun with --check each --dump-ir DIR{dumps}; outputs were written to {out_dir}"


def parity_error(bad: dict[str, Any], divergence, out_dir: Path) -> ParityError:
    """The error for the first failing parity row: which stage, which output, and the first diverging op."""
    stage = bad["stage"]
    if divergence is None and stage == "backend":
        return ParityError(
            f"parity failed: output '{bad['name']}' max abs diff {bad['max_abs_err']:.3g} > atol {bad['atol']:g} "
            f"(rtol {bad['rtol']:g}) in {bad['mode']} mode{_at_sizes(bad)}" + (f": {bad['problem']}" if bad.get("problem") else ""),
            where=f"worst element at index {bad['worst_index']}; outputs were written to {out_dir}",
            fix="rerun with --dump-ir DIR and -v, and report the model; --rtol/--atol loosen the check if this error is expected",
        )
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
    return ParityError(what, where=where, fix=_fix(stage, divergence, out_dir))
