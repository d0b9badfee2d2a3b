"""mc.multihead_attention emitted as MindSpore's nn.MultiheadAttention, checked against onnxruntime on torch's export.

Each case exports a torch nn.MultiheadAttention (dynamo=False), converts it with the default pipeline and runs
the generated Cell in PYNATIVE and GRAPH mode: the fusion must fire (one nn.MultiheadAttention, no slices of the
packed projection) and the numbers must match.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import assert_parity

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402 - after the torch skip

COVERS = {"mc.multihead_attention"}

E, L, S, B = 8, 5, 6, 2


class Attention(nn.Module):
    def __init__(self, heads: int, batch_first: bool, bias: bool, cross: bool, mask: bool, need_weights: bool, kdim=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, heads, bias=bias, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.cross, self.mask, self.need_weights = cross, mask, need_weights

    def forward(self, x, y):
        kv = y if self.cross else x
        mask = torch.triu(torch.full((L, kv.shape[1 if self.attn.batch_first else 0]), -1e4), 1) if self.mask else None
        return self.attn(x, kv, kv, attn_mask=mask, need_weights=self.need_weights)[0]


@pytest.mark.parametrize(("heads", "batch_first", "bias", "cross", "mask", "need_weights", "folding", "kdim"), [
    (2, True, True, False, True, False, False, None),  # a TransformerEncoderLayer's self-attention with a causal mask
    # cross attention, key and value 6 wide (q/k/v_proj_weight), no bias, the weights path (discarded), folded export
    (1, False, False, True, False, True, True, 6),
])
def test_multihead_attention_becomes_nn_multihead_attention(tmp_path, heads, batch_first, bias, cross, mask, need_weights,
                                                            folding, kdim):
    torch.manual_seed(0)
    model = Attention(heads, batch_first, bias, cross, mask, need_weights, kdim).eval()
    if bias:
        nn.init.uniform_(model.attn.in_proj_bias, -0.5, 0.5)
    shape = (B, L, E) if batch_first else (L, B, E)
    kv_shape = (B, S, kdim or E) if batch_first else (S, B, kdim or E)
    x, y = torch.randn(*shape), torch.randn(*kv_shape)
    path = tmp_path / "mha.onnx"
    torch.onnx.export(model, (x, y), str(path), dynamo=False, opset_version=17, do_constant_folding=folding,
                      input_names=["x", "y"], output_names=["out"])
    proto = onnx.load(str(path))
    feeds = {n: t.numpy() for n, t in zip(("x", "y"), (x, y), strict=True) if n in {i.name for i in proto.graph.input}}
    code = assert_parity(proto, feeds, expect_layers=(f"nn.MultiheadAttention({E}, {heads}",))
    assert code.count("nn.MultiheadAttention(") == 1 and "ops.split" not in code and "ops.gather" not in code, code
    assert ("batch_first=True" in code) == batch_first and ("has_bias=False" in code) == (not bias), code
    assert ("attn_mask=" in code) == mask and ("kdim=6, vdim=6" in code) == (kdim is not None), code


def test_a_dynamic_batch_and_sequence_export_runs_at_other_sizes_as_torch_does(tmp_path):
    """torch's tracer bakes the export's key length into the k/v head views of a dynamic sequence axis, so the
    ONNX graph runs at that length only; the fused nn.MultiheadAttention runs at any, as the torch module does."""
    from helpers import convert_model

    from mindconverter.runtime_check.mindspore_run import run_network_on

    torch.manual_seed(0)
    model = Attention(2, batch_first=True, bias=True, cross=False, mask=False, need_weights=False).eval()
    x = torch.randn(B, L, E)
    path = tmp_path / "mha.onnx"
    torch.onnx.export(model, (x, x), str(path), dynamo=False, opset_version=17, input_names=["x"], output_names=["out"],
                      dynamic_axes={"x": {0: "batch", 1: "sequence"}})
    gen, script, ckpt = convert_model(onnx.load(str(path)), tmp_path)
    assert "nn.MultiheadAttention(8, 2, batch_first=True)" in gen.code and "ops.reshape" not in gen.code, gen.code
    sizes = [(B, L), (3, 7)]
    inputs = [torch.randn(b, t, E) for b, t in sizes]
    with torch.no_grad():
        want = [model(x, x).numpy() for x in inputs]
    for mode in ("pynative", "graph"):
        got = list(run_network_on(script, ckpt, [[x.numpy()] for x in inputs], mode))
        for (b, t), g, w in zip(sizes, got, want, strict=True):
            np.testing.assert_allclose(g[0], w, rtol=1e-3, atol=1e-4, err_msg=f"{mode} at batch {b}, sequence {t}")


class TwoBlocks(nn.Module):
    """Self-attention feeding cross-attention directly: the exporter merges the first block's closing transpose
    with the second's opening one, so the first block ends sequence first and the second starts there."""

    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(E, 2, batch_first=True)
        self.attn = nn.MultiheadAttention(E, 2, batch_first=True)

    def forward(self, x, y):
        x = self.self_attn(x, x, x, need_weights=False)[0]
        return self.attn(x, y, y, need_weights=False)[0]


def test_blocks_sharing_a_merged_transpose_both_fuse(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(B, L, E), torch.randn(B, S, E)
    path = tmp_path / "two.onnx"
    torch.onnx.export(TwoBlocks().eval(), (x, y), str(path), dynamo=False, opset_version=17, input_names=["x", "y"],
                      output_names=["out"])
    code = assert_parity(onnx.load(str(path)), {"x": x.numpy(), "y": y.numpy()})
    assert "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)" in code, code
    assert "self.self_attn = nn.MultiheadAttention(8, 2, batch_first=True)" in code and "ops." not in code, code
