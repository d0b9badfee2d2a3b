"""A static Swin-style windowed-attention block: its shape arithmetic folds away and it converts completely.

The block pads to a multiple of the window, partitions into windows and back with view/permute,
and adds a relative position bias gathered from a table by an index buffer. Exported static
(1x6x7x16: neither side a window multiple), every Shape -> Gather -> Div -> Concat chain the tracer
wrote must fold once the input shape is known. Exported with dynamic height and width, the same
chains become run-time sizes, and one conversion serves every size.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

import dynamic_models as dm  # noqa: E402 - after the skip

from mindconverter.api import convert  # noqa: E402
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


def test_windowed_attention_with_dynamic_height_and_width_serves_every_size(tmp_path):
    path = dm.export_static(dm.window_attention_block(), (2, 6, 7, 16), tmp_path / "window_dynamic.onnx",
                            axes={0: "batch", 1: "height", 2: "width"})
    # 9 and 13 are not window multiples (the block pads), 8 is; one conversion serves them all.
    result = convert(path, output=tmp_path / "out", check_sizes={"height": [8, 9], "width": [13]}, check_mode="both",
                     allow_unsupported=True)
    assert dm.placeholders(result) == []
    results = result.report["check_sizes"]["results"]
    assert [r["sizes"] for r in results] == [{"batch": b, "height": h, "width": 13} for b in (1, 3) for h in (8, 9)]
    assert all(r["passed"] and r["modes"] == ["pynative", "graph"] for r in results)
