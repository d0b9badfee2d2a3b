"""Models without module scopes (other exporters, stripped node names) still get one class per repeated block.

`structure-modules` finds repeated structure by structural hashing when no node name has a `/` scope
(`mindconverter/passes/structure_repeats.py`); these tests check the generated script end to end:
classes used several times, parity with onnxruntime in both modes, and fewer lines than the flat form.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from helpers import (
    MODES,
    check_generated_script,
    convert_model,
    light_model_path,
    onnxruntime_outputs,
    random_inputs,
    unwrap,
)

torch = pytest.importorskip("torch")

from test_light_models import with_random_weights  # noqa: E402 - after the torch skip
from test_readable_resnet import code_lines, cpu_device  # noqa: E402
from torch_models import export, resnet_style  # noqa: E402


def flat_code(model: onnx.ModelProto, tmp_path) -> str:
    """The script the default pipeline writes without structure-modules (one statement per op)."""
    from mindconverter.backend.cell_writer import generate
    from mindconverter.frontend.onnx import load_onnx
    from mindconverter.passes.manager import DEFAULT_PIPELINE, PassManager

    path = tmp_path / "flat.onnx"
    onnx.save(model, path)
    module = load_onnx(path).module
    PassManager([p for p in DEFAULT_PIPELINE if p != "structure-modules"]).run(module)
    return generate(module).code


def class_uses(code: str) -> dict[str, int]:
    """How many instances of each generated block class MindSporeModel (or another class) builds."""
    classes = [c for c in re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M) if c != "MindSporeModel"]
    body = "\n".join(line for line in code.splitlines() if not line.startswith("class "))
    uses = {}
    for cls in classes:
        calls = re.findall(rf"(?<![\w.]){cls}\([^)]*\)(?: for _ in range\((\d+)\))?", body)
        uses[cls] = sum(int(n) if n else 1 for n in calls)
    return uses


def assert_parity(model: onnx.ModelProto, script, ckpt, code: str) -> None:
    from mindconverter.runtime_check.mindspore_run import run_network

    feeds = random_inputs(model)
    expected = onnxruntime_outputs(model, feeds)[0]
    for mode in MODES:
        got = run_network(script, ckpt, list(feeds.values()), mode)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4, err_msg=f"{mode}\n{code}")


@pytest.fixture(scope="module")
def unscoped_resnet(tmp_path_factory) -> onnx.ModelProto:
    """tests/torch_models.resnet_style (4 BasicBlocks, one with a downsample) with its node names removed."""
    model, shape = resnet_style()
    path = export(model, shape, tmp_path_factory.mktemp("resnet") / "resnet.onnx", 17)
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        node.name = ""
    return proto


def test_unscoped_resnet_has_one_residual_block_class_used_four_times(tmp_path, unscoped_resnet):
    gen, script, ckpt = convert_model(unscoped_resnet, tmp_path)
    code = gen.code
    assert "/" not in "".join(n.name for n in unscoped_resnet.graph.node)
    assert class_uses(code) == {"ResidualBlock": 4}, code
    assert "if self.downsample is not None:" in code and "nn.SequentialCell(" in code, code
    # the one projection shortcut: an nn.SequentialCell of its layers, keyed by position as torch's nn.Sequential
    assert ("self.downsample = nn.SequentialCell(nn.Conv2d(in_channels, out_channels, 1, stride=stride, "
            'pad_mode="valid"), nn.BatchNorm2d(out_channels))') in unwrap(code), code
    # Members are named after the weights' source names without the block's own prefix.
    block = code[code.index("class ResidualBlock"):code.index("class MindSporeModel")]
    for name in ("conv1", "bn1", "conv2", "bn2"):
        assert f"self.{name} = " in block, block
    keys = {e.name for e in gen.checkpoint}
    assert {"stage1.0.conv1.weight", "stage2.0.downsample.0.weight", "stage2.1.bn2.moving_mean", "fc.weight"} <= keys
    cpu_device()
    check_generated_script(script)  # ruff-clean, imports without warnings
    assert_parity(unscoped_resnet, script, ckpt, code)  # run_network loads the checkpoint strictly


def test_unscoped_resnet_is_shorter_than_its_flat_form(tmp_path, unscoped_resnet):
    gen, _, _ = convert_model(unscoped_resnet, tmp_path)
    flat = flat_code(unscoped_resnet, tmp_path)
    assert "class MindSporeModel" in flat and flat.count("class ") == 1
    assert code_lines(gen.code) < 0.8 * code_lines(flat), f"{code_lines(gen.code)} vs {code_lines(flat)} lines"


def test_squeezenet_fire_modules_become_one_class(tmp_path):
    model = onnx.load(str(with_random_weights(light_model_path("squeezenet"), tmp_path / "squeezenet.onnx")))
    gen, script, ckpt = convert_model(model, tmp_path)
    code = gen.code
    assert class_uses(code) == {"ConcatBlock": 8}, code  # fire2 ... fire9
    block = code[code.index("class ConcatBlock"):code.index("class MindSporeModel")]
    for name in ("squeeze1x1", "expand1x1", "expand3x3"):
        assert f"self.{name} = nn.Conv2d(" in block, block
    assert code_lines(code) < 0.5 * code_lines(flat_code(model, tmp_path))
    cpu_device()
    check_generated_script(script)
    assert_parity(model, script, ckpt, code)
