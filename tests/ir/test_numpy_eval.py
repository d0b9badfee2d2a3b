"""The folding formulas of ir/numpy_eval.py give what the ONNX reference evaluator gives (values, dtypes, shapes) or defer to it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindconverter.ir import Builder, Dense, TensorType
from mindconverter.ir.core import Block
from mindconverter.ir.numpy_eval import FORMULAS, evaluate
from mindconverter.ir.onnx_bridge import reference_evaluate
from mindconverter.ir.types import DType

OPSET = 17
DTYPES = [np.float32, np.float64, np.int64, np.int32]


def _op(op_type: str, n_inputs: int, **attrs):
    """A bare `onnx.<op_type>` with `n_inputs` operands and one result (types do not matter to evaluation)."""
    b = Builder(Block())
    t = TensorType(DType.F32, ())
    args = [b.op1("ir.const", [], t, value=Dense(np.zeros((), np.float32))) for _ in range(n_inputs)]
    return b.create(f"onnx.{op_type}", args, [t], attrs)


def _same(op, inputs) -> None:
    """Both evaluations agree exactly, or the formula defers (None) or both raise."""
    try:
        want = reference_evaluate(op, inputs, OPSET)
    except Exception:  # noqa: BLE001 - the reference refusing is a case too
        want = None
    try:
        got = evaluate(op, inputs, OPSET)
    except Exception:  # noqa: BLE001
        assert want is None, f"{op.name}: the formula raised where the reference gave {want}"
        return
    if got is None:
        return
    assert want is not None, f"{op.name}: the formula folded what the reference refuses: {got}"
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(g, w)


shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


def _array(draw, shape, dtype):
    values = draw(st.lists(st.integers(-4, 4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=dtype).reshape(shape)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_pow(data):
    shape = data.draw(shapes)
    a = _array(data.draw, shape, data.draw(st.sampled_from(DTYPES)))
    b = _array(data.draw, data.draw(st.sampled_from([(), shape[-1:]])), data.draw(st.sampled_from(DTYPES)))
    _same(_op("Pow", 2), [a, b])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_unsqueeze_and_squeeze(data):
    shape = data.draw(shapes)
    x = _array(data.draw, shape, data.draw(st.sampled_from(DTYPES)))
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(-rank - 2, rank + 1), min_size=0, max_size=2, unique=True))
    scalar = data.draw(st.booleans()) and len(axes) == 1
    axes_array = np.array(axes[0] if scalar else axes, dtype=np.int64)
    _same(_op("Unsqueeze", 2), [x, axes_array])
    _same(_op("Squeeze", 2), [x, axes_array])
    _same(_op("Squeeze", 1), [x])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_concat(data):
    shape = data.draw(shapes)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    dtype = data.draw(st.sampled_from(DTYPES))
    xs = []
    for _ in range(data.draw(st.integers(1, 3))):
        s = list(shape)
        if s and -len(s) <= axis < len(s):
            s[axis] = data.draw(st.integers(0, 2))
        xs.append(_array(data.draw, tuple(s), dtype))
    _same(_op("Concat", len(xs), axis=axis), xs)


@pytest.mark.parametrize("value", [None, np.array([7], np.int64), np.array([0.5], np.float32), np.array([True])])
@pytest.mark.parametrize("shape", [[], [0], [2, 3]])
def test_constant_of_shape(value, shape):
    attrs = {} if value is None else {"value": Dense(value)}
    _same(_op("ConstantOfShape", 1, **attrs), [np.array(shape, np.int64)])


def test_every_formula_is_tested_here():
    assert set(FORMULAS) == {"Pow", "Unsqueeze", "Squeeze", "Concat", "ConstantOfShape"}


def test_other_ops_and_older_opsets_defer_to_the_reference():
    assert evaluate(_op("Add", 2), [np.ones(2), np.ones(2)], OPSET) is None
    assert evaluate(_op("Unsqueeze", 2), [np.ones(2), np.array([0])], 11) is None
