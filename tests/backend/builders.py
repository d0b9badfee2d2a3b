"""Tiny one-node ONNX models for the emitter parity tests."""

from __future__ import annotations

import numpy as np
from helpers import make_model
from onnx import helper


def rand(*shape: int, seed: int = 1, dtype=np.float32) -> np.ndarray:
    """Seeded standard-normal data (weights, statistics)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def single_op(
    op_type: str,
    node_inputs: list[str],
    inputs: dict[str, tuple],
    initializers: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    outputs: int | list[str] = 1,
    name: str | None = None,
    **attrs,
):
    """A model with one `op_type` node; `node_inputs` lists its inputs in order ("" for an omitted one).

    The node is named like a PyTorch export (`/conv/Conv`), so members are named after it.
    """
    out_names = [f"y{i}" if i else "y" for i in range(outputs)] if isinstance(outputs, int) else list(outputs)
    node = helper.make_node(op_type, node_inputs, out_names, name=name or f"/{op_type.lower()}/{op_type}", **attrs)
    return make_model([node], inputs, [o for o in out_names if o], initializers, opset=opset)


def assert_same_dtypes(model, feeds: dict[str, np.ndarray] | None = None, passes: bool = True) -> None:
    """The generated Cell's outputs have exactly onnxruntime's dtypes (assert_parity only compares int kinds).

    Runs in PYNATIVE mode only: assert_parity has already shown both modes agree on the values.
    """
    from helpers import convert_model, onnxruntime_outputs, random_inputs

    from mindconverter.runtime_check.mindspore_run import run_network

    feeds = feeds if feeds is not None else random_inputs(model)
    expected = onnxruntime_outputs(model, feeds)
    _, script, ckpt = convert_model(model, passes=passes)
    init = {i.name for i in model.graph.initializer}
    inputs = [feeds[i.name] for i in model.graph.input if i.name not in init]
    got = run_network(script, ckpt, inputs, "pynative")
    assert [g.dtype for g in got] == [e.dtype for e in expected], script.read_text()
