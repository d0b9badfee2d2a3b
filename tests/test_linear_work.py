"""Conversion work grows linearly with the model: function calls per stage counted at 2 and 8 layers, not timed.

The model is the depth study's windowed-attention transformer (benchmarks/conversion.py), in both
styles: a module per block, and the blocks as one function (one `construct` that grows with depth).
Every call (Python and builtin) made while loading, in each pass and in the backend is counted with
`sys.setprofile`. A linear stage makes about (ops at 8 layers / ops at 2 layers) times the calls;
the quadratic ones this test was written against made 1.9 to 3.3 times that (a function rescan per
pattern rewrite, a block scan per outlined cell).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mindconverter.backend.cell_writer import generate
from mindconverter.frontend.onnx import load_onnx
from mindconverter.passes.manager import DEFAULT_PIPELINE, PassManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from conversion import build_model  # noqa: E402 - the depth study's model, one definition

#: A stage may make this many times (ops ratio) the calls: fixed costs make small models relatively dearer.
STAGE_SLACK = 1.35
TOTAL_SLACK = 1.2


class _CallCounter:
    """Calls per stage, counted by a profile hook."""

    def __init__(self) -> None:
        self.stage = "frontend"
        self.calls: dict[str, int] = {}

    def __call__(self, frame, event: str, arg) -> None:
        if event in ("call", "c_call"):
            self.calls[self.stage] = self.calls.get(self.stage, 0) + 1

    def enter(self, stage: str, *_) -> None:
        self.stage = stage


def _convert(path: Path, counter: _CallCounter | None = None) -> int:
    """Load, run the default passes and generate the script for `path`; returns the ops after the passes."""
    if counter is not None:
        sys.setprofile(counter)
    try:
        module = load_onnx(path).module
        PassManager(DEFAULT_PIPELINE, dump_frontend=False, before_pass=counter.enter if counter else None).run(module)
        if counter is not None:
            counter.enter("backend")
        generate(module)
    finally:
        sys.setprofile(None)
    return sum(1 for _ in module.ops())


@pytest.mark.parametrize("style", ["modules", "functional"])
def test_calls_per_stage_grow_with_the_ops(style, tmp_path):
    pytest.importorskip("torch")
    paths = {n: tmp_path / f"{style}_{n}.onnx" for n in (2, 8)}
    for n, path in paths.items():
        build_model(n, path, functional=style == "functional")
    _convert(paths[2])  # first use: imports and caches are not counted below
    counters = {n: _CallCounter() for n in paths}
    ops = {n: _convert(path, counters[n]) for n, path in paths.items()}
    small, large = counters[2].calls, counters[8].calls
    growth = ops[8] / ops[2]
    assert growth > 3, ops
    ratios = {stage: large[stage] / small[stage] for stage in large}
    table = "\n".join(f"  {s:24} {small[s]:>9} {large[s]:>9} {r:6.2f}" for s, r in ratios.items())
    report = f"{style}: ops {ops[2]} -> {ops[8]} ({growth:.2f}x); calls per stage at 2 and 8 layers:\n{table}"
    assert set(ratios) >= {"frontend", "fuse-dense", "structure-modules", "backend"}, report
    superlinear = {s: r for s, r in ratios.items() if r > STAGE_SLACK * growth}
    assert not superlinear, f"stages whose work grows faster than the model: {superlinear}\n{report}"
    assert sum(large.values()) / sum(small.values()) < TOTAL_SLACK * growth, report
