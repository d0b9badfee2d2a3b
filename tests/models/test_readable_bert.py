"""Readable output for a BERT-style encoder: nn.Dense / nn.LayerNorm / nn.GELU / nn.Dropout, one layer class, an attention Cell."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import MODES, check_generated_script, onnxruntime_outputs

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from helpers import convert_model  # noqa: E402
from torch import nn  # noqa: E402 - after the torch skip

HIDDEN, HEADS, FF, VOCAB, SEQ = 32, 4, 64, 50, 6


class SelfAttention(nn.Module):
    def __init__(self, hidden=HIDDEN, heads=HEADS, p=0.1):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        b, t, d = x.shape
        q = self.q(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        attn = self.drop(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1))
        return self.o((attn @ v).transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    def __init__(self, hidden=HIDDEN, ff=FF, p=0.1):
        super().__init__()
        self.attention = SelfAttention(hidden)
        self.ln1 = nn.LayerNorm(hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ff)
        self.act = nn.GELU()
        self.ff2 = nn.Linear(ff, hidden)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        x = self.ln1(x + self.drop(self.attention(x)))
        return self.ln2(x + self.drop(self.ff2(self.act(self.ff1(x)))))


class TinyBert(nn.Module):
    def __init__(self, layers=2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(layers)])
        self.pooler = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return torch.tanh(self.pooler(x[:, 0]))


class _ExportedDropout(torch.autograd.Function):
    """Identity in eval, exported as ONNX Dropout(ratio=p, training_mode=False) so the layer survives export.

    torch drops nn.Dropout from eval-mode exports; this is how the torch API keeps it (what
    pytorch2mindspore should do with the source's Dropout layers).
    """

    @staticmethod
    def forward(ctx, x, p):
        return x.clone()

    @staticmethod
    def symbolic(g, x, p):
        ratio = g.op("Constant", value_t=torch.tensor(p, dtype=torch.float32))
        training = g.op("Constant", value_t=torch.tensor(False))
        return g.op("Dropout", x, ratio, training)


class KeptDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return _ExportedDropout.apply(x, self.p)


def keep_dropout(model: nn.Module) -> nn.Module:
    """Replace every nn.Dropout by KeptDropout (same name, same p)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            setattr(model, name, KeptDropout(child.p))
        else:
            keep_dropout(child)
    return model


def build_bert(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = TinyBert()
    for m in model.modules():  # trained-looking LayerNorm weights
        if isinstance(m, nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return keep_dropout(model.eval())


def export(model: nn.Module, path) -> onnx.ModelProto:
    ids = torch.randint(0, VOCAB, (2, SEQ))
    torch.onnx.export(model, (ids,), str(path), opset_version=17, dynamo=False, do_constant_folding=False,
                      input_names=["ids"], output_names=["pooled"])
    return onnx.load(str(path))


def test_bert_encoder_reads_like_hand_written_code_and_keeps_parity(tmp_path):
    from mindconverter.runtime_check.mindspore_run import run_network

    model = export(build_bert(), tmp_path / "tinybert.onnx")
    gen, script, ckpt = convert_model(model, tmp_path)
    code = gen.code
    for layer in ("nn.Embedding(50, 32)", "nn.Dense(", "nn.LayerNorm((32,), epsilon=1e-05)", "nn.GELU(approximate=False)",
                  "nn.Dropout(p=0.1)"):
        assert layer in code, code
    classes = re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)
    assert "Attention" in classes, code
    layer_class = [c for c in classes if c not in ("Attention", "ScaledDotProductAttention", "MindSporeModel")]
    assert len(layer_class) == 1, code  # one encoder-layer class, used for both layers
    assert f"*[{layer_class[0]}() for _ in range(2)]" in code, code
    keys = {e.name for e in gen.checkpoint}
    assert {"layers.0.attention.q.weight", "layers.1.ln2.gamma", "layers.1.ff1.bias", "pooler.weight",
            "embed.embedding_table"} <= keys, keys
    ids = np.random.default_rng(0).integers(0, VOCAB, (2, SEQ)).astype(np.int64)
    expected = onnxruntime_outputs(model, {"ids": ids})[0]
    for mode in MODES:
        got = run_network(script, ckpt, [ids], mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=f"{mode}\n{code}")
    check_generated_script(script)  # after running: it builds the network, which fixes MindSpore's device
