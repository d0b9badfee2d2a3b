"""Readable output for a torchvision-style ResNet: one block class reused, source names, parity, size."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import MODES, check_generated_script, convert_model, onnxruntime_outputs

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402 - after the torch skip

#: Lines of the hand-written MindSpore ResNet-50 in /work/shared/target-output.md (docstring included).
HAND_WRITTEN_RESNET50_LINES = 55


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (expansion 4, stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet; `layers=(3, 4, 6, 3)` with Bottleneck blocks is ResNet-50.

    `block` is a class like Bottleneck: `block(inplanes, planes, stride, downsample)`, with `expansion`.
    """

    def __init__(self, layers=(3, 4, 6, 3), width=64, num_classes=10, block=Bottleneck):
        super().__init__()
        self.block = block
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], 2)
        self.layer3 = self._make_layer(width * 4, layers[2], 2)
        self.layer4 = self._make_layer(width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample, out = None, planes * self.block.expansion
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        layers = [self.block(self.inplanes, planes, stride, downsample)]
        self.inplanes = out
        layers += [self.block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet(layers=(3, 4, 6, 3), width=64, seed=0, num_classes=10, block=Bottleneck) -> nn.Module:
    torch.manual_seed(seed)
    model = ResNet(layers, width, num_classes, block)
    for m in model.modules():  # statistics as a trained model would have them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def export(model: nn.Module, shape: tuple[int, ...], path) -> onnx.ModelProto:
    torch.onnx.export(model, (torch.randn(*shape),), str(path), opset_version=17, dynamo=False,
                      do_constant_folding=False, input_names=["input"], output_names=["output"])
    return onnx.load(str(path))


def cpu_device() -> None:
    """Select MindSpore's CPU device before anything builds a network (it cannot change afterwards)."""
    from mindconverter.runtime_check.mindspore_run import import_mindspore

    import_mindspore().set_device("CPU")


def code_lines(code: str) -> int:
    """Non-blank lines of a script."""
    return sum(1 for line in code.splitlines() if line.strip())


def test_resnet50_has_one_bottleneck_class_used_16_times(tmp_path):
    model = export(build_resnet(), (1, 3, 64, 64), tmp_path / "resnet50.onnx")
    gen, script, _ = convert_model(model, tmp_path)
    code = gen.code
    classes = re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)
    assert len(classes) == 2, code  # the block and MindSporeModel
    block = classes[0]
    # 4 first blocks written out + the repeated ones as `*[Block(...) for _ in range(n)]`
    top = code[code.index("class MindSporeModel"):]
    calls = re.findall(rf"{block}\(([^)]*)\)(?: for _ in range\((\d+)\))?", top)
    assert sum(int(n) if n else 1 for _, n in calls) == 16, code
    members = re.findall(r"^        self\.(\w+) = ", top, re.M)
    for name in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"):
        assert name in members, top
    keys = {e.name for e in gen.checkpoint}
    assert {"layer1.0.conv1.weight", "layer1.0.bn1.moving_mean", "layer1.0.downsample.0.weight",
            "layer4.2.bn3.gamma", "fc.weight", "bn1.moving_variance"} <= keys
    assert code_lines(code) <= 1.5 * HAND_WRITTEN_RESNET50_LINES, f"{code_lines(code)} lines:\n{code}"
    cpu_device()  # before check_generated_script builds the network, as run_network would
    check_generated_script(script)


def test_small_resnet_keeps_parity_in_both_modes(tmp_path):
    from mindconverter.runtime_check.mindspore_run import run_network

    model = export(build_resnet((2, 1, 1, 1), width=4), (2, 3, 32, 32), tmp_path / "resnet.onnx")
    feeds = {"input": np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)}
    expected = onnxruntime_outputs(model, feeds)[0]
    gen, script, ckpt = convert_model(model, tmp_path)
    assert "nn.SequentialCell(" in gen.code and "if self.downsample is not None:" in gen.code
    for mode in MODES:
        got = run_network(script, ckpt, [feeds["input"]], mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=f"{mode}\n{gen.code}")


def test_resnet50_keeps_parity_in_both_modes(tmp_path):
    from mindconverter.runtime_check.mindspore_run import run_network

    model = export(build_resnet(), (1, 3, 64, 64), tmp_path / "resnet50.onnx")
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    expected = onnxruntime_outputs(model, feeds)[0]
    _, script, ckpt = convert_model(model, tmp_path)
    for mode in MODES:
        got = run_network(script, ckpt, [feeds["input"]], mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=mode)
