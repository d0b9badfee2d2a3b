"""Models for the symbolic-shape end-to-end tests, built with random weights and exported as users export them.

- transformers BERT / GPT-2 from tiny configs, exported with dynamic batch and sequence axes;
- the torchvision-style ResNet of torch_models.py with a dynamic batch;
- a windowed-attention block (pad to a window multiple, window partition/reverse, relative
  position bias gathered by an index buffer), exported static;
- GPT-2 exported static, whose position embedding the converter must keep whole.
Also: running a generated script once at many sizes against onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_POSITIONS = 64
VOCAB = 100
HIDDEN = 32


def _torch():
    import torch

    return torch


def _hidden_state_wrapper(model):
    """forward(input_ids, attention_mask) -> last_hidden_state: the tensor users export."""
    torch = _torch()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):
            # GPT-2 would also return its key/value cache, which no test exports.
            extra = {"use_cache": False} if self.model.config.model_type == "gpt2" else {}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    return LastHiddenState(model).eval()


def tiny_bert():
    from transformers import BertConfig, BertModel

    _torch().manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=MAX_POSITIONS)
    return BertModel._from_config(config, attn_implementation="eager").eval()


def tiny_gpt2():
    from transformers import GPT2Config, GPT2Model

    _torch().manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=2, n_positions=MAX_POSITIONS,
                        bos_token_id=0, eos_token_id=0)
    return GPT2Model._from_config(config, attn_implementation="eager").eval()


def export_transformer(model, path: Path, dynamic: bool = True, batch: int = 2, seq: int = 16) -> Path:
    """Export forward(input_ids, attention_mask) (all-ones mask) with dynamic batch and sequence axes, or static."""
    import warnings

    torch = _torch()
    ids = torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(batch, seq, dtype=torch.long)
    dynamic_axes = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "last_hidden_state")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_hidden_state_wrapper(model), (ids, mask), str(path), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes=dynamic_axes if dynamic else None)
    return path


def resnet_dynamic_batch(path: Path) -> Path:
    """torch_models.resnet_style() (1x3x32x32) exported with a dynamic batch axis."""
    import warnings

    from torch_models import resnet_style

    torch = _torch()
    model, shape = resnet_style()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return path


def window_attention_block(dim: int = 16, heads: int = 2, window: int = 4):
    """A Swin-style block: LayerNorm, pad to a window multiple, windows, attention with relative position bias, reverse."""
    torch = _torch()
    from torch import nn
    from torch.nn import functional as F

    class WindowBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.window, self.heads, self.scale = window, heads, (dim // heads) ** -0.5
            self.norm = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)
            self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.5)
            coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
            self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])

        def forward(self, x):  # x: (B, H, W, C)
            b, h, w, c = x.shape
            ws = self.window
            y = self.norm(x)
            pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
            y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
            hp, wp = y.shape[1], y.shape[2]
            windows = y.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
            n = windows.shape[0]
            qkv = self.qkv(windows).reshape(n, ws * ws, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q * self.scale) @ k.transpose(-2, -1)
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
            attn = attn + bias.view(ws * ws, ws * ws, -1).permute(2, 0, 1).unsqueeze(0)
            out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, ws * ws, c)
            out = self.proj(out).view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
            return x + out[:, :h, :w, :].contiguous()

    torch.manual_seed(0)
    return WindowBlock().eval()


def export_static(model, shape: Sequence[int], path: Path, axes: dict[int, str] | None = None) -> Path:
    """Export forward(input) -> output at `shape`; `axes` ({1: "height"}) makes those axes of both dynamic."""
    import warnings

    torch = _torch()
    dynamic_axes = {"input": axes, "output": axes} if axes else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"], dynamic_axes=dynamic_axes)
    return path


def token_inputs(batch: int, seq: int, seed: int = 0) -> list[np.ndarray]:
    """input_ids below the vocabulary and an all-ones attention mask (what the export was traced with)."""
    rng = np.random.default_rng(seed + 7 * batch + seq)
    return [rng.integers(0, VOCAB, (batch, seq)).astype(np.int64), np.ones((batch, seq), np.int64)]


def onnxruntime_run(path: Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)})


def run_generated_at_sizes(out: Path, model_path: Path, cases: Sequence[Sequence[np.ndarray]], modes: Sequence[str],
                           rtol: float = 1e-3, atol: float = 1e-4) -> dict[tuple, float]:
    """Load the network generated in `out` once per mode, run every case, compare with onnxruntime; max abs err per case."""
    from mindconverter.runtime_check.mindspore_run import run_network_on

    script, checkpoint = out / f"{model_path.stem}.py", out / f"{model_path.stem}.ckpt"
    expected = [onnxruntime_run(model_path, xs) for xs in cases]
    errors = {}
    for mode in modes:
        for xs, want, got in zip(cases, expected, run_network_on(script, checkpoint, [list(c) for c in cases], mode),
                                 strict=True):
            key = (mode, *(x.shape for x in xs))
            assert len(got) == len(want), key
            for g, e in zip(got, want, strict=True):
                assert g.shape == e.shape, (key, g.shape, e.shape)
                np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=str(key))
            errors[key] = max(float(np.abs(g - e).max()) for g, e in zip(got, want, strict=True))
    return errors


def placeholders(result) -> list[str]:
    """The ops the conversion could not convert (names), from the JSON report."""
    return [u["op"] for u in json.loads(result.report_json.read_text())["unsupported"]]
