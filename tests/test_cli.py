"""The mindconverter command: MindConverter's flags, outputs, errors and parity reporting."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import EXAMPLE, make_model, unwrap
from onnx import helper

from mindconverter.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mindconverter", *args], capture_output=True, text=True, timeout=600)


def test_help_is_instant_and_imports_nothing_heavy():
    code = (
        "import sys, contextlib, io\n"
        "from mindconverter.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        build_parser().parse_args(['-h'])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('mindspore', 'onnx', 'onnxruntime', 'numpy', 'torch') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    help_text = run_cli("-h").stdout
    for flag in ("--model_file", "--shape", "--input_nodes", "--output_nodes", "--output", "--report", "--version", "--check", "--dump-ir"):
        assert flag in help_text


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("mindconverter ")


def test_missing_model_is_one_clear_error_without_traceback(tmp_path, capsys):
    assert main(["--model_file", str(tmp_path / "nope.onnx"), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error[0000001]: model file") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_wrong_extension_and_pb_are_explained(tmp_path, capsys):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"x")
    assert main(["--model_file", str(f)]) == 1
    assert "must be an .onnx (or .pb) file" in capsys.readouterr().err


def test_converts_example_with_all_outputs_and_parity(tmp_path, capsys):
    out, rep = tmp_path / "out", tmp_path / "rep"
    code = main(["--model_file", str(EXAMPLE), "--output", str(out), "--report", str(rep), "--check-mode", "both"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["tiny_convnet.ckpt", "tiny_convnet.py"]
    assert sorted(p.name for p in rep.iterdir()) == [
        "report_of_tiny_convnet.json", "report_of_tiny_convnet.txt", "weight_map_of_tiny_convnet.json",
    ]
    assert "parity pynative 'probs'" in captured.err and "parity graph 'probs'" in captured.err
    txt = (rep / "report_of_tiny_convnet.txt").read_text().splitlines()
    assert txt[0] == "[Start Convert]" and txt[-2] == "[Convert Over]" and txt[-1] == "Converted Rate: 100.00%."
    report = json.loads((rep / "report_of_tiny_convnet.json").read_text())
    assert report["network_class"] == "MindSporeModel"
    assert report["inputs"] == [{"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert report["outputs"] == [{"name": "probs", "shape": [1, 10], "dtype": "float32"}]
    assert {p["mode"] for p in report["parity"]} == {"pynative", "graph"}
    assert all(p["passed"] and p["max_abs_err"] < 1e-4 for p in report["parity"])
    assert set(report["versions"]) >= {"mindconverter", "mindspore", "onnx", "onnxruntime"}
    wmap = json.loads((rep / "weight_map_of_tiny_convnet.json").read_text())["tiny_convnet"]
    names = {row["converted_weight"]["name"]: row["source_weight"]["name"] for row in wmap}
    assert names["conv1.weight"] == "conv1.weight" and names["fc.weight"] == "fc.weight"
    assert names["bn1.moving_mean"] == "bn1.running_mean"
    script = (out / "tiny_convnet.py").read_text()
    assert "class MindSporeModel(nn.Cell):" in script and "Parity with onnxruntime" in script


def test_existing_outputs_are_not_overwritten_without_flag(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny_convnet.py").write_text("# mine\n")
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "--check", "off"]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert (out / "tiny_convnet.py").read_text() == "# mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["tiny_convnet.py"]
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "--check", "off", "--overwrite"]) == 0
    assert "MindSporeModel" in (out / "tiny_convnet.py").read_text()


def _custom_op_model(tmp_path):
    model = make_model(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Frobnicate", ["a"], ["b"], domain="com.example"),
         helper.make_node("Relu", ["b"], ["y"])],
        {"x": (np.float32, (2, 3))},
        ["y"],
        extra_opsets={"com.example": 1},
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    return path


def test_unsupported_ops_become_placeholders_and_fail_unless_allowed(tmp_path, capsys):
    path = _custom_op_model(tmp_path)
    assert main(["--model_file", str(path), "--output", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "error[3000002]: 1 op(s) could not be converted: Frobnicate (x1)" in err
    report = (tmp_path / "a" / "report_of_custom.txt").read_text()
    assert "[UnConvert] 'com.example.Frobnicate' didn't convert." in report and "Converted Rate: 66.67%." in report
    script = unwrap((tmp_path / "a" / "custom.py").read_text())
    assert "raise NotImplementedError" in script and 'UnsupportedOp("com.example.Frobnicate"' in script
    assert main(["--model_file", str(path), "--output", str(tmp_path / "b"), "--allow-unsupported"]) == 0


def test_placeholder_raises_not_implemented_naming_the_op(tmp_path):
    from mindconverter.runtime_check.mindspore_run import run_network

    path = _custom_op_model(tmp_path)
    main(["--model_file", str(path), "--output", str(tmp_path), "--allow-unsupported", "-q"])
    with pytest.raises(NotImplementedError, match="com.example.Frobnicate .*node 'Frobnicate_1'"):
        run_network(tmp_path / "custom.py", tmp_path / "custom.ckpt", [np.zeros((2, 3), np.float32)])


def test_a_wrong_emitter_fails_parity_with_nonzero_exit(tmp_path, capsys, monkeypatch):
    from mindconverter.backend import registry

    registry.load_emitters()
    spec = registry.EMITTERS["onnx.Relu"][0]
    wrong = registry.EmitterSpec("onnx.Relu", lambda op, cx: f"ops.abs({cx.arg(0)})", spec.since, spec.until)
    monkeypatch.setitem(registry.EMITTERS, "onnx.Relu", [wrong])
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error[5000001]: parity failed in the backend: output 'probs'" in err and "'onnx.Relu'" in err
    report = json.loads((tmp_path / "report_of_tiny_convnet.json").read_text())
    assert report["parity"][0]["passed"] is False


def test_hostile_names_cannot_inject_code(tmp_path):
    evil = 'x"""\nimport os; os.system("echo pwned")  # \\'
    model = make_model(
        [helper.make_node("Relu", [evil], ["y"], name=evil + "/node"), helper.make_node("Frobnicate", ["y"], ["z"], name=evil, domain="com.example")],
        {evil: (np.float32, (2,))},
        ["z"],
        extra_opsets={"com.example": 1},
    )
    path = tmp_path / "evil.onnx"
    onnx.save(model, path)
    assert main(["--model_file", str(path), "--output", str(tmp_path / "o"), "--allow-unsupported", "-q"]) == 0
    script = (tmp_path / "o" / "evil.py").read_text()
    tree = ast.parse(script)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"]
    assert not calls and not any(isinstance(n, ast.Import) and n.names[0].name == "os" for n in ast.walk(tree))


