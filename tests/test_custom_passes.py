"""docs/writing_passes.md: the example plugin (examples/custom_pass.py) works from a user's own file."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import onnx
import pytest
from helpers import ROOT, make_model
from onnx import helper

from mindconverter.cli import main
from mindconverter.passes.testing import check_pass

PLUGIN = ROOT / "examples" / "custom_pass.py"
DOC = ROOT / "docs" / "writing_passes.md"


def _model(tmp_path):
    rng = np.random.default_rng(0)
    model = make_model(
        [helper.make_node("Mul", ["x", "one"], ["a"]), helper.make_node("Max", ["a", "zero"], ["b"]),
         helper.make_node("Conv", ["b", "w"], ["y"])],
        {"x": (np.float32, (1, 2, 5, 5))}, ["y"],
        {"one": np.ones((1,), np.float32), "zero": np.zeros((1,), np.float32),
         "w": rng.standard_normal((3, 2, 3, 3)).astype(np.float32)},
    )
    path = tmp_path / "mm.onnx"
    onnx.save(model, path)
    return path


def test_example_plugin_from_a_users_own_folder_converts_with_check_each(tmp_path, capsys):
    plugin = tmp_path / "mine" / "my_passes.py"  # a copy outside the repository, as a user has it
    plugin.parent.mkdir()
    shutil.copy(PLUGIN, plugin)
    out = tmp_path / "out"
    code = main(["--model_file", str(_model(tmp_path)), "--output", str(out), "-q", "--check", "each",
                 "--pass-plugin", str(plugin), "--passes", "cleanup,infer-shapes,remove-mul-by-one,max-zero-to-relu,dce",
                 "--explain-pattern", "max-zero-to-relu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "//   onnx.Max loc(\"Max_1\"): matches" in captured.out
    report = json.loads((out / "report_of_mm.json").read_text())
    assert [s["stage"] for s in report["stages"]] == [
        "frontend", "cleanup", "infer-shapes", "remove-mul-by-one", "max-zero-to-relu", "dce", "backend"]
    assert [s["status"] for s in report["stages"]][3:5] == ["passed", "passed"]
    script = (out / "mm.py").read_text()
    assert "self.relu(x)" in script and "ops.mul" not in script and "maximum" not in script


def test_doc_check_pass_example_runs():
    """The check_pass example of writing_passes.md, taken from the page itself."""
    text = DOC.read_text()
    block = re.search(r"```python\nfrom mindconverter.passes.testing import check_pass\n(.*?)```", text, re.S).group(1)
    namespace = {"check_pass": check_pass}
    exec(block.replace('plugin="examples/custom_pass.py"', f"plugin={str(PLUGIN)!r}"), namespace)
    namespace["test_max_zero_becomes_relu"]()


def test_example_pattern_must_not_fire_without_zeros():
    check_pass("max-zero-to-relu", plugin=PLUGIN, changed=False, before="""
      func @main(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
        %0 = "onnx.Max"(%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("Max_1")
        "ir.return"(%0) : (tensor<4xf32>) -> ()
      }""")


def test_remove_mul_by_one_keeps_a_broadcasting_one():
    check_pass("remove-mul-by-one", plugin=PLUGIN, changed=False, before="""
      func @main(%x: tensor<4xf32>) -> tensor<2x4xf32> {
        %0 = "ir.const"() {value = dense<[[1.0], [1.0]]>} : () -> tensor<2x1xf32>
        %1 = "onnx.Mul"(%x, %0) : (tensor<4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
        "ir.return"(%1) : (tensor<2x4xf32>) -> ()
      }""")


def test_plugin_errors_name_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("from mindconverter.passes.manager import register_pass\n\n\ndef oops(:\n    pass\n")
    assert main(["--model_file", str(_model(tmp_path)), "--output", str(tmp_path / "o"), "--pass-plugin", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error[0000001]: pass plugin '{bad}' has a syntax error") and f"{bad}:4" in err
    assert "Traceback" not in err
    raising = tmp_path / "raising.py"
    raising.write_text("x = 1\nraise RuntimeError('no GPU here')\n")
    assert main(["--model_file", str(_model(tmp_path)), "--output", str(tmp_path / "o"), "--pass-plugin", str(raising)]) == 1
    err = capsys.readouterr().err
    assert "failed to import: RuntimeError: no GPU here" in err and f"{raising}:2" in err
    assert main(["--model_file", str(_model(tmp_path)), "--output", str(tmp_path / "o"),
                 "--pass-plugin", str(tmp_path / "missing.py")]) == 1
    assert "pass plugin" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_passes_argument_takes_pass_functions(tmp_path):
    from mindconverter.api import convert
    from mindconverter.passes.manager import load_plugin

    load_plugin(PLUGIN)
    from mindconverter.passes.manager import PASSES

    fn = PASSES["remove-mul-by-one"].fn
    result = convert(_model(tmp_path), output=tmp_path / "o", check="off", passes=["cleanup", "infer-shapes", fn, "dce"])
    assert "ops.mul" not in result.script.read_text()


@pytest.mark.parametrize("flag", ["--skip-pass", "--print-ir-after", "--explain-pattern"])
def test_unknown_names_in_pass_flags_are_argument_errors(tmp_path, capsys, flag):
    assert main(["--model_file", str(_model(tmp_path)), "--output", str(tmp_path / "o"), flag, "no-such-thing"]) == 1
    assert "error[0000001]" in capsys.readouterr().err
