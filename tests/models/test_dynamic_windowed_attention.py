"""A static Swin-style windowed-attention block: its shape arithmetic folds away and it converts completely.

The block pads to a multiple of the window, partitions into windows and back with view/permute,
and adds a relative position bias gathered from a table by an index buffer. Exported static
(1x6x7x16: neither side a window multiple), every Shape -> Gather -> Div -> Concat chain the tracer
wrote must fold once the input shape is known.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

import dynamic_models as dm  # noqa: E402 - after the skip

from mindconverter.cli import main  # noqa: E402


def test_static_windowed_attention_folds_every_shape_and_matches_onnxruntime(tmp_path, capsys):
    path = dm.export_static(dm.window_attention_block(), (1, 6, 7, 16), tmp_path / "window_block.onnx")
    dumps, out = tmp_path / "dumps", tmp_path / "out"
    code = main(["--model_file", str(path), "--output", str(out), "--dump-ir", str(dumps), "--check-mode", "both"])
    err = capsys.readouterr().err
    report = json.loads((out / "report_of_window_block.json").read_text())
    assert [u["op"] for u in report["unsupported"]] == []
    assert code == 0, err
    folded = sorted(dumps.glob("*-fold-constants.ir"))
    assert folded, "no fold-constants dump"
    after = [p for p in sorted(dumps.glob("*.ir")) if p.name >= folded[0].name]
    left = [p.name for p in after if '"onnx.Shape"' in p.read_text()]
    assert left == [], f"onnx.Shape ops left after fold-constants in {left}"
    assert {p["mode"] for p in report["parity"]} == {"pynative", "graph"} and all(p["passed"] for p in report["parity"])
    assert report["inputs"][0]["shape"] == [1, 6, 7, 16] and "check_sizes" not in report
