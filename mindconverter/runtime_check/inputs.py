"""Seeded inputs for the parity check, matched to each input's dtype, shape and meaning.

An input's meaning comes from the ops that consume it (`input_role`): token ids stay below the
embedding size, masks are 0/1, and an integer input that ends up as a shape, a size, a count, a
repeat or slice bounds gets the values the model's own types say it had (a Reshape target equals the
Reshape result's dims at the sizes being checked). Values are followed through ops that keep them
(Cast, Unsqueeze, Squeeze, Reshape, Identity, Flatten) and into 1-D Concats (at their offset).
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np

from mindconverter.errors import ArgumentError, InputDataError, ResourceLimitError
from mindconverter.ir.core import Module, Op, Value, const_array, users
from mindconverter.ir.types import Dim, Unknown

#: Ops that pass an index tensor through unchanged in value (followed to find how an input is used).
_PASS_THROUGH = ("onnx.Cast", "onnx.Reshape", "onnx.Unsqueeze", "onnx.Squeeze", "onnx.Flatten", "onnx.Identity")
_MASK_WORDS = ("mask",)
#: Integer inputs with no constraint are drawn from [0, 4).
_DEFAULT_HIGH = 4


@attrs.define
class InputRole:
    """What an input's values must be, from its consumers.

    `high` bounds indices (exclusive; the smallest bound of all uses, a dim that may be symbolic);
    `mask` means 0/1; `entries` gives, per flat position, the value a shape-like use needs: a dim
    (evaluated at the sizes checked) or a number, None where no use says; `what` names the uses.
    """

    high: list[Dim] = attrs.field(factory=list)
    mask: bool = False
    entries: dict[int, Dim | float] = attrs.field(factory=dict)
    what: list[str] = attrs.field(factory=list)

    @property
    def shape_like(self) -> bool:
        return bool(self.entries)


def _static_len(v: Value) -> int | None:
    dims = v.type.dims
    if dims is None or not all(isinstance(d, int) for d in dims):
        return None
    return int(np.prod(dims, dtype=np.int64)) if dims else 1


def _const_ints(v: Value | None, module: Module) -> list[int] | None:
    if v is None:
        return None
    arr = const_array(v, module.weights)
    return None if arr is None else [int(x) for x in np.asarray(arr).reshape(-1)]


def _dim(v: Value | None, axis: int) -> Dim | None:
    """Dim `axis` of `v`'s type (negative counts from the end); None when the rank is unknown or it is unknown."""
    if v is None or v.type.dims is None or not -len(v.type.dims) <= axis < len(v.type.dims):
        return None
    d = v.type.dims[axis]
    return None if isinstance(d, Unknown) else d


def _ratio(out: Dim | None, inp: Dim | None) -> Dim | None:
    if isinstance(out, int) and isinstance(inp, int) and inp > 0 and out % inp == 0:
        return out // inp
    if out is None or inp is None:
        return None
    from mindconverter.ir import symbolic

    q = symbolic.floordiv(out, inp)
    return q if symbolic.equal(symbolic.mul(q, inp), out) else None


def _shape_entries(op: Op, operand: int, pos: int, module: Module) -> tuple[Dim | float | None, str]:
    """The value entry `pos` of operand `operand` of a shape-consuming op must hold, and the use's name."""
    name = op.name.removeprefix("onnx.")
    out = op.results[0] if op.results else None
    rank = out.type.rank if out is not None else None
    if op.name in ("onnx.Reshape", "onnx.ConstantOfShape") and operand == (1 if name == "Reshape" else 0):
        return _dim(out, pos), f"{name} shape"
    if op.name == "onnx.Expand" and operand == 1:
        n = _static_len(op.operands[1])
        if rank is None or n is None:
            return 1, "Expand shape"  # ones broadcast to the input's own shape
        return _dim(out, rank - n + pos), "Expand shape"
    if op.name == "onnx.Tile" and operand == 1:
        return _ratio(_dim(out, pos), _dim(op.operands[0], pos)) or 1, "Tile repeats"
    if op.name == "onnx.Range":
        if operand == 1:
            return _dim(out, 0) or _DEFAULT_HIGH, "Range limit"
        return (0 if operand == 0 else 1), "Range start" if operand == 0 else "Range delta"
    if op.name == "onnx.Slice" and operand in (1, 2, 3, 4):
        axes = _const_ints(op.operands[3], module) if len(op.operands) > 3 else None
        n = _static_len(op.operands[1]) or 1
        axes = axes if axes is not None else list(range(n))
        axis = axes[pos] if pos < len(axes) else pos
        if operand == 1:
            return 0, "Slice starts"
        if operand == 2:
            return _dim(out, axis) or _dim(op.operands[0], axis), "Slice ends"
        if operand == 3:
            return axis, "Slice axes"
        return 1, "Slice steps"
    if op.name == "onnx.TopK" and operand == 1:
        return _dim(out, int(op.attr("axis", -1))) or 1, "TopK k"
    if op.name == "onnx.OneHot" and operand == 1:
        axis = int(op.attr("axis", -1))
        return _dim(out, axis) or _DEFAULT_HIGH, "OneHot depth"
    if op.name == "onnx.Resize" and operand == 3:
        return _dim(out, pos), "Resize sizes"
    if op.name == "onnx.Resize" and operand == 2:
        r = _ratio(_dim(out, pos), _dim(op.operands[0], pos))
        return (float(r) if isinstance(r, int) else 1.0), "Resize scales"
    if op.name == "onnx.Split" and operand == 1:
        axis = int(op.attr("axis", 0))
        return (_dim(op.results[pos], axis) if pos < len(op.results) else None), "Split sizes"
    if op.name == "onnx.Pad" and operand in (1, 2):
        return 0, "Pad pads" if operand == 1 else "Pad value"
    if op.name in ("onnx.Unsqueeze", "onnx.Squeeze") and operand == 1:
        return None, f"{name} axes"
    return None, ""


