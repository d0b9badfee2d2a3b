"""Repeated blocks of real torch exports become one class per kind (issue 17): numbered instances
(`encoder_layer_3`, `denselayer2`) in an nn.SequentialCell, member names relative to their Cell, and
DenseNet layers that concatenate a growing number of inputs as one class taking `*features`."""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest
from helpers import MODES, convert_model, onnxruntime_outputs, unwrap

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402 - after the torch skip
from torch.nn import functional as F  # noqa: E402


class EncoderBlock(nn.Module):
    """torchvision's ViT EncoderBlock: pre-norm nn.MultiheadAttention and an MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim))

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, layers, dim, heads, hidden):
        super().__init__()
        blocks = OrderedDict((f"encoder_layer_{i}", EncoderBlock(dim, heads, hidden)) for i in range(layers))
        self.layers = nn.Sequential(blocks)
        self.ln = nn.LayerNorm(dim)

    def forward(self, x):
        return self.ln(self.layers(x))


class ViT(nn.Module):
    """torchvision's VisionTransformer, tiny: blocks are attributes `encoder_layer_{i}`."""

    def __init__(self, layers=4, dim=16, heads=2, hidden=32, patch=4, image=16, classes=10):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim))
        self.encoder = Encoder(layers, dim, heads, hidden)
        self.heads = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.heads(self.encoder(x)[:, 0])


#: What a person writes in MindSpore for the ViT above.
HAND_WRITTEN_VIT = '''
import mindspore as ms
from mindspore import Parameter, nn, ops


class EncoderLayer(nn.Cell):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.ln_1 = nn.LayerNorm((dim,), epsilon=1e-5)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm((dim,), epsilon=1e-5)
        self.mlp = nn.SequentialCell(nn.Dense(dim, hidden), nn.GELU(approximate=False), nn.Dense(hidden, dim))

    def construct(self, x):
        y = self.ln_1(x)
        x = x + self.self_attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Cell):
    def __init__(self, layers=4, dim=16, heads=2, hidden=32, patch=4, image=16, classes=10):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch, has_bias=True)
        self.class_token = Parameter(ops.zeros((1, 1, dim), ms.float32))
        self.pos_embedding = Parameter(ops.zeros((1, (image // patch) ** 2 + 1, dim), ms.float32))
        self.layers = nn.SequentialCell(*[EncoderLayer(dim, heads, hidden) for _ in range(layers)])
        self.ln = nn.LayerNorm((dim,), epsilon=1e-5)
        self.heads = nn.Dense(dim, classes)

    def construct(self, x):
        x = self.conv_proj(x).flatten(start_dim=2).swapaxes(1, 2)
        token = ops.broadcast_to(self.class_token, (x.shape[0], -1, -1))
        x = ops.concat((token, x), axis=1) + self.pos_embedding
        return self.heads(self.ln(self.layers(x))[:, 0])
'''


class DenseLayer(nn.Module):
    """torchvision's _DenseLayer: concatenates every feature before it at its entrance."""

    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, inputs):
        x = self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, layers, cin, growth, bn_size):
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(cin + i * growth, growth, bn_size))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm, self.relu = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv, self.pool = nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2, 2)


