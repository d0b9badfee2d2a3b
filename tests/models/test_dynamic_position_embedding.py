"""GPT-2 exported static keeps its whole learned position table: folding never truncates a source weight.

At seq 8 the exporter gathers rows 0..7 of the 64-row position embedding with constant indices;
folding that Gather would leave an (1, 8, 32) constant and lose 56 learned positions.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import dynamic_models as dm  # noqa: E402 - after the skips

from mindconverter.api import convert  # noqa: E402


def test_static_gpt2_keeps_the_full_position_table_in_checkpoint_and_weight_map(tmp_path):
    import mindspore as ms

    path = dm.export_transformer(dm.tiny_gpt2(), tmp_path / "gpt2_static.onnx", dynamic=False, batch=1, seq=8)
    table = next(i for i in onnx.load(str(path)).graph.initializer if i.name.endswith("wpe.weight"))
    assert list(table.dims) == [dm.MAX_POSITIONS, dm.HIDDEN]
    result = convert(path, output=tmp_path / "out")
    assert result.parity_passed
    # Its attention is one Cell, though simplify-reshapes merged the heads' merge with c_proj's view(-1, D).
    assert "= ScaledDotProductAttention(2, 0.25)" in result.script.read_text()
    entries = json.loads(result.weight_map.read_text())["gpt2_static"]
    by_source = {e["source_weight"]["name"]: e for e in entries}
    assert table.name in by_source, sorted(by_source)
    kept = by_source[table.name]
    assert kept["source_weight"]["shape"] == kept["converted_weight"]["shape"] == [dm.MAX_POSITIONS, dm.HIDDEN]
    # No folded slice of it took its place.
    assert not [e for e in entries if "wpe" in e["source_weight"]["name"] and e is not kept]
    params = ms.load_checkpoint(str(result.checkpoint))
    stored = params[kept["converted_weight"]["name"]].asnumpy()
    np.testing.assert_array_equal(stored, onnx.numpy_helper.to_array(table))