#: (op, operand) pairs whose operand is shape-like: its values decide shapes, sizes or counts.
_SHAPE_OPERANDS = {
    "onnx.Reshape": (1,), "onnx.ConstantOfShape": (0,), "onnx.Expand": (1,), "onnx.Tile": (1,),
    "onnx.Range": (0, 1, 2), "onnx.Slice": (1, 2, 3, 4), "onnx.TopK": (1,), "onnx.OneHot": (1,),
    "onnx.Resize": (2, 3), "onnx.Split": (1,), "onnx.Pad": (1,),
}


def input_role(arg: Value, module: Module | None) -> InputRole:
    """How `arg` is used: index bounds, mask, or the shape-like entries its consumers need."""
    role = InputRole()
    if arg.name and any(w in arg.name.lower() for w in _MASK_WORDS):
        role.mask = True
        role.what.append("mask")
    if module is None:
        return role
    use = users(module.main)
    todo: list[tuple[Value, int | None]] = [(arg, 0)]  # value, offset of arg's first element in it (None: unknown)
    seen: set[int] = set()
    n_arg = _static_len(arg)
    while todo:
        v, offset = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        for op in use.get(v, []):
            for i, operand in enumerate(op.operands):
                if operand is v:
                    _use(op, i, offset, n_arg, role, module, todo)
    return role


def _use(op: Op, i: int, offset: int | None, n_arg: int | None, role: InputRole, module: Module,
         todo: list[tuple[Value, int | None]]) -> None:
    if op.name in ("onnx.Gather", "onnx.GatherElements") and i == 1:
        data = op.operands[0]
        d = _dim(data, int(op.attr("axis", 0)))
        if d is not None:
            role.high.append(d)
            role.what.append(f"{op.name.removeprefix('onnx.')} indices")
    elif op.name == "onnx.OneHot" and i == 0:
        depth = _const_ints(op.operands[1], module)
        d = depth[0] if depth else _dim(op.results[0], int(op.attr("axis", -1)))
        if d is not None:
            role.high.append(d)
            role.what.append("OneHot indices")
    elif i in _SHAPE_OPERANDS.get(op.name, ()):
        if offset is None or n_arg is None:
            return
        for p in range(n_arg):
            value, what = _shape_entries(op, i, offset + p, module)
            if value is not None and p not in role.entries:
                role.entries[p] = value
            if what and what not in role.what:
                role.what.append(what)
    elif op.name in _PASS_THROUGH and i == 0:
        todo.extend((r, offset) for r in op.results)
    elif op.name == "onnx.Concat" and op.results and op.results[0].type.rank == 1:
        before = [_static_len(x) if x is not None else 0 for x in op.operands[:i]]
        at = None if offset is None or any(b is None for b in before) else offset + sum(before)  # type: ignore[arg-type]
        todo.append((op.results[0], at))


def value_range(arg: Value, module: Module | None, sizes: Mapping[str, int] | None = None) -> tuple[int, int] | None:
    """The [low, high) range an integer input must stay in, from the ops that consume it.

    Gather's indices stay below the gathered axis' size (token ids within the embedding size),
    OneHot's below its depth; inputs named like masks are 0/1. A symbolic bound is evaluated at
    `sizes`. None: no constraint found.
    """
    role = input_role(arg, module)
    if role.mask:
        return 0, 2
    highs = [h for h in (_evaluate(d, sizes) for d in role.high) if h is not None]
    return (0, min(highs)) if highs else None


