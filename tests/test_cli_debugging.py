"""The mindconverter command's IR debugging flags: print after a pass / a change / a failure, skip a pass."""

from __future__ import annotations

import json

import numpy as np
from helpers import EXAMPLE

from mindconverter.cli import main


def test_print_ir_after_named_passes_and_changes(tmp_path, capsys):
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "a"), "-q", "--check", "off",
                 "--passes", "cleanup,infer-shapes,dce", "--print-ir-after", "infer-shapes,dce"]) == 0
    out = capsys.readouterr().out
    assert out.count("// mindconverter-ir v1") == 2 and "after: infer-shapes" in out and "after: dce" in out
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "b"), "-q", "--check", "off",
                 "--passes", "cleanup,infer-shapes,fuse-dense,dce", "--print-ir-after-change"]) == 0
    out = capsys.readouterr().out
    assert out.count("// mindconverter-ir v1") == 1 and "after: fuse-dense" in out and "mc.dense" in out


def test_skip_pass_leaves_it_out(tmp_path, capsys):
    dumps = tmp_path / "dumps"
    assert main(["--model_file", str(EXAMPLE), "--output", str(tmp_path / "o"), "-q", "--check", "off",
                 "--passes", "cleanup,fuse-dense,dce", "--skip-pass", "fuse-dense", "--dump-ir", str(dumps)]) == 0
    assert sorted(p.name for p in dumps.glob("*.ir")) == ["00-frontend.ir", "01-cleanup.ir", "02-dce.ir"]


def test_check_each_with_input_data_and_tolerances(tmp_path, capsys):
    data = tmp_path / "in.npz"
    np.savez(data, input=np.ones((1, 3, 32, 32), np.float32))
    out = tmp_path / "o"
    assert main(["--model_file", str(EXAMPLE), "--output", str(out), "-q", "--check", "each", "--input_data", str(data),
                 "--rtol", "1e-2", "--atol", "1e-3"]) == 0
    report = json.loads((out / "report_of_tiny_convnet.json").read_text())
    assert all(p["rtol"] == 1e-2 and p["atol"] == 1e-3 for p in report["parity"])
    assert report["stages"][0]["status"] == "passed"
