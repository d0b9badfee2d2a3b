"""Parity tests for onnx.DFT (matmuls with cosine/sine matrices)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import single_op

COVERS = {"onnx.DFT", "onnx.DFT@17..19"}


@pytest.mark.parametrize(
    "shape, attrs",
    [((2, 8, 3, 1), {"axis": 1}), ((2, 8, 3, 1), {"axis": 1, "onesided": 1}), ((2, 3, 8, 2), {"axis": 2, "inverse": 1}),
     ((2, 5, 3, 2), {"axis": 1, "inverse": 1, "onesided": 1})],
)
def test_dft_opset_17(shape, attrs):
    code = assert_parity(single_op("DFT", ["x"], {"x": (np.float32, shape)}, **attrs))
    assert "class DFT(nn.Cell)" in code


def test_dft_opset_20_constant_axis_and_length():
    model = single_op("DFT", ["x", "n", "axis"], {"x": (np.float32, (2, 6, 3, 2))},
                      {"n": np.array(8, np.int64), "axis": np.array(1, np.int64)}, opset=20)
    assert_parity(model)
