"""mindconverter reduce: shrink a failing model to the smallest subgraph that still fails."""

from __future__ import annotations

import onnx
from helpers import EXAMPLE

from mindconverter.cli import main

FLIP = '''
from mindconverter.passes.manager import register_pass


@register_pass("reduce-test-flip")
def flip(module, ctx):
    """Negates alpha of every onnx.Gemm (a deliberately wrong pass)."""
    changed = False
    for op in module.ops():
        if op.name == "onnx.Gemm":
            op.attrs["alpha"] = -float(op.attr("alpha", 1.0))
            changed = True
    return changed
'''


def test_reduce_finds_the_op_a_wrong_pass_breaks(tmp_path, capsys):
    plugin = tmp_path / "flip.py"
    plugin.write_text(FLIP)
    out = tmp_path / "small.onnx"
    code = main(["reduce", "--model_file", str(EXAMPLE), "--output", str(out), "--pass-plugin", str(plugin),
                 "--passes", "cleanup,reduce-test-flip"])
    err = capsys.readouterr().err
    assert code == 0, err
    reduced = onnx.load(str(out))
    assert [n.op_type for n in reduced.graph.node] == ["Gemm"]
    onnx.checker.check_model(reduced)
    assert "reduced 10 nodes to 1 (Gemm)" in err and "parity failed" in err


def test_reduce_refuses_a_model_that_converts(tmp_path, capsys):
    assert main(["reduce", "--model_file", str(EXAMPLE), "--output", str(tmp_path / "s.onnx"), "--check", "end"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error[0000001]: the conversion of") and "nothing to reduce" in err
    assert not (tmp_path / "s.onnx").exists()