def _evaluate(d: Dim | float, sizes: Mapping[str, int] | None) -> int | float | None:
    if isinstance(d, (int, float)):
        return d
    from mindconverter.ir import symbolic

    try:
        return symbolic.evaluate(d, sizes or {})
    except (KeyError, ValueError):
        return None


def make_input(arg: Value, role: InputRole, shape: Sequence[int], rng: np.random.Generator,
               sizes: Mapping[str, int] | None = None) -> np.ndarray:
    """One seeded array of `shape` for `arg`, valid for its role at `sizes`."""
    dtype = arg.type.dtype.to_numpy()
    shape = tuple(int(d) for d in shape)
    if role.shape_like:
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        flat = []
        for p in range(n):
            value = _evaluate(role.entries[p], sizes) if p in role.entries else None
            flat.append(1 if value is None else value)
        return np.asarray(flat).astype(dtype).reshape(shape)
    if role.mask:
        return rng.integers(0, 2, shape).astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    highs = [h for h in (_evaluate(d, sizes) for d in role.high) if h is not None]
    high = int(min(highs)) if highs else _DEFAULT_HIGH
    return rng.integers(0, max(high, 1), shape).astype(dtype)


def random_inputs(args: list[Value], seed: int = 0, module: Module | None = None,
                  sizes: Mapping[str, int] | None = None) -> list[np.ndarray]:
    """One array per function argument, seeded, respecting what the input means.

    Floats ~ N(0, 1) (0/1 for masks); integers in [0, 4) unless a consumer bounds them (token ids
    below the embedding size) or needs exact values (a shape, a count: see input_role); bools at
    random. Symbolic dims take their value from `sizes` (see runtime_check.sizes for how they are chosen).
    """
    shapes = [input_shape(a, sizes or {}) for a in args]
    check_test_data_size(args, shapes)
    rng = np.random.default_rng(seed)
    return [make_input(a, input_role(a, module), shape, rng, sizes) for a, shape in zip(args, shapes, strict=True)]


def input_shape(arg: Value, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The concrete shape of input `arg` at `sizes` (symbol name -> size)."""
    dims = arg.type.dims
    fix = "give sizes with --check-sizes NAME=SIZE (or fix the shape with --shape), pass --input_data FILE.npz, or use --check off"
    if dims is None:
        raise ArgumentError(f"input '{arg.name}' has shape {arg.type} (unknown rank), so the parity check cannot make test data",
                            fix="fix the shape with --shape/--input_nodes, give --input_data FILE.npz, or use --check off")
    from mindconverter.ir import symbolic

    out = []
    for axis, d in enumerate(dims):
        if isinstance(d, Unknown):
            d = sizes.get(unknown_dim_name(arg, axis))
            if d is None:
                raise ArgumentError(f"input '{arg.name}' has shape {arg.type}: dim {axis} has no size to test with", fix=fix)
        try:
            out.append(symbolic.evaluate(d, sizes))
        except KeyError as exc:
            raise ArgumentError(f"input '{arg.name}' has shape {arg.type}: no size for symbol '{exc.args[0]}'", fix=fix) from None
    return tuple(out)


def unknown_dim_name(arg: Value, axis: int) -> str:
    """The name the size check gives an unnamed dim of an input: `input_ids[1]`."""
    return f"{arg.name}[{axis}]"


#: Test data the parity check may allocate for the inputs, in bytes; larger shapes are refused first.
MAX_TEST_DATA_BYTES = 2 * 1024**3


def check_test_data_size(args: Sequence[Value], shapes: Sequence[Sequence[int]]) -> None:
    """Refuse, before allocating anything, test inputs of `shapes` too large to make."""
    total = 0
    for a, shape in zip(args, shapes, strict=True):
        size = math.prod(shape) * a.type.dtype.to_numpy().itemsize
        total += size
        if total > MAX_TEST_DATA_BYTES:
            raise ResourceLimitError(
                f"test data for input '{a.name}' (shape {list(shape)}) needs {size / 1024**3:.3g} GiB; "
                f"the parity check makes at most {MAX_TEST_DATA_BYTES / 1024**3:g} GiB",
                where=f"input '{a.name}'",
                fix="give a smaller --shape (or --check-sizes), or convert without the check (--check off)",
            )


def load_input_data(path: Path, args: list[Value]) -> list[np.ndarray]:
    """Inputs from an .npz file keyed by input name (or arr_0, arr_1... in input order); shapes must match."""
    if not path.is_file():
        raise InputDataError(f"--input_data file '{path}' does not exist", fix="give an .npz file written by numpy.savez")
    expected = ", ".join(f"{a.name}: {a.type}" for a in args)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
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
            except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
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
