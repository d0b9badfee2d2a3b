"""Parity tests for onnx.Attention, RotaryEmbedding and LinearAttention (Cells in the script); the ONNX reference evaluator is the reference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity
from onnx.reference import ReferenceEvaluator

from tests.backend.builders import single_op

COVERS = {"onnx.Attention", "onnx.RotaryEmbedding", "onnx.LinearAttention", "ai.onnx.preview.FlexAttention"}


def _reference(model):
    return lambda feeds: ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("attrs", [{}, {"is_causal": 1, "scale": 0.5}])
def test_attention_4d_grouped_heads(attrs):
    inputs = {"q": (np.float32, (1, 4, 3, 8)), "k": (np.float32, (1, 2, 5, 8)), "v": (np.float32, (1, 2, 5, 8))}
    model = single_op("Attention", ["q", "k", "v"], inputs, opset=23, **attrs)
    code = assert_parity(model, reference=_reference(model))
    assert "class Attention(nn.Cell)" in code


def test_attention_3d_with_bool_mask_cache_and_qk_output():
    inputs = {"q": (np.float32, (2, 3, 8)), "k": (np.float32, (2, 4, 8)), "v": (np.float32, (2, 4, 8)),
              "mask": (np.bool_, (3, 6)), "pk": (np.float32, (2, 2, 2, 4)), "pv": (np.float32, (2, 2, 2, 4))}
    model = single_op("Attention", ["q", "k", "v", "mask", "pk", "pv"], inputs, opset=23, outputs=4,
                      q_num_heads=2, kv_num_heads=2, qk_matmul_output_mode=3)
    feeds = {name: np.random.default_rng(i).standard_normal(shape).astype(dt) for i, (name, (dt, shape)) in enumerate(inputs.items())}
    feeds["mask"] = np.random.default_rng(9).integers(0, 2, (3, 6)).astype(bool)
    assert_parity(model, feeds=feeds, reference=_reference(model))


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding_3d_partial_with_position_ids(interleaved):
    inputs = {"x": (np.float32, (2, 3, 16)), "pos": (np.int64, (2, 3))}
    inits = {"cos": np.cos(np.arange(12, dtype=np.float32)).reshape(4, 3), "sin": np.sin(np.arange(12, dtype=np.float32)).reshape(4, 3)}
    model = single_op("RotaryEmbedding", ["x", "cos", "sin", "pos"], inputs, inits, opset=23,
                      num_heads=2, rotary_embedding_dim=6, interleaved=interleaved)
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 16)).astype(np.float32), "pos": np.array([[0, 1, 2], [3, 2, 1]], np.int64)}
    assert_parity(model, feeds=feeds, reference=_reference(model))


@pytest.mark.parametrize("rule", ["linear", "gated_delta"])
def test_linear_attention_grouped_with_past_state(rule):
    inputs = {"q": (np.float32, (1, 3, 8)), "k": (np.float32, (1, 3, 4)), "v": (np.float32, (1, 3, 6)),
              "s": (np.float32, (1, 1, 4, 6))}
    names = ["q", "k", "v", "s"]
    if rule == "gated_delta":
        inputs.update({"g": (np.float32, (1, 3, 1)), "beta": (np.float32, (1, 3, 1))})
        names += ["g", "beta"]
    model = single_op("LinearAttention", names, inputs, opset=27, outputs=2, q_num_heads=2, kv_num_heads=1, update_rule=rule)
    feeds = {n: np.random.default_rng(i).standard_normal(shape).astype(np.float32) * 0.5 for i, (n, (_, shape)) in enumerate(inputs.items())}
    assert_parity(model, feeds=feeds, reference=_reference(model))


def test_flex_attention_grouped_heads_scaled():
    from helpers import make_model
    from onnx import helper

    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], name="/attn/FlexAttention", domain="ai.onnx.preview", scale=0.1)
    inputs = {"q": (np.float32, (1, 4, 3, 8)), "k": (np.float32, (1, 2, 5, 8)), "v": (np.float32, (1, 2, 5, 8))}
    model = make_model([node], inputs, ["y"], opset=26, extra_opsets={"ai.onnx.preview": 1})
    assert_parity(model, reference=_reference(model))
