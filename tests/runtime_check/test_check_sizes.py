"""The parity check of models with symbolic input dims: one conversion, checked at several sizes, reported per size."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import helper

from mindconverter.api import convert
from mindconverter.cli import main
from mindconverter.errors import ArgumentError, RuntimeCheckError


@pytest.fixture(autouse=True)
def _restore_console_logger():
    """main() points the logger at this test's captured stderr; later tests must not write to it."""
    logger = logging.getLogger("mindconverter")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(scope="module")
def dynamic_mlp(tmp_path_factory):
    """y = relu(x @ W) with x: (batch, seq, 4)."""
    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        {"x": (np.float32, ("batch", "seq", 4))}, ["y"], {"w": w},
    )
    path = tmp_path_factory.mktemp("dyn") / "dynamic_mlp.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def positions(tmp_path_factory):
    """Token plus position embeddings from row 4 on: the 8-row table fails the reference beyond 4 tokens.

    The offset hides the bound from the IR's types (position ids straight from a Range are a constraint the
    size planner reads), so only the reference finds it.
    """
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Shape", ["ids"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["seq"], axis=0),
        helper.make_node("Range", ["zero", "seq", "one"], ["pos"]),
        helper.make_node("Add", ["pos", "four"], ["shifted"]),
        helper.make_node("Gather", ["table", "shifted"], ["pe"], axis=0),
        helper.make_node("Gather", ["emb", "ids"], ["te"], axis=0),
        helper.make_node("Add", ["te", "pe"], ["y"]),
    ]
    inits = {"one": np.array(1, np.int64), "zero": np.array(0, np.int64), "four": np.array(4, np.int64),
             "table": rng.standard_normal((8, 4)).astype(np.float32), "emb": rng.standard_normal((10, 4)).astype(np.float32)}
    path = tmp_path_factory.mktemp("pos") / "positions.onnx"
    onnx.save(make_model(nodes, {"ids": (np.int64, ("batch", "seq"))}, ["y"], inits), path)
    return path


def test_a_dynamic_model_is_checked_at_every_default_size_and_reported_per_size(dynamic_mlp, tmp_path):
    result = convert(dynamic_mlp, output=tmp_path)
    sizes = [{"batch": b, "seq": s} for b in (1, 3) for s in (16, 9)]
    assert [(p["sizes"], p["mode"], p["passed"]) for p in result.parity] == [(s, "pynative", True) for s in sizes]
    assert [p["shape"] for p in result.parity] == [[s["batch"], s["seq"], 3] for s in sizes]
    report = json.loads(result.report_json.read_text())
    assert report["inputs"][0]["shape"] == ["?batch", "?seq", 4]
    assert report["check_sizes"]["symbols"] == {
        "batch": {"sizes": [1, 3], "kind": "batch", "source": "default"},
        "seq": {"sizes": [16, 9], "kind": "size", "source": "default"},
    }
    assert [r["sizes"] for r in report["check_sizes"]["results"]] == sizes
    assert all(r["passed"] and r["max_abs_err"] < 1e-4 for r in report["check_sizes"]["results"])
    lines = [line for line in result.report_txt.read_text().splitlines() if line.startswith("[Parity]")]
    assert len(lines) == 4 and lines[0].startswith("[Parity] sizes batch=1, seq=16 (pynative): max abs err")
    assert lines[0].endswith(": pass")
    assert "at 4 sizes (batch=1, seq=16; batch=1, seq=9; batch=3, seq=16; batch=3, seq=9): passed" in result.script.read_text()


def test_cli_check_sizes_pin_and_vary_sizes_in_both_modes(dynamic_mlp, tmp_path, capsys):
    code = main(["--model_file", str(dynamic_mlp), "--output", str(tmp_path), "--check-sizes", "batch=2", "seq=3,5",
                 "--check-mode", "both"])
    assert code == 0
    report = json.loads((tmp_path / "report_of_dynamic_mlp.json").read_text())
    assert report["check_sizes"]["combinations"] == [{"batch": 2, "seq": 3}, {"batch": 2, "seq": 5}]
    assert [(r["sizes"], r["modes"], r["passed"]) for r in report["check_sizes"]["results"]] == [
        ({"batch": 2, "seq": 3}, ["pynative", "graph"], True), ({"batch": 2, "seq": 5}, ["pynative", "graph"], True)]
    assert "parity sizes batch=2, seq=5 (pynative, graph): max abs err" in capsys.readouterr().err


