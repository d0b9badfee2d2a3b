"""Named models with random weights for the benchmarks, written in torch (torchvision does not import here).

ResNet-18/50, MobileNetV2 and EfficientNet-B0 follow torchvision's definitions (same layers, same
order, same names); the BERT-base encoder and ViT-B/16 are transformers' own models built from their
default configurations (which are those sizes), random-initialised with eager attention. Each entry
of `MODELS` gives the module (eval mode) and its example input; `export` writes the ONNX file the way
users export theirs (`torch.onnx.export`, opset 17, `dynamo=False`).
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _randomise_batchnorm(model) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, as a trained model has them."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def resnet(depth: int, num_classes: int = 1000):
    """torchvision's ResNet-18 (BasicBlock, 2-2-2-2) or ResNet-50 (Bottleneck, 3-4-6-3).

    The ResNet and Bottleneck are the tests' (tests/models/test_readable_resnet.py); BasicBlock is here.
    """
    import torch
    from torch import nn

    sys.path[:0] = [str(TESTS), str(TESTS / "models")]
    try:
        from test_readable_resnet import Bottleneck, build_resnet
    finally:
        del sys.path[:2]

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)

    block, layers = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}[depth]
    return build_resnet(layers, num_classes=num_classes, block=block), torch.randn(1, 3, 224, 224)


def _conv_bn_act(nn, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act=None, eps: float = 1e-5):
    """torchvision's Conv2dNormActivation: conv (no bias, 'same'-style padding), BatchNorm, activation."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=eps)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def mobilenet_v2(num_classes: int = 1000):
    """torchvision's MobileNetV2 (width 1.0): inverted residuals with ReLU6, 1280-wide head."""
    import torch
    from torch import nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            self.use_res_connect = stride == 1 and cin == cout
            layers = [_conv_bn_act(nn, cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
            layers += [_conv_bn_act(nn, hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                       nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            features, cin = [_conv_bn_act(nn, 3, 32, 3, 2, act=nn.ReLU6)], 32
            for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                               (6, 160, 3, 2), (6, 320, 1, 1)):
                for i in range(n):
                    features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            features.append(_conv_bn_act(nn, cin, 1280, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    torch.manual_seed(0)
    model = MobileNetV2()
    _randomise_batchnorm(model)
    return model.eval(), torch.randn(1, 3, 224, 224)


def efficientnet_b0(num_classes: int = 1000):
    """torchvision's EfficientNet-B0: MBConv blocks with squeeze-excitation and SiLU, BatchNorm eps 1e-3."""
    import torch
    from torch import nn

    class SqueezeExcitation(nn.Module):
        def __init__(self, channels, squeeze):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(channels, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, channels, 1)
            self.activation = nn.SiLU()
            self.scale_activation = nn.Sigmoid()

        def forward(self, x):
            return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))

    class MBConv(nn.Module):
        def __init__(self, expand, kernel, stride, cin, cout):
            super().__init__()
            hidden = cin * expand
            self.use_res_connect = stride == 1 and cin == cout
            layers = [_conv_bn_act(nn, cin, hidden, 1, act=nn.SiLU, eps=1e-3)] if expand != 1 else []
            layers += [_conv_bn_act(nn, hidden, hidden, kernel, stride, groups=hidden, act=nn.SiLU, eps=1e-3),
                       SqueezeExcitation(hidden, max(1, cin // 4)),
                       _conv_bn_act(nn, hidden, cout, 1, eps=1e-3)]
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.block(x) if self.use_res_connect else self.block(x)

    class EfficientNet(nn.Module):
        def __init__(self):
            super().__init__()
            features = [_conv_bn_act(nn, 3, 32, 3, 2, act=nn.SiLU, eps=1e-3)]
            for expand, kernel, stride, cin, cout, n in ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                                                         (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3),
                                                         (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)):
                features.append(nn.Sequential(*[MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout,
                                                       cout) for i in range(n)]))
            features.append(_conv_bn_act(nn, 320, 1280, 1, act=nn.SiLU, eps=1e-3))
            self.features = nn.Sequential(*features)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    torch.manual_seed(0)
    model = EfficientNet()
    _randomise_batchnorm(model)
    return model.eval(), torch.randn(1, 3, 224, 224)


def bert_base(sequence: int = 128):
    """transformers' BertModel at its default configuration (BERT-base: 12 layers, 768 wide, 12 heads)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel._from_config(BertConfig(), attn_implementation="eager").eval()
    ids = torch.randint(0, model.config.vocab_size, (1, sequence), generator=torch.Generator().manual_seed(0))
    return model, ids


def vit_b16():
    """transformers' ViTModel at its default configuration (ViT-B/16: 224 x 224, 12 layers, 768 wide)."""
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    model = ViTModel._from_config(ViTConfig(), attn_implementation="eager").eval()
    return model, torch.randn(1, 3, 224, 224)


MODELS = {
    "resnet18": lambda: resnet(18),
    "resnet50": lambda: resnet(50),
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "bert_base": bert_base,
    "vit_b16": vit_b16,
}


def export(name: str, path: Path, keep_batchnorm: bool = False) -> int:
    """Export model `name` to `path` (opset 17, dynamo=False); returns its parameter count.

    `keep_batchnorm` turns off the exporter's constant folding, which otherwise folds every
    BatchNorm into the convolution before it (what a default export gives).
    """
    import torch

    model, x = MODELS[name]()
    params = sum(p.numel() for p in model.parameters())
    # The TorchScript exporter passes every forward() parameter it was not given, as None, by position;
    # transformers' forward wrappers then pass `use_cache` again by keyword. `forward(*inputs)` has none.
    bound = model.forward
    model.forward = lambda *inputs: bound(*inputs)
    with torch.no_grad():
        torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"], opset_version=17,
                          dynamo=False, do_constant_folding=not keep_batchnorm)
    return params
