"""Parity tests for the dropout emitter (onnx.Dropout -> nn.Dropout, an identity in inference)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, convert_model, make_model
from onnx import helper

from tests.backend.builders import single_op

COVERS = {"onnx.Dropout", "onnx.Dropout@7..11"}

X = {"x": (np.float32, (2, 3, 4))}


@pytest.mark.parametrize("ratio, expected", [(None, "nn.Dropout()"), (0.1, "nn.Dropout(p=0.1)")])
def test_dropout(ratio, expected):
    inits = {} if ratio is None else {"ratio": np.array(ratio, np.float32)}
    model = single_op("Dropout", ["x", "ratio"] if inits else ["x"], X, inits)
    code = assert_parity(model, expect_layers=(expected,))
    assert "self.dropout = nn.Dropout(" in code


def test_dropout_training_mode_false():
    inits = {"ratio": np.array(0.2, np.float32), "training": np.array(False)}
    assert_parity(single_op("Dropout", ["x", "ratio", "training"], X, inits), expect_layers=("nn.Dropout(p=0.2)",))


def test_dropout_unused_mask():
    nodes = [
        helper.make_node("Dropout", ["x"], ["d", "mask"], name="/drop/Dropout"),
        helper.make_node("Relu", ["d"], ["y"], name="/relu/Relu"),
    ]
    assert_parity(make_model(nodes, X, ["y"]), passes=False, expect_layers=("self.drop = nn.Dropout()",))


def test_dropout_opset_11_ratio_attribute(keep_opset):
    assert_parity(single_op("Dropout", ["x"], X, opset=11, ratio=0.3), expect_layers=("nn.Dropout(p=0.3)",))


def test_dropout_used_mask_is_all_true():
    model = single_op("Dropout", ["x"], X, outputs=2)
    assert_parity(model, expect_layers=("ops.ones_like(x, dtype=ms.bool_)",))


def test_dropout_runtime_ratio_is_the_identity():
    model = single_op("Dropout", ["x", "r"], {**X, "r": (np.float32, ())}, outputs=2)
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32), "r": np.array(0.3, np.float32)}
    code = assert_parity(model, feeds=feeds)
    assert "nn.Dropout" not in code


def test_dropout_training_mode_gives_up():
    inits = {"ratio": np.array(0.2, np.float32), "training": np.array(True)}
    gen, _, _ = convert_model(single_op("Dropout", ["x", "ratio", "training"], X, inits))
    assert "training_mode" in gen.unsupported[0].reason
