"""A torchvision-style ResNet exported with a dynamic batch: the default check passes, one conversion serves batch 1 and 4."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

import dynamic_models as dm  # noqa: E402 - after the skip
import numpy as np  # noqa: E402

from mindconverter.cli import main  # noqa: E402


def test_dynamic_batch_resnet_passes_the_default_check_and_runs_at_batch_1_and_4(tmp_path, capsys):
    path = dm.resnet_dynamic_batch(tmp_path / "resnet.onnx")
    assert main(["--model_file", str(path), "--output", str(tmp_path / "out")]) == 0  # no --shape, default --check end
    err = capsys.readouterr().err
    assert "cannot make test data" not in err
    assert "parity sizes batch=1 (pynative)" in err and "parity sizes batch=3 (pynative)" in err
    report = json.loads((tmp_path / "out" / "report_of_resnet.json").read_text())
    assert report["inputs"][0]["shape"] == ["?batch", 3, 32, 32] and report["unsupported"] == []
    assert [(r["sizes"], r["passed"]) for r in report["check_sizes"]["results"]] == [({"batch": 1}, True), ({"batch": 3}, True)]

    rng = np.random.default_rng(0)
    cases = [[rng.standard_normal((b, 3, 32, 32)).astype(np.float32)] for b in (1, 4)]
    errors = dm.run_generated_at_sizes(tmp_path / "out", path, cases, ("pynative", "graph"))
    assert sorted(errors) == sorted((m, (b, 3, 32, 32)) for m in ("pynative", "graph") for b in (1, 4))
