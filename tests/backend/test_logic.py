"""Parity tests for the comparison and logic emitters (onnx.Equal ... Not, Where)."""

from __future__ import annotations

import numpy as np
from helpers import assert_parity, make_model
from onnx import helper

from tests.backend.builders import single_op

COMPARE = ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"]
LOGIC = ["And", "Or", "Xor"]
COVERS = {f"onnx.{op}" for op in COMPARE + LOGIC} | {"onnx.Not", "onnx.Where"}


def test_comparisons_broadcast():
    nodes = [helper.make_node(op, ["a", "b"], [f"y{i}"], name=f"/{op.lower()}/{op}") for i, op in enumerate(COMPARE)]
    for dtype in (np.float32, np.int64):
        model = make_model(nodes, {"a": (dtype, (2, 3)), "b": (dtype, (3,))}, [f"y{i}" for i in range(len(COMPARE))])
        feeds = {"a": np.array([[1, 2, 3], [3, 2, 1]], dtype), "b": np.array([2, 2, 2], dtype)}
        code = assert_parity(model, feeds=feeds)
        assert "ops.ge(a, b)" in code


def test_logic():
    nodes = [helper.make_node(op, ["a", "b"], [f"y{i}"], name=f"/{op.lower()}/{op}") for i, op in enumerate(LOGIC)]
    nodes.append(helper.make_node("Not", ["a"], ["y3"], name="/not/Not"))
    model = make_model(nodes, {"a": (np.bool_, (2, 3)), "b": (np.bool_, (3,))}, ["y0", "y1", "y2", "y3"])
    assert_parity(model)


def test_where_broadcast():
    model = single_op("Where", ["c", "a", "b"], {"c": (np.bool_, (2, 3)), "a": (np.float32, (3,)), "b": (np.float32, (2, 1))})
    assert_parity(model, expect_layers=("ops.where(c, a, b)",))