def test_cli_names_the_symbols_when_check_sizes_names_another(dynamic_mlp, tmp_path, capsys):
    assert main(["--model_file", str(dynamic_mlp), "--output", str(tmp_path), "--check-sizes", "sequence=5"]) == 1
    err = capsys.readouterr().err
    assert "error[0000001]: --check-sizes names 'sequence', which is not a symbolic dim" in err
    assert "symbolic input dims: batch, seq" in err


def test_input_data_fixes_the_sizes(dynamic_mlp, tmp_path):
    x = np.random.default_rng(3).standard_normal((2, 7, 4)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    result = convert(dynamic_mlp, output=tmp_path / "out", input_data=tmp_path / "x.npz")
    assert [(p["sizes"], p["passed"]) for p in result.parity] == [({"batch": 2, "seq": 7}, True)]
    with pytest.raises(ArgumentError, match="--check-sizes and --input_data both choose"):
        convert(dynamic_mlp, output=tmp_path / "out2", input_data=tmp_path / "x.npz", check_sizes={"seq": [3]})


def test_shape_pins_the_dims_and_leaves_one_static_check(dynamic_mlp, tmp_path):
    result = convert(dynamic_mlp, output=tmp_path, shape=["2,5,4"])
    assert [(p["sizes"], p["shape"], p["passed"]) for p in result.parity] == [({}, [2, 5, 3], True)]
    assert "check_sizes" not in result.report


def test_when_the_reference_rejects_generated_data_the_error_says_to_pass_input_data(positions, tmp_path):
    with pytest.raises(RuntimeCheckError, match="the reference cannot run on the generated test data at sizes batch=1, seq=16") as info:
        convert(positions, output=tmp_path / "out")
    assert "--input_data FILE.npz" in info.value.fix and "--check-sizes" in info.value.fix
    assert not (tmp_path / "out" / "positions.py").exists()  # a failed run leaves no partial outputs
    result = convert(positions, output=tmp_path / "ok", check_sizes={"seq": [2, 4]})
    assert [(p["sizes"], p["passed"]) for p in result.parity] == [
        ({"batch": 1, "seq": 2}, True), ({"batch": 1, "seq": 4}, True), ({"batch": 3, "seq": 2}, True), ({"batch": 3, "seq": 4}, True)]


def test_a_mismatch_names_the_sizes_it_was_found_at(dynamic_mlp, tmp_path):
    from mindconverter.errors import ParityError

    def negate_relu(module, ctx) -> bool:
        """A broken pass: Relu becomes Neg."""
        relus = [op for op in module.ops() if op.name == "onnx.Relu"]
        for op in relus:
            op.name = "onnx.Neg"
        return bool(relus)

    with pytest.raises(ParityError, match=r"parity failed at sizes batch=1, seq=16: output 'y'"):
        convert(dynamic_mlp, output=tmp_path, passes=[negate_relu])
    report = json.loads((tmp_path / "report_of_dynamic_mlp.json").read_text())
    assert [r["passed"] for r in report["check_sizes"]["results"]] == [False] * 4


def test_position_ids_from_a_range_keep_the_default_sizes_within_the_table(tmp_path):
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Shape", ["ids"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["seq"], axis=0),
        helper.make_node("Range", ["zero", "seq", "one"], ["pos"]),
        helper.make_node("Gather", ["table", "pos"], ["pe"], axis=0),
        helper.make_node("Gather", ["emb", "ids"], ["te"], axis=0),
        helper.make_node("Add", ["te", "pe"], ["y"]),
    ]
    inits = {"one": np.array(1, np.int64), "zero": np.array(0, np.int64),
             "table": rng.standard_normal((8, 4)).astype(np.float32), "emb": rng.standard_normal((10, 4)).astype(np.float32)}
    path = tmp_path / "positions.onnx"
    onnx.save(make_model(nodes, {"ids": (np.int64, ("batch", "seq"))}, ["y"], inits), path)
    result = convert(path, output=tmp_path / "out")
    assert result.report["check_sizes"]["symbols"]["seq"]["sizes"] == [8, 7]  # not 16 and 9: the table has 8 rows
    assert all(r["passed"] for r in result.report["check_sizes"]["results"])
    assert any("table of 8 rows" in n for n in result.report["check_sizes"]["notes"])
