"""Parity tests for the loss emitters (onnx.NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import rand, single_op

COVERS = {"onnx.NegativeLogLikelihoodLoss", "onnx.SoftmaxCrossEntropyLoss"}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_k_dims_with_weight_and_ignore_index(reduction):
    inputs = {"x": (np.float32, (2, 3, 4)), "t": (np.int64, (2, 4))}
    model = single_op("NegativeLogLikelihoodLoss", ["x", "t", "w"], inputs, {"w": rand(3)}, reduction=reduction, ignore_index=1)
    feeds = {"x": rand(2, 3, 4, seed=2), "t": np.array([[0, 1, 2, 2], [1, 1, 0, 2]], np.int64)}
    assert_parity(model, feeds=feeds, expect_layers=("class NLLLoss(nn.Cell)",))


def test_softmax_cross_entropy_with_log_prob():
    inputs = {"x": (np.float32, (3, 5)), "t": (np.int64, (3,))}
    model = single_op("SoftmaxCrossEntropyLoss", ["x", "t"], inputs, outputs=2)
    assert_parity(model, feeds={"x": rand(3, 5, seed=4), "t": np.array([0, 4, 2], np.int64)})
