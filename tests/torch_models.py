"""Small torch models with random weights, exported to ONNX the way users export theirs."""

from __future__ import annotations

from pathlib import Path


def _torch():
    import torch
    from torch import nn

    return torch, nn


def resnet_style():
    """A torchvision-style ResNet with BasicBlocks (downsampling shortcut included), 10 classes."""
    torch, nn = _torch()

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    model = ResNet()
    # Non-trivial BatchNorm statistics, as a trained model would have.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval(), (1, 3, 32, 32)


def mlp():
    """An MLP: Flatten, Linear+ReLU, Dropout, Linear+Tanh, Linear, Softmax."""
    torch, nn = _torch()
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(48, 32),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(32, 16),
        nn.Tanh(),
        nn.Linear(16, 5),
        nn.Softmax(dim=1),
    )
    return model.eval(), (2, 3, 4, 4)


def export(model, shape, path: Path, opset: int, fold: bool = False) -> Path:
    """torch.onnx.export with the settings users use; fold=False keeps BatchNorm and state_dict names."""
    torch, _ = _torch()
    x = torch.randn(*shape)
    torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=False, do_constant_folding=fold,
                      input_names=["input"], output_names=["output"])
    return path
