"""--check each: parity after every stage, and the first diverging op named for a wrong pass or emitter."""

from __future__ import annotations

import json
import textwrap

from helpers import EXAMPLE

from mindconverter.cli import main

FLIP_PASS = '''
from mindconverter.passes.manager import register_pass


@register_pass("flip-gemm-sign")
def flip_gemm_sign(module, ctx):
    """Negates alpha of the first onnx.Gemm (a deliberately wrong pass)."""
    for op in module.ops():
        if op.name == "onnx.Gemm":
            op.attrs["alpha"] = -float(op.attr("alpha", 1.0))
            return True
    return False


@register_pass("negate-after-relu")
def negate_after_relu(module, ctx):
    """Inserts a Neg after the first Relu (a deliberately wrong pass that creates a new op)."""
    from mindconverter.ir import Builder, replace_uses

    for func in module.funcs:
        for op in list(func.walk()):
            if op.name == "onnx.Relu":
                neg = Builder.after(op).op1("onnx.Neg", [op.result], op.result.type, loc=("bad_neg",))
                replace_uses(func, {op.result: neg})
                neg.op.operands[0] = op.result
                return True
    return False
'''

WRONG_EMITTER = '''
from mindconverter.backend import registry

registry.load_emitters()
_spec = registry.EMITTERS["onnx.Relu"][0]


def wrong_relu(op, cx):
    """onnx.Relu -> ops.abs (deliberately wrong)."""
    return f"ops.abs({cx.arg(0)})"


registry.EMITTERS["onnx.Relu"] = [registry.EmitterSpec("onnx.Relu", wrong_relu, _spec.since, _spec.until)]
'''


def _plugin(tmp_path, text, name="plugin.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_check_each_records_every_stage(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "-q", "--check", "each"]) == 0
    report = json.loads((out / "report_of_tiny_convnet.json").read_text())
    stages = report["stages"]
    assert stages[0]["stage"] == "frontend" and stages[-1]["stage"] == "backend"
    from mindconverter.passes.manager import DEFAULT_PIPELINE

    assert [s["stage"] for s in stages[1:-1]] == list(DEFAULT_PIPELINE)
    assert all(s["status"] in ("passed", "unchanged") for s in stages), stages
    assert all(isinstance(s["max_abs_err"], float) for s in stages)
    assert report["first_divergence"] is None
    assert {p["stage"] for p in report["parity"]} >= {"frontend", "backend"}


def test_wrong_pass_is_named_with_the_diverging_op(tmp_path, capsys):
    plugin = _plugin(tmp_path, FLIP_PASS)
    out = tmp_path / "out"
    code = main(["--model_file", str(EXAMPLE), "--output", str(out), "-q", "--check", "each", "--pass-plugin", plugin,
                 "--passes", "cleanup,infer-shapes,flip-gemm-sign,dce"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error[5000001]: parity failed after 'flip-gemm-sign': output 'probs'" in err
    assert "first differing value %8 = 'onnx.Gemm' loc(\"/fc/Gemm\")" in err and "at index [0, " in err
    assert "this is a bug in pass 'flip-gemm-sign'" in err and "--skip-pass flip-gemm-sign" in err
    report = json.loads((out / "report_of_tiny_convnet.json").read_text())
    div = report["first_divergence"]
    assert div["stage"] == "flip-gemm-sign" and div["op"] == "onnx.Gemm" and div["loc"] == "/fc/Gemm"
    assert div["max_abs_err"] > 1e-2 and len(div["index"]) == 2
    assert [s["status"] for s in report["stages"]][:4] == ["passed", "unchanged", "unchanged", "failed"]
    before, after = (out / "dumps_of_tiny_convnet" / "03-flip-gemm-sign.before.ir"), (out / "dumps_of_tiny_convnet" / "03-flip-gemm-sign.after.ir")
    assert div["dumps"] == [str(before), str(after)]
    assert "alpha = -1.0" in after.read_text() and "alpha" not in before.read_text()
    from mindconverter.opt import main as opt_main

    for dump in (before, after):  # the localisation's dumps round-trip through mindconverter-opt too
        assert opt_main([str(dump)]) == 0
        assert capsys.readouterr().out == dump.read_text()


def test_wrong_pass_creating_an_op_names_that_op(tmp_path, capsys):
    plugin = _plugin(tmp_path, FLIP_PASS)
    dumps = tmp_path / "dumps"
    code = main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "o"), "-q", "--check", "each", "--pass-plugin",
                 plugin, "--passes", "cleanup,negate-after-relu", "--dump-ir", str(dumps)])
    err = capsys.readouterr().err
    assert code == 1 and "parity failed after 'negate-after-relu'" in err
    assert "'onnx.Neg' loc(\"bad_neg\")" in err and "created by 'negate-after-relu'" in err
    assert (dumps / "02-negate-after-relu.before.ir").exists() and (dumps / "02-negate-after-relu.ir").exists()