def test_a_failed_run_leaves_no_partial_outputs(tmp_path, capsys, monkeypatch):
    import mindconverter.backend.checkpoint as checkpoint

    def disk_full(entries, path):
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_checkpoint", disk_full)
    out = tmp_path / "out"
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "--check", "off"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no script, no report, no staging folder, not even the --output folder


def test_dump_ir_and_custom_pipeline(tmp_path):
    dumps = tmp_path / "dumps"
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "o"), "--check", "off", "-q",
                 "--dump-ir", str(dumps), "--passes", "infer-shapes,fold-constants"]) == 0
    assert sorted(p.name for p in dumps.iterdir()) == ["00-frontend.ir", "01-infer-shapes.ir", "02-fold-constants.ir"]
    assert "onnx.Conv" in (dumps / "00-frontend.ir").read_text()


def test_mindir_flag_writes_a_checked_mindir_only_after_a_successful_conversion(tmp_path):
    out = tmp_path / "ok"
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "--mindir", "-q"]) == 0
    name = EXAMPLE.stem
    entry = json.loads((out / f"report_of_{name}.json").read_text())["mindir"]
    assert (out / f"{name}.mindir").is_file() and entry["file"] == f"{name}.mindir" and entry["max_abs_err"] < 1e-5
    assert f"[MINDIR] {name}.mindir: " in (out / f"report_of_{name}.txt").read_text()
    bad = tmp_path / "bad"
    assert main(["--model_file", str(_custom_op_model(tmp_path)), "--output", str(bad), "--allow-unsupported",
                 "--mindir", "-q"]) == 0
    assert not list(bad.glob("*.mindir"))
    assert "[MINDIR] not written: not exported: ops were not converted" in (bad / "report_of_custom.txt").read_text()
