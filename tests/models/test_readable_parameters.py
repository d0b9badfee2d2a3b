"""Raw parameters inside repeated sub-modules: named relative to their cell, one class, keys by attribute path."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MODES, onnxruntime_outputs

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from helpers import convert_model  # noqa: E402
from torch import nn  # noqa: E402


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8, bias=False)  # a bare MatMul: nn.Dense(8, 8, has_bias=False)
        self.scale = nn.Parameter(torch.randn(8))

    def forward(self, x):
        return torch.relu(self.proj(x)) * self.scale + x


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Scaled(), Scaled())

    def forward(self, x):
        return self.blocks(x)


def test_parameters_of_repeated_blocks(tmp_path):
    from mindconverter.runtime_check.mindspore_run import run_network

    torch.manual_seed(0)
    torch.onnx.export(Stack().eval(), (torch.randn(2, 3, 8),), str(tmp_path / "m.onnx"), opset_version=17, dynamo=False,
                      do_constant_folding=False, input_names=["x"])
    model = onnx.load(str(tmp_path / "m.onnx"))
    gen, script, ckpt = convert_model(model, tmp_path)
    assert "self.scale = Parameter(" in gen.code and "*[Block() for _ in range(2)]" in gen.code, gen.code
    assert "self.proj = nn.Dense(8, 8, has_bias=False)" in gen.code, gen.code
    # The keys are the torch state_dict's.
    assert {e.name for e in gen.checkpoint} == {"blocks.0.proj.weight", "blocks.0.scale", "blocks.1.proj.weight", "blocks.1.scale"}
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    expected = onnxruntime_outputs(model, {"x": x})[0]
    for mode in MODES:
        np.testing.assert_allclose(run_network(script, ckpt, [x], mode)[0], expected, rtol=1e-3, atol=1e-4, err_msg=mode)