class DenseNet(nn.Module):
    """torchvision's DenseNet, tiny: two dense blocks of four layers and a transition."""

    def __init__(self, growth=4, blocks=(4, 4), init=8, bn_size=2, classes=10):
        super().__init__()
        layers = [("conv0", nn.Conv2d(3, init, 3, padding=1, bias=False)), ("norm0", nn.BatchNorm2d(init)),
                  ("relu0", nn.ReLU(inplace=True))]
        channels = init
        for i, n in enumerate(blocks):
            layers.append((f"denseblock{i + 1}", DenseBlock(n, channels, growth, bn_size)))
            channels += n * growth
            if i != len(blocks) - 1:
                layers.append((f"transition{i + 1}", Transition(channels, channels // 2)))
                channels //= 2
        layers.append(("norm5", nn.BatchNorm2d(channels)))
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1)
        return self.classifier(torch.flatten(x, 1))


#: What a person writes in MindSpore for the DenseNet above.
HAND_WRITTEN_DENSENET = '''
from mindspore import nn, ops


class DenseLayer(nn.Cell):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, pad_mode="pad", padding=1)

    def construct(self, *features):
        x = self.conv1(ops.relu(self.norm1(ops.concat(features, axis=1))))
        return self.conv2(ops.relu(self.norm2(x)))


class DenseBlock(nn.Cell):
    def __init__(self, layers, cin, growth, bn_size):
        super().__init__()
        self.layers = nn.CellList([DenseLayer(cin + i * growth, growth, bn_size) for i in range(layers)])

    def construct(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(*features))
        return ops.concat(features, axis=1)


class DenseNet(nn.Cell):
    def __init__(self, growth=4, blocks=(4, 4), init=8, bn_size=2, classes=10):
        super().__init__()
        layers = [nn.Conv2d(3, init, 3, pad_mode="pad", padding=1), nn.BatchNorm2d(init), nn.ReLU()]
        channels = init
        for i, n in enumerate(blocks):
            layers.append(DenseBlock(n, channels, growth, bn_size))
            channels += n * growth
            if i != len(blocks) - 1:
                layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels // 2, 1), nn.AvgPool2d(2, 2)]
                channels //= 2
        layers.append(nn.BatchNorm2d(channels))
        self.features = nn.SequentialCell(*layers)
        self.classifier = nn.Dense(channels, classes)

    def construct(self, x):
        return self.classifier(ops.mean(ops.relu(self.features(x)), (2, 3)))
'''


def code_lines(code: str) -> int:
    """Non-blank lines of a script."""
    return sum(1 for line in code.splitlines() if line.strip())


def classes_of(code: str) -> list[str]:
    return re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)


def members_of(code: str) -> list[str]:
    return re.findall(r"^        self\.(\w+) = ", code, re.M)


def convert(model: nn.Module, tmp_path, name: str):
    torch.manual_seed(0)
    for m in model.modules():  # statistics and biases as a trained model would have them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
        if isinstance(m, nn.MultiheadAttention):
            m.in_proj_bias.data.uniform_(-0.2, 0.2)
    model.eval()
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (torch.randn(2, 3, 16, 16),), str(path), opset_version=17, dynamo=False,
                      do_constant_folding=False, input_names=["input"], output_names=["output"])
    proto = onnx.load(str(path))
    feeds = {"input": np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    gen, script, ckpt = convert_model(proto, tmp_path)
    return proto, feeds, gen, script, ckpt


def assert_parity(proto, feeds, gen, script, ckpt) -> None:
    from mindconverter.runtime_check.mindspore_run import run_network

    expected = onnxruntime_outputs(proto, feeds)[0]
    for mode in MODES:
        got = run_network(script, ckpt, [feeds["input"]], mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=f"{mode}\n{gen.code}")


def test_vit_blocks_named_encoder_layer_i_are_one_class_in_a_sequential_cell(tmp_path):
    torch.manual_seed(0)
    proto, feeds, gen, script, ckpt = convert(ViT(), tmp_path, "vit")
    code = gen.code
    classes = classes_of(code)
    assert classes.count("EncoderLayer") == 1 and len(classes) == len(set(classes)), code
    assert not [c for c in classes if re.search(r"_\d+$", c)], code  # no SelfAttention_1, EncoderLayer_3
    assert "nn.SequentialCell(*[EncoderLayer() for _ in range(4)])" in code, code
    members = members_of(code)
    assert {"ln_1", "self_attention", "ln_2", "mlp"} <= set(members), code
    # nn.MultiheadAttention fused into one Cell: no in-projection slices, reshapes or transposes left
    assert code.count("nn.MultiheadAttention(16, 2, batch_first=True)") == 1 and "ops.split" not in code, code
    assert not [m for m in members if "encoder_layer" in m or "self_attention_" in m], members  # no paths
    names = {e.name for e in gen.checkpoint}
    assert "encoder.layers.3.self_attention.out_proj.weight" in names
    # the MLP (an nn.Sequential whose Dropout(0.0) the export dropped) is an nn.SequentialCell with an
    # nn.Identity in the dropout's place, so its weights keep their source positions
    assert ("self.mlp = nn.SequentialCell(nn.Dense(16, 32), nn.GELU(approximate=False), nn.Identity(), "
            "nn.Dense(32, 16))") in unwrap(code), code
    assert {"encoder.layers.3.mlp.0.weight", "encoder.layers.3.mlp.3.bias", "encoder.ln.gamma"} <= names, sorted(names)
    assert_parity(proto, feeds, gen, script, ckpt)


def test_vit_script_is_within_1_5x_of_a_hand_written_one(tmp_path):
    torch.manual_seed(0)
    _, _, gen, _, _ = convert(ViT(), tmp_path, "vit")
    assert code_lines(gen.code) <= 1.5 * code_lines(HAND_WRITTEN_VIT), f"{code_lines(gen.code)} lines:\n{gen.code}"


def test_densenet_layers_with_growing_inputs_are_one_class(tmp_path):
    torch.manual_seed(0)
    proto, feeds, gen, script, ckpt = convert(DenseNet(), tmp_path, "densenet")
    code = gen.code
    # the layer and the block (named as torchvision's classes are), and the model; the one transition and the
    # features chain are nn.SequentialCell members with their layers' names, as torchvision's nn.Sequential has them
    assert classes_of(code) == ["DenseLayer", "DenseBlock", "MindSporeModel"], code
    assert "def construct(self, *features):" in code and "ops.concat(features, axis=1)" in code, code
    # four per block, their input channels stepping by the growth rate, in a CellList called in a loop as the source does
    assert "self.layers = nn.CellList([DenseLayer(num_features + 4 * i) for i in range(4)])" in code, code
    assert "features.append(layer(*features))" in code, code
    assert '("denseblock1", DenseBlock(8)),' in code and '("denseblock2", DenseBlock(12)),' in code, code
    assert 'self.features = nn.SequentialCell(OrderedDict([\n            ("conv0", nn.Conv2d(' in code, code
    assert '("transition1", nn.SequentialCell(OrderedDict([\n                ("norm", nn.BatchNorm2d(24)),' in code, code
    names = {e.name for e in gen.checkpoint}
    assert {"features.transition1.norm.gamma", "features.denseblock2.layers.3.conv2.weight"} <= names, sorted(names)
    assert not [m for m in members_of(code) if "denseblock" in m and "_" in m], code
    assert_parity(proto, feeds, gen, script, ckpt)


@pytest.mark.slow
def test_dense_blocks_of_different_lengths_are_one_class_with_the_layer_count_an_argument(tmp_path):
    """DenseNet-121's blocks have 6, 12, 24 and 16 layers: one DenseBlock class, `num_layers` an argument."""
    torch.manual_seed(0)
    proto, feeds, gen, script, ckpt = convert(DenseNet(blocks=(2, 3, 2), growth=2), tmp_path, "densenet")
    code = gen.code
    assert classes_of(code) == ["DenseLayer", "Transition", "DenseBlock", "MindSporeModel"], code  # two transitions
    assert "nn.CellList([DenseLayer(num_features + 2 * i) for i in range(num_layers)])" in code, code
    assert '("denseblock2", DenseBlock(6, 3)),' in code, code
    assert_parity(proto, feeds, gen, script, ckpt)


def test_densenet_script_is_within_1_5x_of_a_hand_written_one(tmp_path):
    torch.manual_seed(0)
    _, _, gen, _, _ = convert(DenseNet(), tmp_path, "densenet")
    generated, hand = code_lines(gen.code), code_lines(HAND_WRITTEN_DENSENET)
    assert generated <= 1.5 * hand, f"{generated} lines vs {hand} hand-written:\n{gen.code}"
