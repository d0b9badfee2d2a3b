"""Seeded inputs for the parity check, matched to each input's dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mindconverter.errors import ArgumentError
from mindconverter.ir.core import Value


def random_inputs(args: list[Value], seed: int = 0) -> list[np.ndarray]:
    """One array per function argument: normal floats, small non-negative ints, random bools."""
    rng = np.random.default_rng(seed)
    arrays = []
    for a in args:
        if not a.type.is_static:
            raise ArgumentError(
                f"input '{a.name}' has shape {a.type}, so the parity check cannot make test data",
                fix="fix the shape with --shape/--input_nodes, give --input_data FILE.npz, or use --check off",
            )
        shape, dtype = a.type.shape, a.type.dtype.to_numpy()
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        else:
            arrays.append(rng.integers(0, 4, shape).astype(dtype))
    return arrays


def load_input_data(path: Path, args: list[Value]) -> list[np.ndarray]:
    """Inputs from an .npz file keyed by input name (or arr_0, arr_1... in input order)."""
    if not path.is_file():
        raise ArgumentError(f"--input_data file '{path}' does not exist")
    data = np.load(path)
    arrays = []
    for i, a in enumerate(args):
        key = a.name if a.name in data else f"arr_{i}"
        if key not in data:
            raise ArgumentError(f"--input_data has no array for input '{a.name}'", fix=f"keys present: {', '.join(data.files)}")
        arrays.append(np.asarray(data[key]).astype(a.type.dtype.to_numpy(), copy=False))
    return arrays
