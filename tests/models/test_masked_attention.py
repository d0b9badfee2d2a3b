"""Attention masked with masked_fill / torch.where, written by hand in torch, becomes one ScaledDotProductAttention Cell.

The converted network is compared with the torch module itself, on masks that fill some rows whole:
torch gives NaN there with a -inf fill and a uniform row with a finite one, and so must the Cell.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import MODES, convert_model

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402 - after the torch skip

from mindconverter.runtime_check.mindspore_run import run_network_on  # noqa: E402

BATCH, SEQ, HIDDEN, HEADS, MAX_POSITIONS = 2, 5, 16, 2, 16


class MaskedFillAttention(nn.Module):
    """The annotated transformer's attention: scores.masked_fill(mask == 0, fill) on (B, 1, T, S) 0/1 masks."""

    def __init__(self, fill: float):
        super().__init__()
        self.fill, self.head_dim = fill, HIDDEN // HEADS
        self.q, self.k, self.v, self.o = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, HEADS, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(mask == 0, self.fill)
        return self.o((torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d))


class LegacyGPT2Attention(nn.Module):
    """GPT-2's attention as transformers wrote it before its mask interface: Conv1D-style c_attn split into q, k, v,
    torch.where(causal, scores, finfo.min) from a bias buffer, then the additive padding mask."""

    def __init__(self):
        super().__init__()
        self.head_dim = HIDDEN // HEADS
        self.c_attn, self.c_proj = nn.Linear(HIDDEN, 3 * HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        causal = torch.tril(torch.ones(MAX_POSITIONS, MAX_POSITIONS, dtype=torch.bool))
        self.register_buffer("bias", causal.view(1, 1, MAX_POSITIONS, MAX_POSITIONS), persistent=False)

    def heads(self, x):
        return x.view(*x.shape[:-1], HEADS, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, attention_mask):
        q, k, v = (self.heads(p) for p in self.c_attn(x).split(HIDDEN, dim=2))
        w = torch.matmul(q, k.transpose(-1, -2)) / (self.head_dim ** 0.5)
        t, s = q.size(-2), k.size(-2)
        causal = self.bias[:, :, s - t:s, :s]
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        w = w + (1.0 - attention_mask[:, None, None, :].to(w.dtype)) * torch.finfo(w.dtype).min
        out = torch.matmul(torch.softmax(w, dim=-1), v).permute(0, 2, 1, 3)
        return self.c_proj(out.reshape(*out.shape[:2], HIDDEN))


def export(model: nn.Module, args: tuple, path, dynamic: bool) -> None:
    axes = {"x": {0: "batch", 1: "sequence"}, "mask": {0: "batch", 1: "sequence"}, "y": {0: "batch", 1: "sequence"}}
    if isinstance(model, MaskedFillAttention):
        axes["mask"] = {0: "batch", 2: "sequence", 3: "sequence_k"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), opset_version=17, dynamo=False, input_names=["x", "mask"],
                          output_names=["y"], dynamic_axes=axes if dynamic else None)


def masks_with_whole_rows(model: nn.Module, batch: int, seq: int, seed: int) -> tuple:
    """(x, mask): random masks with one query row masked whole and one kept whole (padding for the GPT-2 style)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, seq, HIDDEN, generator=g)
    if isinstance(model, LegacyGPT2Attention):  # 0/1 padding: the last positions of the last sequence padded
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[-1, seq // 2:] = 0
        return x, mask
    mask = (torch.rand(batch, 1, seq, seq, generator=g) < 0.6).long()
    mask[0, 0, 1, :] = 0
    mask[-1, 0, 0, :] = 1
    return x, mask


def assert_matches_torch(model: nn.Module, tmp_path, dynamic: bool, sizes: list[tuple[int, int]]) -> str:
    """Export at the first size, convert once, and compare with torch at every size in both modes; returns the code."""
    torch.manual_seed(0)
    model.eval()
    export(model, masks_with_whole_rows(model, *sizes[0], 0), tmp_path / "attn.onnx", dynamic)
    import onnx

    gen, script, ckpt = convert_model(onnx.load(str(tmp_path / "attn.onnx")), tmp_path)
    assert not gen.unsupported, gen.code
    cases = [masks_with_whole_rows(model, b, s, seed) for seed, (b, s) in enumerate(sizes)]
    with torch.no_grad():
        want = [model(*case).numpy() for case in cases]
    for mode in MODES:
        got = list(run_network_on(script, ckpt, [[t.numpy() for t in case] for case in cases], mode))
        for (b, s), g, w in zip(sizes, got, want, strict=True):
            np.testing.assert_allclose(g[0], w, rtol=1e-3, atol=1e-4, err_msg=f"{mode} batch {b} sequence {s}\n{gen.code}")
    return gen.code


@pytest.mark.parametrize("fill", [float("-inf"), torch.finfo(torch.float32).min, -1e9])
def test_masked_fill_attention_is_one_cell_and_matches_torch_on_whole_masked_rows(tmp_path, fill):
    model = MaskedFillAttention(fill)
    code = assert_matches_torch(model, tmp_path, dynamic=False, sizes=[(BATCH, SEQ)])
    with torch.no_grad():  # the whole masked row: NaN in torch with -inf, which the comparison above matched
        assert torch.isnan(model(*masks_with_whole_rows(model, BATCH, SEQ, 0))).any() == math.isinf(fill)
    assert "ScaledDotProductAttention(2, 0.3535534, fill=" in code, code
    assert "fill_mask=" in code and "softmax" not in code.split("class MindSporeModel")[1], code


def test_masked_fill_attention_exported_dynamic_matches_torch_at_two_sizes(tmp_path):
    code = assert_matches_torch(MaskedFillAttention(float("-inf")), tmp_path, dynamic=True, sizes=[(2, 5), (3, 7)])
    assert "fill_mask=" in code and "softmax" not in code.split("class MindSporeModel")[1], code


@pytest.mark.parametrize("dynamic", [False, True])
def test_legacy_gpt2_causal_where_and_padding_mask_are_one_cell(tmp_path, dynamic):
    sizes = [(2, 6), (1, 9)] if dynamic else [(2, 6)]
    code = assert_matches_torch(LegacyGPT2Attention(), tmp_path, dynamic=dynamic, sizes=sizes)
    assert "fill=-3.4028235e+38" in code, code
    # Static, the causal slice folds to a constant and so does its negation; dynamic, the slice is computed and negated.
    assert ("fill_mask=self.fill_mask" in code) != dynamic and ("ops.logical_not(" in code) == dynamic, code
    assert "softmax" not in code.split("class MindSporeModel")[1], code
