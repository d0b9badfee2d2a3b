"""Parity tests for onnx.Einsum, compiled to transpose / reshape / matmul / sum."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity

from tests.backend.builders import single_op

COVERS = {"onnx.Einsum"}


@pytest.mark.parametrize(
    "equation, shapes",
    [
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("bhid,bhjd->bhij", [(2, 2, 3, 4), (2, 2, 5, 4)]),
        ("ij->ji", [(3, 4)]),
        ("...ii->...i", [(2, 3, 3)]),
        ("i,i", [(5,), (5,)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ],
)
def test_einsum(equation, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    model = single_op("Einsum", names, {n: (np.float32, s) for n, s in zip(names, shapes, strict=True)}, equation=equation)
    code = assert_parity(model)
    assert "ops.einsum" not in code
