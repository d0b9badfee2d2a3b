"""Attention in a torch transformer block becomes one ScaledDotProductAttention Cell, with or without source scopes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import MODES, check_generated_script, convert_model, onnxruntime_outputs

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402 - after the torch skip
from torch.nn import functional as F  # noqa: E402

BATCH, SEQ, HIDDEN, HEADS = 2, 6, 32, 4


class Block(nn.Module):
    """A pre-norm transformer block; attention written out by hand, or with F.scaled_dot_product_attention (causal: its
    mask folds to a constant operand)."""

    def __init__(self, sdpa: bool = False, causal: bool = False):
        super().__init__()
        self.sdpa, self.causal, self.head_dim = sdpa, causal, HIDDEN // HEADS
        self.ln = nn.LayerNorm(HIDDEN)
        self.q, self.k, self.v, self.o = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.ff = nn.Sequential(nn.Linear(HIDDEN, 2 * HIDDEN), nn.GELU(), nn.Linear(2 * HIDDEN, HIDDEN))

    def attend(self, x, mask):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, HEADS, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
        if self.sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
            if mask is not None:
                scores = scores + mask
            out = torch.softmax(scores, dim=-1) @ v
        return self.o(out.transpose(1, 2).reshape(b, t, d))

    def forward(self, x, mask=None):
        x = x + self.attend(self.ln(x), mask)
        return x + self.ff(x)


def export(model: nn.Module, path, with_mask: bool) -> onnx.ModelProto:
    torch.manual_seed(0)
    args = (torch.randn(BATCH, SEQ, HIDDEN),) + ((torch.randn(BATCH, 1, 1, SEQ),) if with_mask else ())
    names = ["x", "mask"] if with_mask else ["x"]
    torch.onnx.export(model, args, str(path), opset_version=17, dynamo=False, do_constant_folding=False,
                      input_names=names, output_names=["y"])
    return onnx.load(str(path))


def strip_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """As another exporter might write it: nodes without names, so no module scopes guide the structure."""
    for node in model.graph.node:
        node.name = ""
    return model


@pytest.mark.parametrize(("sdpa", "with_mask", "scoped"), [
    (False, False, True), (False, False, False), (False, True, False), (True, True, True), (True, False, False), ("causal", False, True),
])
def test_attention_becomes_a_readable_cell_and_keeps_parity(tmp_path, sdpa, with_mask, scoped):
    from mindconverter.runtime_check.mindspore_run import run_network

    torch.manual_seed(1)
    model = export(Block(bool(sdpa), causal=sdpa == "causal").eval(), tmp_path / "block.onnx", with_mask)
    if not scoped:
        model = strip_names(model)
    gen, script, ckpt = convert_model(model, tmp_path)
    code = gen.code
    assert not gen.unsupported, code
    assert "class ScaledDotProductAttention(nn.Cell)" in code, code
    member = re.search(r"self\.(\w+) = ScaledDotProductAttention\(4, 0\.353553\d*\)", code)
    assert member is not None, code
    rest = re.sub(r"class ScaledDotProductAttention\(nn\.Cell\):.*?\n\n\n", "", code, flags=re.S)
    assert "ops.reshape" not in rest and "ops.transpose" not in rest, code  # the head reshapes are all in the Cell
    assert "(2, 6, 4, 8)" not in code and "(2, 4, 6, 8)" not in code, code  # no frozen head shapes
    arity = 4 if with_mask or sdpa == "causal" else 3
    assert re.search(rf"self\.{member.group(1)}\(" + ", ".join([r"[^,()]+(?:\([^()]*\))?"] * arity) + r"\)", code), code
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((BATCH, SEQ, HIDDEN)).astype(np.float32)}
    if with_mask:  # a padding mask: -1e4 on the last two key positions of the second sequence
        mask = np.zeros((BATCH, 1, 1, SEQ), np.float32)
        mask[1, ..., -2:] = -1e4
        feeds["mask"] = mask
    expected = onnxruntime_outputs(model, feeds)[0]
    for mode in MODES:
        got = run_network(script, ckpt, list(feeds.values()), mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=f"{mode}\n{code}")
    check_generated_script(script)
