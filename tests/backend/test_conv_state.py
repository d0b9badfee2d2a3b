"""Parity tests for onnx.CausalConvWithState (a Cell in the script); the ONNX reference evaluator is the reference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity
from onnx.reference import ReferenceEvaluator

from tests.backend.builders import rand, single_op

COVERS = {"onnx.CausalConvWithState"}


@pytest.mark.parametrize("with_state, activation", [(False, "none"), (True, "silu")])
def test_causal_conv_with_state(with_state, activation):
    inputs = {"x": (np.float32, (2, 4, 5)), "w": (np.float32, (4, 1, 3))}
    names = ["x", "w", "b"]
    if with_state:
        inputs["s"] = (np.float32, (2, 4, 2))
        names.append("s")
    model = single_op("CausalConvWithState", names, inputs, {"b": rand(4, seed=3)}, opset=27, outputs=2, activation=activation)
    feeds = {n: rand(*shape, seed=i) for i, (n, (_, shape)) in enumerate(inputs.items())}
    code = assert_parity(model, feeds=feeds, reference=lambda f: ReferenceEvaluator(model).run(None, f))
    assert "class CausalConvWithState(nn.Cell)" in code
