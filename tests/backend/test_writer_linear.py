"""The writer's work grows linearly with the number of statements in one `construct` (counted, not timed)."""

from __future__ import annotations

import numpy as np
import onnx
from helpers import make_model
from onnx import helper

from mindconverter.backend import inline
from mindconverter.backend.cell_writer import generate
from mindconverter.backend.naming import Namer
from mindconverter.frontend.onnx import load_onnx
from mindconverter.passes.manager import run_default_pipeline


def _encoder(n: int):
    """`n` rounds of x -> Sin -> Mul(., x) -> Add(., x), all in one source module `/encoder`, then a `/head`."""
    nodes, prev = [], "x"
    for i in range(n):
        nodes += [
            helper.make_node("Sin", [prev], [f"s{i}"], name=f"/encoder/Sin_{i}"),
            helper.make_node("Mul", [f"s{i}", prev], [f"m{i}"], name=f"/encoder/Mul_{i}"),
            helper.make_node("Add", [f"m{i}", "x"], [f"a{i}"], name=f"/encoder/Add_{i}"),
        ]
        prev = f"a{i}"
    nodes.append(helper.make_node("Neg", [prev], ["y"], name="/head/Neg"))
    return make_model(nodes, {"x": (np.float32, (2, 4))}, ["y"], {})


def _scanned(n: int, monkeypatch, tmp_path) -> tuple[int, str]:
    """Characters of statement text the inliner read (into parts, and for precedence), and the script."""
    scanned = [0]

    def counting(fn):
        def counted(text: str, *args):
            scanned[0] += len(text)
            return fn(text, *args)
        return counted

    for name in ("_split", "tokens", "level"):
        monkeypatch.setattr(inline, name, counting(getattr(inline, name)))
    path = tmp_path / f"encoder_{n}.onnx"
    onnx.save(_encoder(n), path)
    source = load_onnx(path)
    run_default_pipeline(source.module)
    code = generate(source.module).code
    return scanned[0], code


def test_inlining_scans_each_statement_a_bounded_number_of_times(monkeypatch, tmp_path):
    small, code = _scanned(50, monkeypatch, tmp_path)
    large, _ = _scanned(400, monkeypatch, tmp_path)
    assert "class Encoder(nn.Cell)" in code, code
    assert small > 0
    # 8x the statements: a linear writer scans ~8x the text; the quadratic one scanned ~64x.
    assert large < 10 * small, (small, large)


def test_names_resume_their_suffix_and_roll_back():
    names = Namer({"relu_2"})
    assert [names("relu") for _ in range(3)] == ["relu", "relu_1", "relu_3"]
    mark = names.mark()
    assert (names("relu"), names("conv")) == ("relu_4", "conv")
    names.rollback(mark)
    assert (names("conv"), names("relu")) == ("conv", "relu_4")
