"""Every `[UnConvert]` line points at the placeholder call of its op in NAME.py (flat, and inside a repeated class)."""

from __future__ import annotations

import ast
import json
import re

import numpy as np
import onnx
from helpers import make_model
from onnx import helper

from mindconverter.cli import main


def _frob(inputs: list[str], output: str, name: str):
    return helper.make_node("Frobnicate", inputs, [output], domain="com.example", name=name)


def _flat_model():
    """Two unsupported ops at the top level, between supported ones."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu_0"),
        _frob(["a"], "b", "frob_0"),
        helper.make_node("Add", ["b", "x"], ["c"], name="add_0"),
        _frob(["c", "a"], "d", "frob_1"),
        helper.make_node("Relu", ["d"], ["y"], name="relu_1"),
    ]
    return make_model(nodes, {"x": (np.float32, (2, 3))}, ["y"], extra_opsets={"com.example": 1})


def _repeated_model():
    """Three blocks of one kind, each with an unsupported op of its own, and one more after them."""
    nodes, prev = [], "x"
    for i in range(3):
        nodes += [
            helper.make_node("Sin", [prev], [f"s{i}"], name=f"/blocks.{i}/Sin"),
            _frob([f"s{i}"], f"f{i}", f"/blocks.{i}/Frobnicate"),
            helper.make_node("Add", [f"f{i}", prev], [f"a{i}"], name=f"/blocks.{i}/Add"),
        ]
        prev = f"a{i}"
    nodes.append(_frob([prev], "y", "/head/Frobnicate"))
    return make_model(nodes, {"x": (np.float32, (2, 3))}, ["y"], extra_opsets={"com.example": 1})


def _convert(model, tmp_path, name: str):
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    out = tmp_path / name
    assert main(["--model_file", str(path), "--output", str(out), "--allow-unsupported", "-q"]) == 0
    return (out / f"{name}.py").read_text(), json.loads((out / f"report_of_{name}.json").read_text()), \
        (out / f"report_of_{name}.txt").read_text()


def _placeholder_members(tree: ast.Module) -> dict[tuple[str, str], str]:
    """(class, member) -> the op name of each `self.<member> = UnsupportedOp("<op>", ...)` in a class's __init__."""
    found = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "UnsupportedOp"):
                target = node.targets[0]
                found[cls.name, target.attr] = node.value.args[0].value
    return found


def _call_at(tree: ast.Module, line: int, col: int) -> tuple[str, str] | None:
    """(class, member) of the `self.<member>(...)` call that starts at line:col."""
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and (node.lineno, node.col_offset) == (line, col):
                f = node.func
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                    return cls.name, f.attr
    return None


def _check_locations(code: str, report: dict, txt: str) -> list[dict]:
    tree = ast.parse(code)
    members = _placeholder_members(tree)
    ops = report["unsupported"]
    assert ops, report
    for u in ops:
        assert set(u) >= {"source_node", "op", "code_line", "code_col", "class", "input_shapes", "output_shapes", "reason"}
        call = _call_at(tree, u["code_line"], u["code_col"])
        assert call is not None, (u, code)
        assert call[0] == u["class"] and members[call] == u["op"], (u, call, code)
        assert f'"{u["source_node"]}"' in code  # the placeholder (or its class's call) names the node
    lines = re.findall(r"^line (\d+):(\d+): \[UnConvert\] '(\S+)' didn't convert", txt, re.M)
    positions = {(u["code_line"], u["code_col"]) for u in ops}
    assert sorted((int(a), int(b)) for a, b, _ in lines) == sorted(positions), (txt, ops)
    return ops


def test_flat_report_lines_point_at_each_placeholder_call(tmp_path):
    code, report, txt = _convert(_flat_model(), tmp_path, "flat")
    ops = _check_locations(code, report, txt)
    assert [u["source_node"] for u in ops] == ["frob_0", "frob_1"]
    assert len({(u["code_line"], u["code_col"]) for u in ops}) == 2
    # the guide's notation; a custom op's result has no known shape
    assert ops[0]["input_shapes"] == ["(2, 3)"] and ops[1]["input_shapes"] == ["(unknown rank)", "(2, 3)"], ops
    assert "input_shape: (unknown rank), (2, 3), output_shape: (unknown rank)." in txt, txt
    assert report["ops"]["total"] == 5 and "Converted Rate: 60.00%." in txt
    assert "Source: 5 ops after passes" in code


def test_a_class_used_three_times_is_one_report_line_listing_its_nodes(tmp_path):
    code, report, txt = _convert(_repeated_model(), tmp_path, "repeated")
    ops = _check_locations(code, report, txt)
    in_blocks = [u for u in ops if u["source_node"].startswith("/blocks.")]
    assert len(in_blocks) == 3 and len({(u["code_line"], u["code_col"], u["class"]) for u in in_blocks}) == 1, ops
    assert in_blocks[0]["class"] != "MindSporeModel"
    nodes = ", ".join(f"/blocks.{i}/Frobnicate" for i in range(3))
    assert f"in class {in_blocks[0]['class']} (x3: {nodes})" in txt, txt
    assert len(re.findall(r"\[UnConvert\]", txt)) == 2, txt
