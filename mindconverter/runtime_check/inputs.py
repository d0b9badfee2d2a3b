"""Seeded inputs for the parity check, matched to each input's dtype."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mindconverter.errors import ArgumentError, InputDataError, ResourceLimitError
from mindconverter.ir.core import Module, Value, users

#: Ops that pass an index tensor through unchanged in value (followed to find how an input is used).
_PASS_THROUGH = ("onnx.Cast", "onnx.Reshape", "onnx.Unsqueeze", "onnx.Squeeze", "onnx.Flatten", "onnx.Identity")
_MASK_WORDS = ("mask",)


def value_range(arg: Value, module: Module | None) -> tuple[int, int] | None:
    """The [low, high) range an integer input must stay in, from the ops that consume it.

    Gather's indices stay below the gathered axis' size (token ids within the embedding size),
    OneHot's below its depth; inputs named like masks are 0/1. None: no constraint found.
    """
    if arg.name and any(w in arg.name.lower() for w in _MASK_WORDS):
        return 0, 2
    if module is None:
        return None
    use = users(module.main)
    high: int | None = None
    todo, seen = [arg], set()
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        for op in use.get(v, []):
            limit = None
            if op.name in ("onnx.Gather", "onnx.GatherElements") and len(op.operands) > 1 and op.operands[1] is v:
                data = op.operands[0]
                axis = int(op.attr("axis", 0))
                dims = data.type.dims if data is not None else None
                if dims is not None and -len(dims) <= axis < len(dims) and isinstance(dims[axis], int):
                    limit = dims[axis]
            elif op.name == "onnx.OneHot" and op.operands and op.operands[0] is v:
                from mindconverter.ir.core import const_array

                depth = const_array(op.operands[1], module.weights) if op.operands[1] is not None else None
                limit = int(np.asarray(depth).reshape(-1)[0]) if depth is not None else None
            elif op.name in _PASS_THROUGH and op.operands and op.operands[0] is v:
                todo.extend(op.results)
            if limit is not None:
                high = limit if high is None else min(high, limit)
    return (0, high) if high is not None else None


def random_inputs(args: list[Value], seed: int = 0, module: Module | None = None) -> list[np.ndarray]:
    """One array per function argument, seeded, respecting what the input means.

    Floats ~ N(0, 1) (0/1 for masks); integers in [0, 4) unless a consumer bounds them (token ids
    below the embedding size, see value_range); bools at random.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    check_test_data_size(args)
    for a in args:
        shape, dtype = a.type.shape, a.type.dtype.to_numpy()
        bounds = value_range(a, module)
        if dtype.kind == "f":
            if bounds == (0, 2):
                arrays.append(rng.integers(0, 2, shape).astype(dtype))
            else:
                arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        else:
            low, high = bounds or (0, 4)
            arrays.append(rng.integers(low, max(high, low + 1), shape).astype(dtype))
    return arrays


#: Test data the parity check may allocate for the inputs, in bytes; larger shapes are refused first.
MAX_TEST_DATA_BYTES = 2 * 1024**3


def check_test_data_size(args: list[Value]) -> None:
    """Refuse, before allocating anything, inputs without static shapes or too large to make test data for."""
    total = 0
    for a in args:
        if not a.type.is_static:
            raise ArgumentError(
                f"input '{a.name}' has shape {a.type}, so the parity check cannot make test data",
                fix="fix the shape with --shape/--input_nodes, give --input_data FILE.npz, or use --check off",
            )
        size = math.prod(a.type.shape) * a.type.dtype.to_numpy().itemsize
        total += size
        if total > MAX_TEST_DATA_BYTES:
            raise ResourceLimitError(
                f"test data for input '{a.name}' (shape {list(a.type.shape)}) needs {size / 1024**3:.3g} GiB; "
                f"the parity check makes at most {MAX_TEST_DATA_BYTES / 1024**3:g} GiB",
                where=f"input '{a.name}'",
                fix="give a smaller --shape, or convert without the check (--check off)",
            )


def load_input_data(path: Path, args: list[Value]) -> list[np.ndarray]:
    """Inputs from an .npz file keyed by input name (or arr_0, arr_1... in input order); shapes must match."""
    if not path.is_file():
        raise InputDataError(f"--input_data file '{path}' does not exist", fix="give an .npz file written by numpy.savez")
    expected = ", ".join(f"{a.name}: {a.type}" for a in args)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputDataError(f"--input_data '{path}' is not an .npz file: {exc}", where=str(path),
                             fix=f"save the inputs with numpy.savez(path, {expected})") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputDataError(f"--input_data '{path}' holds one array, not an .npz archive of named arrays", where=str(path),
                             fix=f"save the inputs with numpy.savez(path, {expected})")
    arrays = []
    with data:
        for i, a in enumerate(args):
            key = a.name if a.name in data.files else f"arr_{i}"
            if key not in data.files:
                raise InputDataError(f"--input_data has no array for input '{a.name}'", where=str(path),
                                     fix=f"keys present: {', '.join(data.files) or '(none)'}; expected {expected}")
            try:
                array = np.asarray(data[key])
                array = array.astype(a.type.dtype.to_numpy(), copy=False)
            except (OSError, ValueError, TypeError, EOFError) as exc:
                raise InputDataError(f"--input_data array '{key}' cannot be read as {a.type.dtype.to_numpy().name}: {exc}", where=str(path),
                                     fix=f"save numeric arrays: {expected}") from exc
            dims = a.type.dims
            if dims is not None and (len(dims) != array.ndim or any(
                    isinstance(d, int) and d != n for d, n in zip(dims, array.shape, strict=True))):
                raise InputDataError(
                    f"--input_data array '{key}' has shape {list(array.shape)}, input '{a.name}' is {a.type}",
                    where=str(path), fix="save arrays of the input shapes (or fix them with --shape)",
                )
            arrays.append(array)
    return arrays
