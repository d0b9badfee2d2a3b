"""mindconverter-opt (IR text -> passes -> IR text) and resuming a conversion from an edited dump."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import EXAMPLE, make_model
from onnx import helper

from mindconverter.cli import main
from mindconverter.opt import main as opt_main

TEXT = """// mindconverter-ir v1  source: m.onnx  after: frontend
module @m attributes {source = "onnx", opset = 17} {
  func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
    %0 = "onnx.Identity"(%x) : (tensor<2xf32>) -> tensor<2xf32> loc("Identity_0")
    %1 = "onnx.Relu"(%0) : (tensor<2xf32>) -> tensor<2xf32> loc("Relu_1")
    "ir.return"(%1) : (tensor<2xf32>) -> ()
  }
}
"""


def _folding_model(tmp_path):
    """Conv whose weight is computed from two initializers: fold-constants makes a new weight."""
    rng = np.random.default_rng(1)
    model = make_model(
        [helper.make_node("Add", ["w1", "w2"], ["w"]), helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("Relu", ["c"], ["y"])],
        {"x": (np.float32, (1, 2, 6, 6))}, ["y"],
        {"w1": rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w2": rng.standard_normal((4, 2, 3, 3)).astype(np.float32)},
    )
    path = tmp_path / "fold.onnx"
    onnx.save(model, path)
    return path


def test_every_dump_round_trips_through_opt(tmp_path, capsys):
    dumps = tmp_path / "dumps"
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "o"), "-q", "--check", "off", "--dump-ir", str(dumps)]) == 0
    assert main(["--model_file", str(_folding_model(tmp_path)), "--output", str(tmp_path / "o2"), "-q", "--check", "off",
                 "--dump-ir", str(tmp_path / "dumps2")]) == 0
    files = sorted(dumps.glob("*.ir")) + sorted((tmp_path / "dumps2").glob("*.ir"))
    assert len(files) >= 10
    capsys.readouterr()
    for f in files:
        assert opt_main([str(f)]) == 0
        assert capsys.readouterr().out == f.read_text(), f


def test_opt_runs_passes_and_prints_after_change(tmp_path, capsys):
    src = tmp_path / "in.ir"
    src.write_text(TEXT)
    assert opt_main([str(src), "--passes", "cleanup,dce", "--print-ir-after-change"]) == 0
    out = capsys.readouterr().out
    # printed after cleanup (it changed the IR), not after dce (it did not); then the result
    assert out.count("after: cleanup") == 1 and out.count("after: dce") == 1
    assert out.index("after: cleanup") < out.index("after: dce") and "onnx.Identity" not in out
    assert opt_main([str(src), "-p", "cleanup,dce", "--print-ir-after", "dce", "-o", str(tmp_path / "o.ir")]) == 0
    assert "after: dce" in capsys.readouterr().out
    assert (tmp_path / "o.ir").read_text().startswith("// mindconverter-ir v1  source: m.onnx  after: dce\n")


def test_opt_bare_funcs_and_stdin(tmp_path):
    lines = TEXT.splitlines()[2:-1]  # without the header and the module around the func
    bare = "\n".join(line[2:] for line in lines) + "\n"
    result = subprocess.run([sys.executable, "-m", "mindconverter.opt", "-", "-p", "cleanup"], input=bare,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("func @main(%x: tensor<2xf32>)") and "Identity" not in result.stdout


def test_opt_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.ir"
    bad.write_text(TEXT.replace('"ir.return"(%1)', '"ir.return"(%9)'))
    assert opt_main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error[4000003]: value %9 is not defined") and str(bad) in err and "Traceback" not in err
    assert opt_main([str(tmp_path / "in.ir")]) == 1
    assert "does not exist" in capsys.readouterr().err
    src = tmp_path / "in.ir"
    src.write_text(TEXT)
    assert opt_main([str(src), "-p", "no-such-pass"]) == 1
    assert "unknown pass 'no-such-pass'" in capsys.readouterr().err


def test_opt_print_after_failure_and_plugin(tmp_path, capsys):
    plugin = tmp_path / "p.py"
    plugin.write_text(
        "from mindconverter.ir import Value\nfrom mindconverter.ir.types import DType, TensorType\n"
        "from mindconverter.passes.manager import register_pass\n\n\n"
        "@register_pass('opt-test-break')\ndef brk(module, ctx):\n    \"\"\"Breaks SSA.\"\"\"\n"
        "    op = [o for o in module.ops() if o.name == 'onnx.Relu'][0]\n"
        "    op.operands[0] = Value(TensorType(DType.F32, (2,)))\n    return True\n"
    )
    src = tmp_path / "in.ir"
    src.write_text(TEXT)
    assert opt_main([str(src), "--pass-plugin", str(plugin), "-p", "opt-test-break", "--print-ir-after-failure"]) == 1
    captured = capsys.readouterr()
    assert "after: opt-test-break (failed)" in captured.out
    assert "error[4000001]: pass 'opt-test-break' produced invalid IR" in captured.err
    assert opt_main(["--list-passes"]) == 0
    assert "fold-constants" in capsys.readouterr().out


def test_opt_explains_a_pattern(tmp_path, capsys):
    src = tmp_path / "in.ir"
    src.write_text("""
    func @main(%x: tensor<2x4xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %w = "ir.param"() {key = "w"} : () -> tensor<4x3xf32>
      %0 = "onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("MatMul_0")
      %1 = "onnx.Add"(%0, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("Add_1")
      "ir.return"(%1) : (tensor<2x3xf32>) -> ()
    }""")
    assert opt_main([str(src), "--explain-pattern", "fuse-dense"]) == 0
    out = capsys.readouterr().out
    assert "// pattern 'fuse-dense'" in out and "onnx.Add loc(\"Add_1\"): rejected: " in out


def test_resume_from_an_edited_dump_uses_the_dumped_weights(tmp_path, capsys):
    model = _folding_model(tmp_path)
    dumps = tmp_path / "dumps"
    assert main(["--model_file", str(model), "--output", str(tmp_path / "o"), "-q", "--check", "off", "--dump-ir", str(dumps)]) == 0
    weights = np.load(dumps / "weights.npz")
    folded = [k for k in weights.files if k != "__origins__"]
    assert folded and "w1" not in folded  # only what the passes made; w1/w2 come from the model
    last = sorted(dumps.glob("*.ir"))[-1]
    assert any(f'key = "{k}"' in last.read_text() for k in folded)

    out = tmp_path / "resumed"
    assert main(["--model_file", str(model), "--resume-ir", str(last), "--output", str(out), "-q", "--check", "each"]) == 0
    report = json.loads((out / "report_of_fold.json").read_text())
    assert report["stages"][0]["stage"] == "resumed" and all(p["passed"] for p in report["parity"])

    edited = dumps / "edited.ir"
    edited.write_text(last.read_text().replace('"onnx.Relu"', '"onnx.Sigmoid"'))
    assert main(["--model_file", str(model), "--resume-ir", str(edited), "--output", str(tmp_path / "e"), "-q",
                 "--passes", "cleanup"]) == 1
    assert "parity failed" in capsys.readouterr().err
    code = (tmp_path / "e" / "fold.py").read_text()
    assert "nn.Sigmoid()" in code or "ops.sigmoid(" in code, code  # the edit reaches the script (a shared layer when unscoped)
    assert "ReLU" not in code and "relu" not in code, code


def test_resume_errors_point_at_the_dump(tmp_path, capsys):
    model = _folding_model(tmp_path)
    bad = tmp_path / "bad.ir"
    bad.write_text(TEXT.replace("onnx.Relu\"(%0)", "onnx.Relu\"(%0 %0)"))
    assert main(["--model_file", str(model), "--resume-ir", str(bad), "--output", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error[4000003]") and str(bad) in err
    assert main(["--model_file", str(model), "--resume-ir", str(tmp_path / "none.ir"), "--output", str(tmp_path / "o")]) == 1
    assert "--resume-ir file" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["mindconverter.opt"])
def test_opt_help_is_instant(script):
    code = (
        "import sys, contextlib, io\n"
        "from mindconverter.opt import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        build_parser().parse_args(['-h'])\n    except SystemExit:\n        pass\n"
        "print([m for m in ('mindspore', 'onnx', 'onnxruntime', 'numpy') if m in sys.modules])\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_resume_dumping_into_the_same_folder_keeps_the_folded_weights(tmp_path, capsys):
    model = _folding_model(tmp_path)
    dumps = tmp_path / "dumps"
    assert main(["--model_file", str(model), "--output", str(tmp_path / "o"), "-q", "--check", "off", "--dump-ir", str(dumps)]) == 0
    before = set(np.load(dumps / "weights.npz").files)
    last = sorted(dumps.glob("*.ir"))[-1]
    assert main(["--model_file", str(model), "--resume-ir", str(last), "--output", str(tmp_path / "r"), "-q",
                 "--check", "off", "--passes", "cleanup", "--dump-ir", str(dumps)]) == 0
    assert set(np.load(dumps / "weights.npz").files) >= before
    assert opt_main([str(last), "-p", "cleanup", "--model_file", str(model)]) == 0
