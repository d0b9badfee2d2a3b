"""A Keras model through tf2onnx (tests/fixtures, made by tools/make_keras_fixture.py): its layer names become the Cell hierarchy."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import convert_and_check, unwrap

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "keras_mobilenet_tiny.onnx"


def test_keras_blocks_become_cells_with_layer_names_and_keep_parity(tmp_path):
    report, script = convert_and_check(FIXTURE, tmp_path, "--check-mode", "both")
    code = unwrap(script.read_text())
    top = code[code.index("class MindSporeModel"):]
    # Keras' `block_N_<layer>` layers are grouped per block; the model-name prefix and the `_1` call suffix are gone.
    for n in range(1, 5):
        assert re.search(rf"self\.block_{n} = \w+\(", top), code
    assert not re.search(r"self\.\w*mobilenet|self\.(Conv1|expand|predictions)_1\b", code), code  # comments keep source names
    assert "class Predictions" not in code and "class GlobalAveragePooling2d" not in code, code  # layers are not classes
    assert "self.Conv1 = nn.Conv2d(3, 8, 3" in top and "self.predictions = nn.Dense(16, 10" in top, code
    # Blocks 1, 2 and 4 (stride 1, residual) share one class; block 3 (stride 2 through ZeroPadding2D) is another.
    assert "self.block_1 = Block(8, 16)" in top and "self.block_4 = Block(16, 32)" in top, code
    inside = code[code.index("class Block("):code.index("class MindSporeModel")]
    for member in ("self.expand = nn.Conv2d(", "self.depthwise = nn.Conv2d(", "self.project = nn.Conv2d("):
        assert member in inside, code
    assert "ops.zeros((1, out_channels, 1, 1)" in inside, code  # a Parameter's shape in terms of the arguments
    assert {p["mode"] for p in report["parity"]} == {"pynative", "graph"}
