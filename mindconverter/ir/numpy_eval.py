"""The ONNX ops constant folding meets most, evaluated with the numpy calls of the ONNX reference evaluator.

`onnx_bridge.evaluate_op` builds a one-node model and a `ReferenceEvaluator` per op: a few
milliseconds each, and importing the evaluator costs about half a second. Exporters' constant
subgraphs are mostly shape plumbing and scalars (`ConstantOfShape`, `Unsqueeze`, `Pow`...), so
these ops are evaluated here directly, each exactly as `onnx/reference/ops/op_<name>.py` computes
it (tests/ir/test_numpy_eval.py compares both on generated cases). Other ops, and opsets before the
one each formula is written for, return None: the reference evaluator runs them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from mindconverter.ir.core import Dense, Op

Inputs = list[np.ndarray | None]


def _pow(op: Op, inputs: Inputs) -> np.ndarray:
    a, b = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.power(a, b).astype(a.dtype)


def _unsqueeze(op: Op, inputs: Inputs) -> np.ndarray | None:
    data, axes = (inputs + [None])[:2]
    if axes is None:
        return None  # the reference raises: left to it, with its message
    return np.expand_dims(data, axis=tuple(axes) if axes.ndim > 0 else axes)


def _squeeze(op: Op, inputs: Inputs) -> np.ndarray:
    data, axes = (inputs + [None])[:2]
    return np.squeeze(data) if axes is None else np.squeeze(data, axis=tuple(axes))  # 0-d axes raise, as there


def _concat(op: Op, inputs: Inputs) -> np.ndarray | None:
    axis = op.attrs.get("axis")
    if axis is None or any(x is None or x.ndim == 0 or not -x.ndim <= axis < x.ndim for x in inputs):
        return None  # the reference refuses these: left to it
    return np.concatenate(inputs, axis)


def _constant_of_shape(op: Op, inputs: Inputs) -> np.ndarray | None:
    value = op.attrs.get("value")
    if value is not None and (not isinstance(value, Dense) or value.array.size != 1):
        return None
    fill = np.array(0, dtype=np.float32) if value is None else value.array.flat[0]
    return np.full(tuple(inputs[0]), fill)


#: op type -> (first opset the formula is for, formula).
FORMULAS: dict[str, tuple[int, Callable[[Op, Inputs], np.ndarray | None]]] = {
    "Pow": (7, _pow),
    "Unsqueeze": (13, _unsqueeze),
    "Squeeze": (13, _squeeze),
    "Concat": (4, _concat),
    "ConstantOfShape": (9, _constant_of_shape),
}


def evaluate(op: Op, inputs: Inputs, opset: int) -> list[np.ndarray] | None:
    """The results of `op` on `inputs` when a formula here covers it at `opset`, else None."""
    since, formula = FORMULAS.get(op.op_type, (None, None))
    if formula is None or op.dialect != "onnx" or opset < since or len(op.results) != 1:
        return None
    result = formula(op, inputs)
    return None if result is None else [np.asarray(result)]
