"""Sequence, NLP and audio models through pytorch2mindspore (tests/sequence_models.py, random weights), all slow.

Each converts from the live module with nothing unsupported and matches torch in PYNATIVE and GRAPH; the
generated Cells take the torch class names; every state_dict key is in the weight map; only the parameters
that train in torch train in the network (buffers, rotary cos/sin, zero initial states stay fixed); and the
layers each model should read as (nn.GroupNorm for torch's GroupNorm export, one batch-first
nn.MultiheadAttention per torch module, fused attention, nn.SiLU) are there.
"""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")

import sequence_models as sm  # noqa: E402 - after the skip
from helpers import converted_once  # noqa: E402

pytestmark = pytest.mark.slow

#: Model -> (torch class names the script must define, code it must contain).
EXPECTED = {
    "audio_frontend": (set(), ["nn.GroupNorm(8, 8, eps=1e-05)", "nn.GELU(approximate=False)", "nn.Dropout(p=0.1)"]),
    "tcn": ({"CausalConv"}, ["padding=padding, dilation=dilation"]),
    "bilstm": ({"LSTM"}, []),
    "gru_h0": ({"GRU"}, []),
    "transformer_decoder": ({"TransformerDecoderLayer", "TransformerDecoder"},
                            ["nn.MultiheadAttention(16, 2, dropout=0.1, batch_first=True)"]),
    "seq2seq_transformer": ({"TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"},
                            ["nn.MultiheadAttention(16, 2, dropout=0.1, batch_first=True)"]),
    "positional_einsum_pooling": ({"PositionalEncoding", "EinsumAttention"}, ['name="pe", requires_grad=False']),
    "llama_causal_lm": ({"LlamaRMSNorm", "LlamaAttention", "LlamaMLP", "LlamaDecoderLayer"}, ["nn.SiLU()"]),
    "mistral": ({"MistralRMSNorm", "MistralAttention", "MistralMLP"}, ["nn.SiLU()"]),
    "distilbert": ({"DistilBertSelfAttention", "TransformerBlock"}, ["= ScaledDotProductAttention("]),
    "roberta": ({"RobertaEmbeddings", "RobertaSelfAttention", "RobertaLayer"}, ["= ScaledDotProductAttention("]),
    "albert": ({"AlbertEmbeddings", "AlbertTransformer"}, ["= ScaledDotProductAttention("]),
    "bart": ({"BartAttention", "BartEncoderLayer", "BartDecoderLayer"}, ["= ScaledDotProductAttention("]),
    "whisper_encoder": ({"WhisperAttention", "WhisperEncoderLayer"}, ["= ScaledDotProductAttention(", "nn.Conv1d(8, 16, 3"]),
    "wav2vec2": ({"Wav2Vec2FeatureEncoder", "Wav2Vec2Attention"}, ["nn.GroupNorm(8, 8, eps=1e-05)", "= ScaledDotProductAttention("]),
    "clip_text": ({"CLIPAttention", "CLIPEncoderLayer", "QuickGELUActivation"}, ["= ScaledDotProductAttention("]),
}
NEEDS_TRANSFORMERS = {"llama_causal_lm", "mistral", "distilbert", "roberta", "albert", "bart", "whisper_encoder",
                      "wav2vec2", "clip_text"}

#: state_dict keys the weight map cannot name (known limitations): torch's exporter folds the causal mask buffer
#: into the `Where` it feeds (the initializer is `/decoder/layers.0/self_attn/Where_output_0`), and weight_norm's
#: g and v are folded into one convolution weight, named after v.
UNNAMED = {"transformer_decoder": {"mask"},
           "wav2vec2": {"encoder.pos_conv_embed.conv.parametrizations.weight.original0"}}

def _converted(name, tmp_path_factory):
    model, result, _ = converted_once(sm.MODELS, name, tmp_path_factory, name in NEEDS_TRANSFORMERS)
    return model, result


def test_every_model_has_its_expectations():
    assert set(EXPECTED) == set(sm.MODELS)


@pytest.mark.parametrize("name", list(sm.MODELS))
def test_converts_with_parity_in_both_modes_and_reads_as_the_source(name, tmp_path_factory):
    _, result = _converted(name, tmp_path_factory)
    assert result.report["unsupported"] == []
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}, result.parity
    code = result.script.read_text()
    classes, snippets = EXPECTED[name]
    assert classes <= set(re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)), code
    missing = [s for s in snippets if s not in code]
    assert missing == [], code


@pytest.mark.parametrize("name", list(sm.MODELS))
def test_every_state_dict_key_is_in_the_weight_map_and_only_parameters_train(name, tmp_path_factory):
    model, result = _converted(name, tmp_path_factory)
    rows = [w for entries in json.loads(result.weight_map.read_text()).values() for w in entries]
    sources = {w["source_weight"]["name"] for w in rows}
    missing = {k for k in model.state_dict() if k not in sources and not k.endswith("num_batches_tracked")}
    assert missing == UNNAMED.get(name, set()), missing
    parameters = {n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    assert set(result.report.get("unmapped_parameters", [])) == missing & parameters  # the report names them
    converted = {w["converted_weight"]["name"]: w["source_weight"]["name"] for w in rows}
    trains = {converted.get(p.name, p.name) for p in result.load().trainable_params()}
    assert trains <= parameters, trains - parameters
