"""Concrete test sizes for symbolic input dims, and the parity check at each size combination.

A model exported with dynamic axes has inputs like `tensor<?batchx?seqxi64>`: one conversion must
serve every size, so the check runs the reference and the generated network at several sizes.

- **Which sizes.** Each symbol of the inputs gets sizes: `--check-sizes NAME=S1,S2` (API
  `check_sizes={"NAME": [S1, S2]}`) when given; otherwise a batch-like symbol (at axis 0 of an input,
  or named like `batch`/`N`) gets 1 and 3, and every other symbol (sequence, height, width...) the
  size it was exported with (an ONNX `metadata_props` entry named after the symbol) or 16, and
  about half of it (`E//2 + 1`). An input dim that is an expression of symbols is evaluated. An
  input dim without a name (`?`) is called `input[axis]`; unnamed dims at the same axis of different
  inputs take the same size.
- **Constraints.** Sizes must make sense for the IR: every dim computed from the symbols stays >= 0
  (>= 1 for the results of convolutions and pooling), broadcast operands agree, MatMul contraction
  dims match, a Reshape keeps its element count, and a table read with `Range` indices (position
  ids) has a row for the last one. A symbol the IR ties to a static size (`?seq` added to a 64-row
  table) is checked at that size only. A default size that breaks a constraint is replaced by the
  next size up (else down) that keeps them all; a size the user gave that breaks one is an error.
- **Combinations.** User-given symbols vary independently (every combination); default symbols
  vary in two groups (all batch-like symbols together, all others together), so a model with
  batch and sequence is checked at (1, E), (1, E//2+1), (3, E), (3, E//2+1). More than
  MAX_COMBINATIONS combinations are reduced to a covering set: the first sizes, each symbol's other
  sizes with the rest at their first, and the last sizes.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from mindconverter.errors import ArgumentError, RuntimeCheckError
from mindconverter.ir.core import Module, Value
from mindconverter.ir.types import Sym, Unknown
from mindconverter.runtime_check.inputs import (
    check_test_data_size,
    input_role,
    input_shape,
    make_input,
    unknown_dim_name,
)
from mindconverter.runtime_check.size_constraints import Constraint, collect_constraints, violated

log = logging.getLogger("mindconverter")

BATCH_SIZES = (1, 3)
DEFAULT_SIZE = 16
MAX_COMBINATIONS = 16
#: How far above a default size the planner looks for one that meets the IR's constraints.
_SEARCH = 128
_BATCH_NAMES = re.compile(r"(?i)^(n|b|bs|batch.*|.*_batch|.*batch_size|.*batch_dim)$")


# -- parsing ------------------------------------------------------------------------------------------


def parse_check_sizes(items: Mapping[str, Any] | Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """`["batch=1,3", "seq=5,16"]` or `{"batch": [1, 3], "seq": 16}` -> {"batch": (1, 3), "seq": (16,)}."""
    if not items:
        return {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items:
            name, eq, sizes = str(item).rpartition("=")
            if not eq or not name.strip():
                raise ArgumentError(f"--check-sizes entry '{item}' is not NAME=SIZES",
                                    fix="write e.g. --check-sizes batch=1,3 seq=5,16")
            pairs.append((name.strip(), sizes))
    out: dict[str, tuple[int, ...]] = {}
    for name, sizes in pairs:
        parts = [s.strip() for s in sizes.split(",")] if isinstance(sizes, str) else (
            list(sizes) if isinstance(sizes, (list, tuple, range)) else [sizes])
        try:
            values = tuple(int(s) for s in parts if s != "")
        except (TypeError, ValueError):
            values = ()
        if not values or any(v <= 0 for v in values):
            raise ArgumentError(f"--check-sizes for '{name}' must be positive integers, got '{sizes}'",
                                fix="write e.g. --check-sizes batch=1,3 seq=5,16")
        out[name] = tuple(dict.fromkeys(values))
    return out


# -- symbols of the inputs --------------------------------------------------------------------------


@attrs.define
class SizeSymbol:
    """A size the check chooses: a symbol of the inputs (or an unnamed input dim) and its test sizes."""

    name: str
    kind: str  # "batch" or "size"
    sizes: tuple[int, ...] = ()
    source: str = "default"
    #: Other unnamed input dims that take this size (`attention_mask[1]` with `input_ids[1]`).
    aliases: list[str] = attrs.field(factory=list)


def input_symbols(args: Sequence[Value]) -> list[SizeSymbol]:
    """The sizes to choose for `args`, in order of appearance: their symbols and unnamed dims."""
    from mindconverter.ir import symbolic

    found: dict[str, SizeSymbol] = {}
    by_axis: dict[int, SizeSymbol] = {}
    for a in args:
        dims = a.type.dims or ()
        for axis, d in enumerate(dims):
            batchy = axis == 0 and len(dims) >= 2
            if isinstance(d, Unknown):
                sym = by_axis.get(axis)
                if sym is None:
                    sym = by_axis[axis] = found.setdefault(unknown_dim_name(a, axis), SizeSymbol(
                        unknown_dim_name(a, axis), "batch" if batchy else "size"))
                elif unknown_dim_name(a, axis) != sym.name:
                    sym.aliases.append(unknown_dim_name(a, axis))
                continue
            for name in sorted(symbolic.free_symbols(d)):
                kind = "batch" if (batchy and isinstance(d, Sym)) or _BATCH_NAMES.match(name) else "size"
                if name in found:
                    if kind == "batch":
                        found[name].kind = "batch"
                    continue
                found[name] = SizeSymbol(name, kind)
    return list(found.values())


# -- the plan -----------------------------------------------------------------------------------------


@attrs.define
class SizePlan:
    """The symbols and their sizes, and the size combinations the check runs (symbol -> size each)."""

    symbols: list[SizeSymbol]
    combinations: list[dict[str, int]]
    notes: list[str] = attrs.field(factory=list)

    def env(self, sizes: Mapping[str, int]) -> dict[str, int]:
        """The sizes with the unnamed dims that share a size (aliases) filled in."""
        env = dict(sizes)
        for s in self.symbols:
            for alias in s.aliases:
                env[alias] = sizes[s.name]
        return env

    def to_json(self) -> dict[str, Any]:
        return {
            "symbols": {s.name: {"sizes": list(s.sizes), "kind": s.kind, "source": s.source} for s in self.symbols},
            "combinations": [dict(c) for c in self.combinations],
            "notes": list(self.notes),
        }


def plan_sizes(module: Module, requested: Mapping[str, Sequence[int]] | None = None,
               export_sizes: Mapping[str, int] | None = None, max_combinations: int = MAX_COMBINATIONS) -> SizePlan:
    """Choose the size combinations to check `module.main` at (see the module docstring)."""
    requested = dict(requested or {})
    export_sizes = dict(export_sizes or {})
    symbols = input_symbols(module.main.args)
    by_name = {s.name: s for s in symbols} | {a: s for s in symbols for a in s.aliases}
    unknown = [n for n in requested if n not in by_name]
    if unknown:
        names = ", ".join(s.name for s in symbols) or "none: every input dim is static"
        raise ArgumentError(f"--check-sizes names '{unknown[0]}', which is not a symbolic dim of the model's inputs",
                            fix=f"symbolic input dims: {names}")
    if not symbols:
        return SizePlan([], [{}])
    constraints = collect_constraints(module, [n for s in symbols for n in (s.name, *s.aliases)])
    ties = {c.ties[0]: (c.ties[1], c) for c in constraints if c.ties}
    notes: list[str] = []
    for s in symbols:
        given = requested.get(s.name) or next((requested[a] for a in s.aliases if a in requested), None)
        if given:
            s.sizes, s.source = tuple(given), "--check-sizes"
        elif s.name in ties:
            size, c = ties[s.name]
            s.sizes, s.source = (size,), f"tied to {size} by {c.what}"
            notes.append(f"'{s.name}' is checked at {size} only: {c.what}")
        elif s.kind == "batch":
            s.sizes = BATCH_SIZES
        else:
            first = int(export_sizes.get(s.name, DEFAULT_SIZE))
            s.sizes = (first, first // 2 + 1 if first // 2 + 1 != first else first + 1)
            s.source = "export size" if s.name in export_sizes else "default"
    plan = SizePlan(symbols, [], notes)
    base = {s.name: s.sizes[0] for s in symbols}
    for s in symbols:  # defaults that break a constraint move up to the next size that keeps them all
        if s.source not in ("default", "export size"):
            continue
        mine = [c for c in constraints if s.name in c.symbols]
        chosen: list[int] = []
        for size in s.sizes:
            found = _search(plan, size, s, base, mine, chosen)
            if found is None:
                notes.append(f"no size of '{s.name}' from 1 to {size + _SEARCH} meets the IR's constraints")
                continue
            if found != size:
                why = violated(mine, plan.env({**base, s.name: size}))
                notes.append(f"'{s.name}' is checked at {found} instead of {size}" + (f": {why.what}" if why else ""))
            chosen.append(found)
            base[s.name] = chosen[0]
        if chosen:
            s.sizes = tuple(chosen)
    given = {n for s in symbols if s.source == "--check-sizes" for n in (s.name, *s.aliases)}
    for combo in _combinations(symbols, max_combinations, notes):
        bad = violated(constraints, plan.env(combo))
        if bad is None:
            plan.combinations.append(combo)
        elif bad.symbols & given:
            raise ArgumentError(
                f"--check-sizes {', '.join(f'{k}={v}' for k, v in combo.items())} cannot run: {bad.what}",
                fix="choose sizes the model accepts")
        else:
            notes.append(f"sizes {_label(combo)} skipped: {bad.what}")
    if not plan.combinations:
        raise ArgumentError("no combination of test sizes meets the model's constraints: " + "; ".join(notes),
                            fix="give sizes with --check-sizes NAME=SIZES, fix the shapes with --shape, or pass --input_data FILE.npz")
    return plan


def _search(plan: SizePlan, size: int, s: SizeSymbol, base: Mapping[str, int], constraints: list[Constraint],
            taken: list[int]) -> int | None:
    """The first size from `size` up, else down (not in `taken`), for which `constraints` hold, the others at `base`."""
    for candidate in [*range(size, size + _SEARCH + 1), *range(size - 1, 0, -1)]:
        if candidate not in taken and violated(constraints, plan.env({**base, s.name: candidate})) is None:
            return candidate
    return None


def _combinations(symbols: list[SizeSymbol], cap: int, notes: list[str]) -> list[dict[str, int]]:
    """Every combination over the axes (user symbols one axis each, default ones in two groups), capped."""
    axes: list[list[SizeSymbol]] = []  # in the order of the symbols' first appearance
    groups: dict[str, list[SizeSymbol]] = {}
    for s in symbols:
        if s.source == "--check-sizes":
            axes.append([s])
        elif s.kind in groups:
            groups[s.kind].append(s)
        else:
            axes.append(groups.setdefault(s.kind, [s]))
    lengths = [max(len(s.sizes) for s in axis) for axis in axes]

    def combo(indices: Sequence[int]) -> dict[str, int]:
        out = {}
        for axis, i in zip(axes, indices, strict=True):
            for s in axis:
                out[s.name] = s.sizes[min(i, len(s.sizes) - 1)]
        return out

    total = int(np.prod(lengths, dtype=np.int64))
    if total <= cap:
        picks = list(itertools.product(*(range(n) for n in lengths)))
    else:
        picks = [tuple(0 for _ in lengths)]
        for a, n in enumerate(lengths):
            picks += [tuple(i if b == a else 0 for b in range(len(lengths))) for i in range(1, n)]
        picks.append(tuple(n - 1 for n in lengths))
        notes.append(f"{total} size combinations reduced to {min(cap, len(set(picks)))} (each size at least once)")
    out: list[dict[str, int]] = []
    for p in picks:
        c = combo(p)
        if c not in out:
            out.append(c)
    return out[:cap]


def _label(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items()) or "static shapes"


def export_sizes_of(metadata: Mapping[str, str]) -> dict[str, int]:
    """Export sizes from model metadata: entries named after a symbol holding a positive integer."""
    out = {}
    for key, value in metadata.items():
        try:
            size = int(str(value).strip())
        except ValueError:
            continue
        if size > 0:
            out[key] = size
    return out


# -- the inputs and the check at each size ---------------------------------------------------------------


@attrs.define
class SizeCase:
    """One size combination: its sizes (symbol -> size; {} for static inputs) and the test inputs."""

    sizes: dict[str, int]
    inputs: list[np.ndarray]

    @property
    def label(self) -> str:
        return _label(self.sizes)


class CheckInputs:
    """The check's test inputs: given (`--input_data`) or made at each planned size combination.

    Built from the frontend's IR, where the ops that give inputs their meaning (Gather, Reshape...)
    are still ONNX ops; the roles keep the consumers' values, whose types later passes refine.
    """

    def __init__(self, module: Module, *, given: list[np.ndarray] | None = None, seed: int = 0,
                 requested: Mapping[str, Sequence[int]] | None = None, export_sizes: Mapping[str, int] | None = None) -> None:
        self.given = given
        self.seed = seed
        self.requested = dict(requested or {})
        self.export_sizes = dict(export_sizes or {})
        self.roles = [input_role(a, module) for a in module.main.args]
        self.plan: SizePlan | None = None
        if given is not None and self.requested:
            raise ArgumentError("--check-sizes and --input_data both choose the test inputs",
                                fix="give one of them: --input_data fixes the sizes to its arrays'")

    def cases(self, module: Module, first_only: bool = False) -> list[SizeCase]:
        """The test cases for `module` (whose argument types are the final, most precise ones)."""
        args = module.main.args
        if self.given is not None:
            return [SizeCase(_sizes_of(args, self.given), self.given)]
        plan = plan_sizes(module, self.requested, self.export_sizes)
        self.plan = plan
        combos = plan.combinations[:1] if first_only else plan.combinations
        cases = []
        for sizes in combos:
            env = plan.env(sizes)
            shapes = [input_shape(a, env) for a in args]
            check_test_data_size(args, shapes)
            rng = np.random.default_rng(self.seed)
            inputs = [make_input(a, role, shape, rng, env) for a, role, shape in zip(args, self.roles, shapes, strict=True)]
            cases.append(SizeCase(dict(sizes), inputs))
        for note in plan.notes:
            log.info("check sizes: %s", note)
        return cases


def _sizes_of(args: Sequence[Value], arrays: Sequence[np.ndarray]) -> dict[str, int]:
    """The symbol sizes given arrays have (for the report)."""
    out: dict[str, int] = {}
    for a, x in zip(args, arrays, strict=False):
        for axis, d in enumerate(a.type.dims or ()):
            if isinstance(d, Sym) and axis < np.ndim(x):
                out.setdefault(d.name, int(np.shape(x)[axis]))
    return out


def reference_outputs(run: Callable[[list[np.ndarray]], list[np.ndarray]], case: SizeCase, generated: bool) -> list[np.ndarray]:
    """The reference's outputs for one case; when it fails on generated data, say to pass real inputs."""
    try:
        return run(case.inputs)
    except RuntimeCheckError as exc:
        if not generated:
            raise
        at = f" at sizes {case.label}" if case.sizes else ""
        raise RuntimeCheckError(
            f"the reference cannot run on the generated test data{at}: {exc.what}",
            where="the check's seeded random inputs (integer inputs follow the ops that consume them)",
            fix="pass real inputs with --input_data FILE.npz (one array per input name), choose other sizes with "
            "--check-sizes NAME=SIZES, or skip the check with --check off",
        ) from exc


