"""Keras/TensorFlow models frozen with the guide's two recipes, converted from .pb and checked against TensorFlow."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import tf_models  # noqa: E402

from mindconverter import convert  # noqa: E402
from mindconverter.ir.parser import parse  # noqa: E402

RTOL, ATOL = 1e-3, 1e-4


def _convert(tmp_path, pb, ins, outs, shape, **options):
    result = convert(pb, shape=[shape], input_nodes=ins, output_nodes=outs, output=tmp_path / "out",
                     check_mode="both", rtol=RTOL, atol=ATOL, dump_ir=tmp_path / "dumps", **options)
    assert result.parity_passed, result.parity
    assert {p["mode"] for p in result.parity if p["stage"] == "backend"} == {"pynative", "graph"}
    assert result.report["source"]["format"] == "pb"
    return result


def _final_ir(tmp_path):
    dumps = sorted(p for p in (tmp_path / "dumps").glob("*.ir"))
    return parse(dumps[-1].read_text())


def _transpose_pairs(module) -> list[str]:
    """Transposes whose input is another Transpose, or that feed one (a pair left inside the body)."""
    pairs = []
    for op in module.ops():
        if op.name == "onnx.Transpose" and op.operands[0].op is not None and op.operands[0].op.name == "onnx.Transpose":
            pairs.append(op.loc_name)
    return pairs


def _layout_transposes(module) -> list:
    """4-D NHWC<->NCHW transposes anywhere (tf2onnx's layout wrappers)."""
    return [op for op in module.ops() if op.name == "onnx.Transpose" and list(op.attrs["perm"]) in ([0, 3, 1, 2], [0, 2, 3, 1])]


def test_keras_cnn_frozen_with_the_tf2_recipe(tmp_path):
    pb = tmp_path / "keras_cnn.pb"
    ins, outs = tf_models.freeze_tf2(tf_models.keras_cnn(), pb, (None, 16, 16, 3))
    result = _convert(tmp_path, pb, ins, outs, "2,16,16,3", check="each")
    assert all(s["status"] in ("passed", "unchanged") for s in result.stages), result.stages
    code = result.script.read_text()
    assert code.count("nn.BatchNorm2d(") == 2, code
    module = _final_ir(tmp_path)
    assert not _transpose_pairs(module)
    assert len(_layout_transposes(module)) == 1  # NHWC in: one transpose at the input boundary only
    weight_map = json.loads(result.weight_map.read_text())["keras_cnn"]
    sources = {w["converted_weight"]["name"]: w["source_weight"]["name"] for w in weight_map}
    assert sources["bn1.moving_mean"] == "tiny_cnn_1/bn1_1/Cast/ReadVariableOp:0", sources
    assert sources["bn1.moving_variance"] == "tiny_cnn_1/bn1_1/Cast_1/ReadVariableOp:0", sources
    assert sources["conv1.weight"] == "tiny_cnn_1/conv1_1/convolution/ReadVariableOp:0", sources
    assert all(re.fullmatch(r"tiny_cnn_1/\w+/.*:0", s) for s in sources.values()), sources


def test_tf1_graph_frozen_with_the_tf1_recipe(tmp_path):
    pb = tmp_path / "tf1_cnn.pb"
    ins, outs = tf_models.freeze_tf1(tf_models.tf1_cnn, pb)
    result = _convert(tmp_path, pb, [f"{ins[0]}:0"], outs, "2,12,12,3")
    code = result.script.read_text()
    assert "nn.BatchNorm2d(6, eps=0.001" in code, code
    assert "nn.Dropout" not in code  # the recipe's remove_training_nodes removed the dropout's Identity
    assert not _transpose_pairs(_final_ir(tmp_path))
    weight_map = json.loads(result.weight_map.read_text())["tf1_cnn"]
    names = {w["source_weight"]["name"] for w in weight_map}
    assert {"batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0", "conv1/kernel:0"} <= names, names


def test_dropout_identity_kept_in_a_tf1_graph_becomes_a_dropout_layer(tmp_path):
    pb = tmp_path / "tf1_dropout.pb"
    ins, outs = tf_models.freeze_tf1(tf_models.tf1_cnn, pb, remove_training_nodes=False)
    result = _convert(tmp_path, pb, ins, outs, "2,12,12,3", pass_options={"dropout-rate": 0.25})
    code = result.script.read_text()
    assert "self.dropout = nn.Dropout(p=0.25)" in code, code
    assert "nn.BatchNorm2d(6, eps=0.001" in code, code


def test_batchnorm_after_a_dense_becomes_batchnorm1d(tmp_path):
    pb = tmp_path / "keras_mlp.pb"
    ins, outs = tf_models.freeze_tf2(tf_models.keras_mlp(), pb, (None, 10))
    result = _convert(tmp_path, pb, ins, outs, "4,10")
    code = result.script.read_text()
    assert "self.hidden_bn = nn.BatchNorm1d(12, eps=0.001" in code, code
    weight_map = json.loads(result.weight_map.read_text())["keras_mlp"]
    sources = {w["converted_weight"]["name"]: w["source_weight"]["name"] for w in weight_map}
    assert sources["hidden_bn.moving_variance"] == "tiny_mlp_1/hidden_bn_1/Cast_1/ReadVariableOp:0", sources


def test_keras_dense_layernorm_attention(tmp_path):
    pb = tmp_path / "keras_transformer.pb"
    ins, outs = tf_models.freeze_tf2(tf_models.keras_transformer(), pb, (None, 6, 16))
    result = _convert(tmp_path, pb, ins, outs, "2,6,16")
    code = result.script.read_text()
    assert code.count("nn.LayerNorm((16,), epsilon=1e-06)") == 2, code  # Keras 3's decomposed LayerNormalization
    assert "nn.GELU(approximate=False)" in code, code  # Keras' 0.5 * x * erfc(-x / sqrt 2)
    for dense in ("self.embed = nn.Dense(16, 16)\n", "self.ffn_in = nn.Dense(16, 32)\n", "self.logits = nn.Dense(16, 3)\n"):
        assert dense in code, code  # Dense on a 3-D input (Tensordot) keeps its bias
    module = _final_ir(tmp_path)
    assert not _transpose_pairs(module)
    weight_map = json.loads(result.weight_map.read_text())["keras_transformer"]
    sources = {w["source_weight"]["name"] for w in weight_map}
    for layer in ("embed", "attention_1/query", "attention_1/key", "attention_1/value", "norm1", "ffn_in", "logits"):
        assert any(f"tiny_transformer_1/{layer}" in s for s in sources), (layer, sources)


@pytest.mark.slow
def test_keras_mobilenet_v2_224(tmp_path):
    import tensorflow as tf

    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    tf_models.randomize(model)
    pb = tmp_path / "mobilenet_v2.pb"
    ins, outs = tf_models.freeze_tf2(model, pb, (1, 224, 224, 3))
    result = _convert(tmp_path, pb, ins, outs, "1,224,224,3")
    module = _final_ir(tmp_path)
    assert not _transpose_pairs(module) and len(_layout_transposes(module)) == 1
    keras_bns = sum(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in model.layers)
    assert sum(op.name == "onnx.BatchNormalization" for op in module.ops()) == keras_bns
    assert result.report["converted_rate"] == 100.0


def test_a_none_batch_stays_symbolic_and_is_checked_against_tensorflow_at_several_sizes(tmp_path):
    pb = tmp_path / "keras_cnn.pb"
    ins, outs = tf_models.freeze_tf2(tf_models.keras_cnn(), pb, (None, 16, 16, 3))
    result = convert(pb, input_nodes=ins, output_nodes=outs, output=tmp_path / "out", rtol=RTOL, atol=ATOL)
    assert result.parity_passed, result.parity
    assert result.report["inputs"][0]["shape"] == ["?batch", 16, 16, 3]
    sizes = {p["sizes"]["batch"] for p in result.parity}
    assert len(sizes) >= 2, result.parity


@pytest.mark.slow
def test_sink_transposes_alone_moves_mobilenet_v2_to_nchw(tmp_path):
    """With tf2onnx's own transpose optimizers off, the ~200 NHWC<->NCHW wrappers cancel to one at the input."""
    import numpy as np
    import tensorflow as tf

    from mindconverter.frontend.pb import load_pb
    from mindconverter.passes.manager import PassManager
    from mindconverter.runtime_check.evaluate import run_ir
    from mindconverter.runtime_check.tf_reference import graph_def_runner

    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=10)
    tf_models.randomize(model)
    pb = tmp_path / "mobilenet_v2_96.pb"
    ins, outs = tf_models.freeze_tf2(model, pb, (1, 96, 96, 3))
    source = load_pb(pb, None, ins, outs, skip_tf2onnx_optimizers=("optimize_transpose", "remove_back_to_back"))
    module = source.onnx.module
    assert len(_layout_transposes(module)) > 100
    PassManager(("cleanup", "infer-shapes", "fold-constants", "cleanup", "dce", "infer-shapes", "sink-transposes", "dce")).run(module)
    (left,) = [op for op in module.ops() if op.name == "onnx.Transpose"]
    assert left.operands[0] is module.main.args[0]
    x = np.random.default_rng(0).standard_normal((1, 96, 96, 3)).astype(np.float32)
    (want,) = graph_def_runner(source.graph_def, source.input_tensors, source.output_tensors)([x])
    (got,) = run_ir(module, [x]).outputs
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
