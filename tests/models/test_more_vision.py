"""Vision architectures through pytorch2mindspore (tests/vision_models.py): parity in PYNATIVE and GRAPH, readable code.

Each converts from the live module with no placeholder; parity with the torch module passes in both
modes at the default tolerances; the script keeps the torch class names and member names that a
person would look for (`self.inc = DoubleConv(3, 8)`, `self.layer2 = nn.SequentialCell(...)`); every
state_dict key is in the weight map; every nn.Dropout comes back with its p. All slow: each takes
a few seconds to half a minute on a shared CPU.
"""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")

import vision_models  # noqa: E402 - after the skip
from helpers import converted_once  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402

pytestmark = pytest.mark.slow

#: Model -> torch class names the script must define (nn.Sequential/ModuleList are not classes).
CLASSES = {
    "unet": {"DoubleConv"},
    "convnext": {"ConvNeXtBlock"},
    "mlp_mixer": {"MixerBlock"},
    "resnext": {"ResNeXtBlock"},
    "deeplab_aspp": {"ASPP"},
    "yolo_neck": {"ConvBNSiLU", "C2f"},
    "fpn": set(),
    "espcn": set(),
    "style_transfer": {"ResidualBlock"},
    "activations": set(),
    "cbam": {"ChannelAttention", "SpatialAttention"},
    "non_local": {"NonLocal"},
    "shufflenet_v2": {"ShuffleUnit"},
    "video_3d": set(),
    "pads_and_pools": set(),
    "spatial_transformer": set(),
    "pixel_unshuffle_glu_roll": set(),
}
#: Model -> lines (or parts of lines) the script must hold: members under their torch names, layers not op soup.
CODE = {
    "unet": ["self.inc = DoubleConv(3, 8)", "self.conv1 = DoubleConv(32, 8)", "self.block = nn.SequentialCell(",
             "self.down1 = nn.SequentialCell(nn.MaxPool2d(2, stride=2), DoubleConv(8, 16))",
             "self.up1 = nn.Conv2dTranspose(16, 16, 2, stride=2", 'mode="bilinear", align_corners=True'],
    "convnext": ["group=16", "self.act = nn.GELU(approximate=False)", "self.norm = nn.LayerNorm((16,), epsilon=1e-06)",
                 'self.gamma = Parameter(', "nn.GroupNorm(1, 16, eps=1e-05)", "self.stages = nn.SequentialCell(*[ConvNeXtBlock() for _ in range(2)])"],
    "mlp_mixer": ["self.token_mlp = nn.SequentialCell(", "self.channel_mlp = nn.SequentialCell("],
    "resnext": ["self.layer1 = nn.SequentialCell(", "self.layer2 = nn.SequentialCell(", "group=8", "self.fc = nn.Dense(64, 10)",
                "self.pool = nn.AdaptiveAvgPool2d(1)"],
    "deeplab_aspp": ["dilation=2", "dilation=4", "self.aspp = ASPP()", "self.project = nn.SequentialCell(",
                     "nn.SequentialCell(\n            nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 8, 1"],
    "yolo_neck": ["self.act = nn.SiLU()", "self.c2f = C2f()", "self.head = nn.Conv2d(16, 12, 1"],
    "fpn": ["self.c2 = nn.Conv2d(3, 8, 3, stride=2"],
    "espcn": ["self.pixel_shuffle = nn.PixelShuffle(2)", "self.act = nn.Tanh()"],
    "style_transfer": ['"reflect"', "self.res = nn.SequentialCell(*[ResidualBlock() for _ in range(2)])",
                       "self.up = nn.Conv2dTranspose(", "self.in1 = nn.GroupNorm(16, 16, eps=1e-05)",
                       "self.in2 = nn.GroupNorm(16, 16, eps=1e-05, affine=False)"],
    "activations": ["self.relu6 = nn.ReLU6()", "self.hardtanh = nn.Hardtanh(-0.5, 0.5)", "self.mish = nn.Mish()", "self.leaky = nn.LeakyReLU(alpha=0.2)", "nn.AvgPool2d(2, stride=2)",
                    "nn.MaxPool2d(7, stride=7)"],
    "cbam": ["self.ca = ChannelAttention()", "self.sa = SpatialAttention()", "self.sigmoid = nn.Sigmoid()"],
    "non_local": ["self.theta = nn.Conv2d(8, 4, 1", "self.W = nn.SequentialCell(", "ops.softmax("],
    "shufflenet_v2": ["group=8", "ceil_mode=True", "self.stage2 = nn.SequentialCell(*[ShuffleUnit() for _ in range(2)])"],
    "video_3d": ["self.conv1 = nn.Conv3d(3, 8, 3", "self.bn1 = nn.BatchNorm3d(8)", "self.pool = nn.MaxPool3d((1, 2, 2)"],
    "pads_and_pools": ['"replicate"', "count_include_pad=False", "dilation=2", "ceil_mode=True"],
    "spatial_transformer": ["ops.grid_sample(", "self.loc = Loc()"],
    "pixel_unshuffle_glu_roll": ["ops.sigmoid(", "ops.log_softmax("],
}
#: Model -> the p of its nn.Dropout layers.
DROPOUT = {"mlp_mixer": 0.1, "deeplab_aspp": 0.5}

def _converted(name, tmp_path_factory):
    model, result, _ = converted_once(vision_models.MODELS, name, tmp_path_factory)
    return model, result


@pytest.mark.parametrize("name", list(vision_models.MODELS))
def test_converts_with_parity_in_both_modes_and_readable_names(name, tmp_path_factory):
    _, result = _converted(name, tmp_path_factory)
    assert result.report["unsupported"] == []
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}, result.parity
    assert all((p["rtol"], p["atol"]) == (1e-3, 1e-4) for p in result.parity), result.parity
    code = result.script.read_text()
    classes = set(re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M))
    assert CLASSES[name] <= classes, classes
    missing = [line for line in CODE[name] if line not in code]
    assert missing == [], code
    assert not re.search(r"self\.cell_\d+ =", code), code  # a member without a source name


@pytest.mark.parametrize("name", list(vision_models.MODELS))
def test_every_state_dict_key_is_in_the_weight_map_and_dropouts_keep_p(name, tmp_path_factory):
    model, result = _converted(name, tmp_path_factory)
    rows = [w for entries in json.loads(result.weight_map.read_text()).values() for w in entries]
    sources = {w["source_weight"]["name"] for w in rows}
    missing = [k for k in model.state_dict() if k not in sources and not k.endswith("num_batches_tracked")]
    assert missing == [], missing
    code = result.script.read_text()
    layers = {float(p) for p in re.findall(r"nn\.Dropout\(p=([0-9.]+)\)", code)} | ({0.5} if "nn.Dropout()" in code else set())
    assert layers == ({DROPOUT[name]} if name in DROPOUT else set()), code


@pytest.mark.parametrize("name", ["unet", "deeplab_aspp"])
def test_a_dynamic_batch_converts_with_parity_at_two_batch_sizes(name, tmp_path):
    """F.interpolate(x, size=...) of a dynamic batch: the Resize sizes are known only at run time, its spatial output is static."""
    model, x, _ = vision_models.MODELS[name]()
    result = pytorch2mindspore(model, x, tmp_path, check_mode="both", dynamic=True)
    assert result.report["unsupported"] == []
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}, result.parity