def parity_at_sizes(
    cases: Sequence[SizeCase], expected: Sequence[list[np.ndarray]], script: Any, checkpoint: Any,
    output_names: Sequence[str], modes: Sequence[str], rtol: float | None, atol: float | None,
) -> list[dict[str, Any]]:
    """Run the generated network (built once per mode) at every case; one parity row per output, mode and case."""
    from mindconverter.errors import ParityError
    from mindconverter.runtime_check.compare import compare_output
    from mindconverter.runtime_check.mindspore_run import run_network_on

    rows = []
    for mode in modes:
        runs = run_network_on(script, checkpoint, [c.inputs for c in cases], mode)
        for case, exp in zip(cases, expected, strict=True):
            try:
                got = next(runs)
            except Exception as exc:  # noqa: BLE001 - any MindSpore failure is a conversion bug to report
                at = f" at sizes {case.label}" if case.sizes else ""
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise RuntimeCheckError(
                    f"the generated network failed to run in {mode} mode{at}: {type(exc).__name__}: {first}",
                    fix="rerun with -v for the traceback, and --check off to keep the output anyway",
                ) from exc
            if len(got) != len(exp):
                raise ParityError(f"the generated network returns {len(got)} outputs, the source {len(exp)}")
            for name, g, e in zip(output_names, got, exp, strict=True):
                row = compare_output(name, g, e, rtol, atol).to_json()
                row.update(stage="backend", mode=mode, sizes=dict(case.sizes))
                rows.append(row)
            if case.sizes:
                worst = max((r["max_abs_err"] for r in rows[-len(exp):]), default=0.0)
                ok = all(r["passed"] for r in rows[-len(exp):])
                log.debug("parity %s at sizes %s: max abs err %.3g -> %s", mode, case.label, worst, "pass" if ok else "FAIL")
    return rows


