"""BERT and GPT-2 (transformers, random init, tiny configs) exported with dynamic batch and sequence axes.

Each converts once, with no --shape and no placeholder, its attention fused into a ScaledDotProductAttention
Cell though the head reshapes are computed at run time, and the one generated network matches
onnxruntime at every batch and sequence length: the conversion's own check covers a 2x2 grid in
PYNATIVE and GRAPH mode; the slow test loads the network once and runs batch 1, 3, 8 x sequence 5, 16, 40.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import dynamic_models as dm  # noqa: E402 - after the skips

from mindconverter.api import convert  # noqa: E402
from mindconverter.errors import ArgumentError, MindConverterError  # noqa: E402

MODELS = {"bert": dm.tiny_bert, "gpt2": dm.tiny_gpt2}
CHECKED = {"batch": [1, 3], "sequence": [5, 16]}
FULL_GRID = [(b, s) for b in (1, 3, 8) for s in (5, 16, 40)]


@pytest.fixture(scope="module", params=sorted(MODELS))
def converted(request, tmp_path_factory):
    """(name, model path, result or None, error or None): one conversion, checked on the 2x2 grid in both modes."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    path = dm.export_transformer(MODELS[name](), folder / f"{name}.onnx")
    try:
        result = convert(path, output=folder / "out", check_sizes=CHECKED, check_mode="both", allow_unsupported=True)
    except MindConverterError as exc:  # parity or run failures: the tests below report them
        return name, path, None, exc
    return name, path, result, None


def _result(converted):
    name, path, result, error = converted
    if error is not None:
        pytest.fail(f"{name}: {error}")
    return name, path, result


def test_converts_once_without_shape_and_without_placeholders(converted):
    name, _, result = _result(converted)
    assert dm.placeholders(result) == []
    report = json.loads(result.report_json.read_text())
    assert [i["shape"] for i in report["inputs"]] == [["?batch", "?sequence"]] * 2, name


def test_attention_is_fused_into_one_cell_despite_run_time_head_shapes(converted):
    name, _, result = _result(converted)
    code = result.script.read_text()
    assert "class ScaledDotProductAttention(nn.Cell)" in code, name
    assert code.count("= ScaledDotProductAttention(2, 0.25)") == 1, code  # one class per layer kind, used by both layers
    body = code.split("class ScaledDotProductAttention(nn.Cell)")[1].split("\n\n\n", 1)[1]
    assert "softmax" not in body and "ops.matmul" not in body, body  # no attention written out


def test_matches_onnxruntime_at_each_checked_size_in_both_modes(converted):
    name, _, result = _result(converted)
    results = result.report["check_sizes"]["results"]
    assert [r["sizes"] for r in results] == [{"batch": b, "sequence": s} for b in (1, 3) for s in (5, 16)]
    assert all(r["passed"] and r["modes"] == ["pynative", "graph"] for r in results), results
    assert result.parity_passed


@pytest.mark.slow
def test_one_network_serves_batch_1_3_8_and_sequence_5_16_40(converted):
    name, path, result = _result(converted)
    assert dm.placeholders(result) == []
    cases = [dm.token_inputs(b, s) for b, s in FULL_GRID]
    errors = dm.run_generated_at_sizes(result.script.parent, path, cases, ("pynative", "graph"))
    assert len(errors) == 2 * len(FULL_GRID), name


def test_a_sequence_longer_than_the_position_table_is_refused_with_the_reason(converted, tmp_path):
    name, path, _ = _result(converted)
    with pytest.raises(MindConverterError, match=r"sequence=100") as info:
        convert(path, output=tmp_path, check_sizes={"sequence": [100]})
    # The IR says why, before anything runs: BERT slices its position embeddings to min(64, sequence)
    # rows, GPT-2 reads rows 0..sequence-1 of its 64-row table.
    reason = "min(64, sequence)" if name == "bert" else "reads row ?(sequence - 1) of a table of 64 rows"
    assert isinstance(info.value, ArgumentError) and reason in info.value.what, info.value
