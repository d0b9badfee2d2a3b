"""Model families through pytorch2mindspore (random weights): parity with the torch module in PYNATIVE and GRAPH.

Each family converts from the live module with no placeholder; the generated Cells take the torch
class names; the weight map names the state_dict keys; every dropout comes back with its p; a
TrainOneStepCell step changes the loss. The LSTM classifier and transformers BERT run in CI, the
others (a few seconds to a minute each on a shared CPU) are slow. The export keeps initializers with
equal values apart (a BatchNorm weight of ones, zero biases), so each state_dict key keeps its name;
tied weights (GPT-2's lm_head = wte, T5's embed_tokens = shared: one Parameter under two keys) are
exported once, and the weight map lists their other keys as well.
"""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")

import torch_families as tf  # noqa: E402 - after the skip
from helpers import converted_once  # noqa: E402

#: Family -> torch class names the generated script must define.
CLASSES = {
    "lstm": {"LSTM"},
    "gru": {"GRU"},
    "transformer_encoder": {"TransformerEncoderLayer"},
    "bert": {"BertEmbeddings", "BertLayer", "BertSelfAttention", "BertIntermediate", "BertPooler"},
    "gpt2_lm_head": {"GPT2Block", "GPT2Attention", "GPT2MLP"},
    "vit": {"ViTLayer", "ViTAttention", "ViTEmbeddings"},
    "t5_encoder": {"T5Attention", "T5LayerFF", "T5LayerNorm"},
    "mobilenet_v3": {"InvertedResidual", "SqueezeExcitation"},
    "efficientnet": {"InvertedResidual", "SqueezeExcitation"},
}
NEEDS_TRANSFORMERS = {"bert", "gpt2_lm_head", "vit", "t5_encoder"}
#: Family -> the p of its dropouts (nn.Dropout layers and functional calls), all restored.
DROPOUT = {"lstm": 0.2, "gru": 0.2, "mobilenet_v3": 0.2, "efficientnet": 0.2, "transformer_encoder": 0.1, "bert": 0.1,
           "gpt2_lm_head": 0.1, "vit": 0.1, "t5_encoder": 0.1}
#: Families whose attention is fused: the dropout of the attention probabilities is the op's `dropout`.
FUSED_ATTENTION_DROPOUT = {"bert", "gpt2_lm_head", "vit", "t5_encoder"}
#: Families of nn.MultiheadAttention: the eval export drops its dropout, the frontend records the module's p.
MHA_DROPOUT = {"transformer_encoder"}
#: Families that run in CI; the others take from a few seconds to a minute each on a shared CPU.
FAST = {"lstm", "bert"}
#: Families with tied weights (one tensor under two state_dict keys).
TIED = {"gpt2_lm_head", "t5_encoder"}


def _family(name):
    marks = [] if name in FAST else [pytest.mark.slow]
    return pytest.param(name, marks=marks, id=name)


def _converted(name, tmp_path_factory):
    return converted_once(tf.FAMILIES, name, tmp_path_factory, name in NEEDS_TRANSFORMERS)


@pytest.mark.parametrize("name", [_family(n) for n in tf.FAMILIES])
def test_family_converts_with_parity_in_both_modes_and_torch_class_names(name, tmp_path_factory):
    _, result, _ = _converted(name, tmp_path_factory)
    assert result.report["unsupported"] == []
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}
    assert all((p["rtol"], p["atol"]) == (1e-3, 1e-4) for p in result.parity), result.parity
    classes = set(re.findall(r"^class (\w+)\(nn\.Cell\):", result.script.read_text(), re.M))
    assert CLASSES[name] <= classes, classes
    if name == "transformer_encoder":  # nn.MultiheadAttention is one Cell: no slices of its packed in-projection
        code = result.script.read_text()
        assert "nn.MultiheadAttention(16, 2, dropout=0.1, batch_first=True)" in code, code
        assert not re.search(r"ops\.(split|gather|slice|transpose|reshape)\(|\[[^\]]*\d*:\d+", code), code
    if name == "bert":  # a ModelOutput's fields name what construct returns
        assert "return last_hidden_state, pooler_output" in result.script.read_text()


@pytest.mark.parametrize("name", [_family(n) for n in tf.FAMILIES])
def test_family_dropouts_are_restored_with_their_p(name, tmp_path_factory):
    _, result, _ = _converted(name, tmp_path_factory)
    code = result.script.read_text()
    layers = {float(p) for p in re.findall(r"nn\.Dropout\(p=([0-9.]+)\)", code)}
    assert layers == {DROPOUT[name]}, code
    attention = re.findall(r"= ScaledDotProductAttention\(([^)]*)\)", code)
    if name in FUSED_ATTENTION_DROPOUT:  # transformers pass p only in training: the training forward reads it
        assert attention and all(f"dropout={DROPOUT[name]}" in args for args in attention), attention
    mha = re.findall(r"= nn\.MultiheadAttention\(([^)]*)\)", code)
    if name in MHA_DROPOUT:  # the fused nn.MultiheadAttention gets its module's p (the export gives it 0)
        assert mha and all(f"dropout={DROPOUT[name]}" in args for args in mha), mha


@pytest.mark.parametrize("name", [_family(n) for n in tf.FAMILIES])
def test_every_state_dict_key_is_in_the_weight_map(name, tmp_path_factory):
    model, result, _ = _converted(name, tmp_path_factory)
    weights = json.loads(result.weight_map.read_text())
    rows = [w for entries in weights.values() for w in entries]
    sources = {w["source_weight"]["name"] for w in rows}
    missing = [k for k in model.state_dict() if k not in sources and not k.endswith("num_batches_tracked")]
    assert missing == [], missing
    tied = {w["source_weight"]["name"] for w in rows if w["source_weight"].get("tied")}
    assert bool(tied) == (name in TIED), tied


@pytest.mark.parametrize("name", [_family(n) for n in tf.FAMILIES])
def test_a_training_step_changes_the_loss(name, tmp_path_factory):
    import mindspore as ms
    import numpy as np
    from mindspore import nn as msnn

    _, result, inputs = _converted(name, tmp_path_factory)
    arrays = [t.numpy() for t in (inputs.values() if isinstance(inputs, dict) else inputs)]
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = result.load()
    net.set_train(True)

    class Loss(msnn.Cell):  # mean square of the first output: any trainable path lowers it
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def construct(self, *xs):
            out = self.inner(*xs)
            first = out[0] if isinstance(out, (tuple, list)) else out
            return (first * first).mean()

    step = msnn.TrainOneStepCell(Loss(net), msnn.SGD(net.trainable_params(), learning_rate=0.05))
    feed = [ms.Tensor(a) for a in arrays]
    losses = [float(step(*feed).asnumpy()) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] != losses[0], losses
