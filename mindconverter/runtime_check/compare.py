"""Tolerances and the comparison of converted outputs with the reference."""

from __future__ import annotations

import attrs
import numpy as np

#: Default (rtol, atol) per dtype kind; integers and booleans must match exactly.
DEFAULT_TOLERANCES = {"float32": (1e-3, 1e-4), "float64": (1e-6, 1e-8), "float16": (1e-2, 1e-3), "bfloat16": (2e-2, 1e-2)}


def tolerance_for(dtype: np.dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return 0.0, 0.0
    d_rtol, d_atol = DEFAULT_TOLERANCES.get(dtype.name, DEFAULT_TOLERANCES["float32"])
    return (d_rtol if rtol is None else rtol), (d_atol if atol is None else atol)


@attrs.define
class OutputParity:
    """How one output compares: max abs and rel error, where the worst element is, pass/fail."""

    name: str
    shape: list[int]
    dtype: str
    max_abs_err: float
    max_rel_err: float
    rtol: float
    atol: float
    passed: bool
    worst_index: list[int] = attrs.field(factory=list)
    problem: str = ""

    def to_json(self) -> dict:
        return attrs.asdict(self)


def compare_output(name: str, got: np.ndarray, expected: np.ndarray, rtol: float | None = None, atol: float | None = None) -> OutputParity:
    """Compare one output; `passed` means |got - expected| <= atol + rtol * |expected| everywhere."""
    expected = np.asarray(expected)
    got = np.asarray(got)
    r, a = tolerance_for(expected.dtype, rtol, atol)
    base = OutputParity(name, list(expected.shape), str(expected.dtype), float("inf"), float("inf"), r, a, False)
    if got.shape != expected.shape:
        base.problem = f"shape {list(got.shape)} != expected {list(expected.shape)}"
        return base
    if expected.size == 0:
        base.max_abs_err = base.max_rel_err = 0.0
        base.passed = True
        return base
    if expected.dtype.kind in "biuUSO":
        diff = got != expected
        base.max_abs_err = float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max()) if expected.dtype.kind in "biu" else float(diff.any())
        base.max_rel_err = base.max_abs_err
        base.passed = not diff.any()
        if diff.any():
            base.worst_index = [int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)]
        return base
    g, e = got.astype(np.float64), expected.astype(np.float64)
    nan_mismatch = np.isnan(g) != np.isnan(e)
    with np.errstate(invalid="ignore"):
        err = np.where(np.isnan(g) & np.isnan(e), 0.0, np.abs(g - e))
        err = np.where(np.isinf(e) & (g == e), 0.0, err)
    err = np.where(nan_mismatch, np.inf, err)
    rel = err / np.maximum(np.abs(e), 1e-12)
    worst = int(np.nanargmax(err)) if err.size else 0
    base.max_abs_err = float(np.nanmax(err))
    base.max_rel_err = float(np.nanmax(np.where(np.abs(e) > a, rel, 0.0)))
    base.worst_index = [int(i) for i in np.unravel_index(worst, err.shape)]
    base.passed = bool(np.all(err <= a + r * np.abs(np.where(np.isfinite(e), e, 0.0))))
    return base
