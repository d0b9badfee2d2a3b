"""Models built in torch with random weights, exported to ONNX, converted and checked against onnxruntime."""

from __future__ import annotations

import json

import pytest
from helpers import convert_and_check

torch = pytest.importorskip("torch")

import torch_models  # noqa: E402 - after the torch skip


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("fold", [False, True], ids=["bn-kept", "bn-folded"])
def test_resnet_style(tmp_path, opset, fold):
    model, shape = torch_models.resnet_style()
    path = torch_models.export(model, shape, tmp_path / "resnet.onnx", opset, fold)
    _, script = convert_and_check(path, tmp_path / "out", "--check-mode", "both")
    code = script.read_text()
    if not fold:
        # BatchNorm stays a layer with its statistics; members and checkpoint keys follow the module paths.
        assert "nn.BatchNorm2d(" in code
        assert "self.conv1 = nn.Conv2d(3, 8, 7, stride=2, pad_mode=\"pad\", padding=3)" in code
        keys = {row["converted_weight"]["name"] for row in json.loads((tmp_path / "out" / "weight_map_of_resnet.json").read_text())["resnet"]}
        assert {"layer1.0.bn1.moving_mean", "layer2.0.downsample.0.weight", "fc.weight"} <= keys
    assert "self.fc = nn.Dense(16, 10)" in code


@pytest.mark.parametrize("opset", [13, 17])
def test_mlp(tmp_path, opset):
    model, shape = torch_models.mlp()
    path = torch_models.export(model, shape, tmp_path / "mlp.onnx", opset)
    _, script = convert_and_check(path, tmp_path / "out", "--check-mode", "both")
    assert script.read_text().count("nn.Dense(") == 3
