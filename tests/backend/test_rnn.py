"""Parity tests for onnx.LSTM / GRU / RNN -> the Recurrent Cell written into the script."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {"onnx.LSTM", "onnx.GRU", "onnx.RNN"}

SEQ, BATCH, INPUT, HIDDEN = 3, 2, 4, 5
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_model(kind: str, dirs: int = 1, runtime_weights: bool = False, **attrs):
    g = GATES[kind]
    weights = {"w": rand(dirs, g * HIDDEN, INPUT, seed=2), "r": rand(dirs, g * HIDDEN, HIDDEN, seed=3),
               "b": rand(dirs, 2 * g * HIDDEN, seed=4), "h0": rand(dirs, BATCH, HIDDEN, seed=5)}
    inputs = {"x": (np.float32, (SEQ, BATCH, INPUT))}
    if runtime_weights:
        inputs |= {k: (np.float32, v.shape) for k, v in weights.items()}
        weights = {}
    names = ["x", "w", "r", "b", "", "h0"]
    return single_op(kind, names, inputs, weights, outputs=2, hidden_size=HIDDEN, **attrs)


@pytest.mark.parametrize("kind, attrs", [
    ("LSTM", {}),
    ("GRU", {"direction": "bidirectional"}),  # linear_before_reset=0, ONNX's default, which nn.GRU lacks
    ("RNN", {"direction": "reverse"}),
])
def test_recurrent(kind, attrs):
    code = assert_parity(rnn_model(kind, 2 if attrs.get("direction") == "bidirectional" else 1, **attrs))
    assert "class Recurrent(nn.Cell)" in code


def test_gru_linear_before_reset_with_runtime_weights():
    model = rnn_model("GRU", runtime_weights=True, linear_before_reset=1)
    g = GATES["GRU"]
    feeds = {"x": rand(SEQ, BATCH, INPUT), "w": rand(1, g * HIDDEN, INPUT, seed=2), "r": rand(1, g * HIDDEN, HIDDEN, seed=3),
             "b": rand(1, 2 * g * HIDDEN, seed=4), "h0": rand(1, BATCH, HIDDEN, seed=5)}
    assert_parity(model, feeds=feeds, expect_layers=("linear_before_reset=1",))