def size_summary(parity: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per checked size combination: sizes, modes, worst errors over outputs and modes, pass/fail."""
    rows: dict[tuple, dict[str, Any]] = {}
    for p in parity:
        if p.get("stage", "backend") != "backend":
            continue
        key = tuple(sorted(p.get("sizes", {}).items()))
        row = rows.setdefault(key, {"sizes": dict(p.get("sizes", {})), "modes": [], "max_abs_err": 0.0,
                                    "max_rel_err": 0.0, "passed": True, "failed_outputs": []})
        if p["mode"] not in row["modes"]:
            row["modes"].append(p["mode"])
        row["max_abs_err"] = max(row["max_abs_err"], p["max_abs_err"])
        row["max_rel_err"] = max(row["max_rel_err"], p["max_rel_err"])
        if not p["passed"]:
            row["passed"] = False
            row["failed_outputs"].append(f"{p['name']} ({p['mode']})")
    return list(rows.values())


def size_lines(parity: Sequence[Mapping[str, Any]]) -> list[str]:
    """Report lines, one per size combination: `sizes batch=1, seq=16 (pynative, graph): max abs err ...: pass`."""
    lines = []
    for row in size_summary(parity):
        status = "pass" if row["passed"] else "FAIL: " + ", ".join(row["failed_outputs"])
        lines.append(f"sizes {_label(row['sizes'])} ({', '.join(row['modes'])}): max abs err {row['max_abs_err']:.3g}, "
                     f"max rel err {row['max_rel_err']:.3g}: {status}")
    return lines


__all__ = [
    "BATCH_SIZES", "CheckInputs", "Constraint", "DEFAULT_SIZE", "MAX_COMBINATIONS", "SizeCase", "SizePlan", "SizeSymbol",
    "collect_constraints", "export_sizes_of", "input_symbols", "parity_at_sizes", "parse_check_sizes", "plan_sizes", "reference_outputs",
    "size_lines", "size_summary", "violated",
]