def test_wrong_emitter_is_named_as_the_backend_and_the_op(tmp_path, capsys):
    plugin = _plugin(tmp_path, WRONG_EMITTER, "bad_emitter.py")
    from mindconverter.backend import registry

    saved = list(registry.EMITTERS.get("onnx.Relu", []))
    try:
        for check in ("each", "end"):
            out = tmp_path / check
            code = main(["--model_file", str(EXAMPLE), "--output", str(out), "-q", "--check", check, "--pass-plugin", plugin])
            err = capsys.readouterr().err
            assert code == 1
            assert "error[5000001]: parity failed in the backend: output 'probs'" in err
            assert "'onnx.Relu' loc(\"/relu/Relu\")" in err and "(stage 'backend')" in err
            assert "bug in the emitter of 'onnx.Relu'" in err
            report = json.loads((out / "report_of_tiny_convnet.json").read_text())
            div = report["first_divergence"]
            assert div["stage"] == "backend" and div["op"] == "onnx.Relu" and div["loc"] == "/relu/Relu"
            if check == "each":
                assert all(s["status"] in ("passed", "unchanged") for s in report["stages"][:-1])
                assert report["stages"][-1] == {**report["stages"][-1], "stage": "backend", "status": "failed"}
    finally:
        registry.EMITTERS["onnx.Relu"] = saved


def test_check_end_blames_the_passes_when_the_ir_is_already_wrong(tmp_path, capsys):
    plugin = _plugin(tmp_path, FLIP_PASS)
    code = main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "o"), "-q", "--pass-plugin", plugin,
                 "--passes", "cleanup,flip-gemm-sign"])
    err = capsys.readouterr().err
    assert code == 1 and "the IR after the passes already differs from onnxruntime" in err and "--check each" in err


def test_a_wrong_frontend_is_localised_against_the_source_tensors(tmp_path, capsys, monkeypatch):
    import mindconverter.frontend.onnx as frontend

    real = frontend.load_onnx

    def wrong_frontend(*args, **kwargs):
        source = real(*args, **kwargs)
        relu = [op for op in source.module.ops() if op.name == "onnx.Relu"][1]
        relu.name = "onnx.Neg"  # a frontend bug: the second Relu becomes a Neg
        return source

    monkeypatch.setattr(frontend, "load_onnx", wrong_frontend)
    code = main(["--model_file", str(EXAMPLE), "--output", str(tmp_path), "-q", "--check", "each"])
    err = capsys.readouterr().err
    assert code == 1 and "parity failed after 'frontend'" in err
    assert "'onnx.Neg' loc(\"/relu_1/Relu\")" in err and "bug in frontend/onnx.py" in err


def test_a_stage_with_ops_onnxruntime_cannot_run_is_reported_not_failed(tmp_path, capsys):
    plugin = _plugin(tmp_path, '''
from mindconverter.passes.manager import register_pass


@register_pass("make-foreign")
def make_foreign(module, ctx):
    """Renames the Softmax to an op nobody can run."""
    for op in module.ops():
        if op.name == "onnx.Softmax":
            op.name = "com.example.Softmax"
            return True
    return False
''', "foreign.py")
    out = tmp_path / "out"
    code = main(["--model_file", str(EXAMPLE), "--output", str(out), "-q", "--check", "each", "--pass-plugin", plugin,
                 "--passes", "cleanup,make-foreign", "--allow-unsupported"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report_of_tiny_convnet.json").read_text())
    row = report["stages"][2]
    assert row["stage"] == "make-foreign" and row["status"] == "not executable" and "com.example.Softmax" in row["reason"]
