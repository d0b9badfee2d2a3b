"""Per-node checks: attribute types against the op's schema, tensor contents, external data, values.

Split from `validate`, which keeps the model- and graph-level checks and calls these for each node,
initializer and tensor attribute:

- input/output counts and attribute types follow the op's ONNX schema (`_check_node`);
- tensors (initializers, tensor attributes) hold exactly as many elements as their dims say;
- external data stays inside the model's folder and fits its file (`external_data_file`);
- attribute values are ones the op can run with (`check_attribute_values`, run once onnx's shape
  inference has typed the values).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import onnx
from onnx import AttributeProto, TensorProto

from mindconverter.errors import (
    ExternalDataError,
    InvalidAttributeError,
    InvalidModelError,
    ModelLoadError,
)

_DEFAULT_DOMAINS = ("", "ai.onnx")
_REEXPORT = "re-export the model; onnx.checker.check_model(model, full_check=True) shows the problem too"

# Which typed field holds a tensor's elements, and how many entries one element takes.
_TYPED_FIELD: dict[int, tuple[str, int]] = {
    TensorProto.FLOAT: ("float_data", 1),
    TensorProto.DOUBLE: ("double_data", 1),
    TensorProto.INT64: ("int64_data", 1),
    TensorProto.UINT32: ("uint64_data", 1),
    TensorProto.UINT64: ("uint64_data", 1),
    TensorProto.STRING: ("string_data", 1),
    TensorProto.COMPLEX64: ("float_data", 2),
    TensorProto.COMPLEX128: ("double_data", 2),
    **{t: ("int32_data", 1) for t in (
        TensorProto.INT32, TensorProto.INT16, TensorProto.INT8, TensorProto.UINT16, TensorProto.UINT8,
        TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.BFLOAT16,
    )},
}


def _label(node: onnx.NodeProto, index: int) -> str:
    return f"node '{node.name}' ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


def _check_node(node: onnx.NodeProto, label: str, opsets: dict[str, int], base_dir: Path) -> None:
    if not node.op_type:
        raise InvalidModelError(f"{label} has no op_type", fix=_REEXPORT)
    domain = "" if node.domain == "ai.onnx" else node.domain
    schema = None
    if domain in opsets:
        try:
            schema = onnx.defs.get_schema(node.op_type, opsets[domain], domain)
        except onnx.defs.SchemaError:
            schema = None  # a custom op: the emitters report it as unsupported
        if schema is None and domain == "":
            newer = onnx.defs.has(node.op_type)
            raise InvalidModelError(
                f"{label}: '{node.op_type}' is not an ONNX operator at opset {opsets[domain]}"
                + (" (it was added later)" if newer else ""),
                where=label,
                fix="re-export with a newer opset" if newer else "custom ops need their own domain; " + _REEXPORT,
            )
    if schema is not None:
        _check_arity(node, label, schema, opsets[domain])
        given = {a.name for a in node.attribute}
        missing = [name for name, a in schema.attributes.items() if a.required and name not in given]
        if missing:
            raise InvalidAttributeError(f"{label} lacks the required attribute '{missing[0]}'", where=label,
                                        fix=f"{node.op_type} needs '{missing[0]}'; {_REEXPORT}")
    seen: set[str] = set()
    for attr in node.attribute:
        if not attr.name:
            raise InvalidAttributeError(f"{label} has an attribute without a name", fix=_REEXPORT)
        if attr.name in seen:
            raise InvalidAttributeError(f"{label} sets attribute '{attr.name}' twice", fix=_REEXPORT)
        seen.add(attr.name)
        if attr.ref_attr_name:
            continue  # inside a function body: bound when the function is called
        if attr.type == AttributeProto.UNDEFINED or attr.type not in AttributeProto.AttributeType.values():
            raise InvalidAttributeError(f"attribute '{attr.name}' of {label} has no valid type ({attr.type})", fix=_REEXPORT)
        expected = schema.attributes.get(attr.name) if schema is not None else None
        if schema is not None and expected is None:
            known = ", ".join(sorted(schema.attributes)) or "none"
            raise InvalidAttributeError(
                f"{label} has attribute '{attr.name}', which {node.op_type} (opset {opsets[domain]}) does not have",
                where=label, fix=f"{node.op_type}'s attributes are: {known}",
            )
        if expected is not None and int(expected.type) != int(attr.type):
            raise InvalidAttributeError(
                f"attribute '{attr.name}' of {label} is {AttributeProto.AttributeType.Name(attr.type)}, "
                f"but {node.op_type} (opset {opsets[domain]}) takes {expected.type.name}",
                fix=f"write '{attr.name}' as {expected.type.name} (see the {node.op_type} operator spec)",
            )
        for t in [attr.t] if attr.type == AttributeProto.TENSOR else attr.tensors:
            if t.data_location == TensorProto.EXTERNAL:
                raise ExternalDataError(
                    f"attribute '{attr.name}' of {label} keeps its tensor in external data",
                    fix="only initializers may use external data; save the model with convert_attribute=False",
                )
            _check_tensor(t, f"attribute '{attr.name}' of {label}", base_dir)


def _check_arity(node: onnx.NodeProto, label: str, schema, opset: int) -> None:
    """Input and output counts within the schema's range (trailing empty names are omitted optionals)."""
    counts = {"inputs": len(node.input), "outputs": len(node.output)}
    limits = {"inputs": (schema.min_input, schema.max_input), "outputs": (schema.min_output, schema.max_output)}
    for what, n in counts.items():
        low, high = limits[what]
        if not low <= n <= high:
            allowed = f"{low}" if low == high else f"{low} or more" if high >= 2**31 - 1 else f"{low} to {high}"
            raise InvalidModelError(
                f"{label} has {n} {what}; {node.op_type} (opset {opset}) takes {allowed}",
                where=label, fix=_REEXPORT,
            )


def element_count(tensor: TensorProto, where: str) -> int:
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise InvalidModelError(f"tensor dims {dims} are negative", where=where, fix=_REEXPORT)
    return math.prod(dims)


def _check_tensor(tensor: TensorProto, where: str, base_dir: Path) -> None:
    """A tensor holds as many elements as its dims say (raw bytes, typed entries, or external bytes)."""
    count = element_count(tensor, where)
    if tensor.data_type == TensorProto.UNDEFINED or tensor.data_type not in TensorProto.DataType.values():
        raise InvalidModelError(f"tensor has no valid element type ({tensor.data_type})", where=where, fix=_REEXPORT)
    if tensor.data_location == TensorProto.EXTERNAL:
        external_data_file(tensor, base_dir, where)
        return
    itemsize = _itemsize(tensor.data_type)
    if tensor.data_type == TensorProto.STRING and tensor.HasField("raw_data"):
        raise InvalidModelError("a string tensor has raw data (strings live in string_data)", where=where, fix=_REEXPORT)
    if tensor.HasField("raw_data") and itemsize is not None:
        if len(tensor.raw_data) != count * itemsize:
            raise InvalidModelError(
                f"tensor dims {list(tensor.dims)} need {count * itemsize} bytes of raw data, it has {len(tensor.raw_data)}",
                where=where, fix=f"the weights are truncated or their dims are wrong; {_REEXPORT}",
            )
        return
    field, per = _TYPED_FIELD.get(tensor.data_type, (None, 1))
    if field is None or tensor.HasField("raw_data"):
        return  # sub-byte and float8 types: refused by the element-type check with a clearer message
    have = len(getattr(tensor, field))
    if have != count * per:
        raise InvalidModelError(
            f"tensor dims {list(tensor.dims)} need {count * per} entries in {field}, it has {have}",
            where=where, fix=f"the weights are truncated or their dims are wrong; {_REEXPORT}",
        )


def _itemsize(data_type: int) -> int | None:
    if data_type in (TensorProto.STRING,):
        return None
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(data_type).itemsize if data_type not in _SUB_BYTE else None
    except (KeyError, TypeError, ValueError):
        return None


_SUB_BYTE = {getattr(TensorProto, n) for n in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2") if hasattr(TensorProto, n)}


def external_data_file(tensor: TensorProto, base_dir: Path, where: str | None = None) -> Path:
    """The file holding `tensor`'s external data, confined to `base_dir`; offset and length fit it.

    The location must be relative, without `..`, and resolve (symlinks followed) inside `base_dir`.
    Only `os.stat` touches the file here: a location pointing elsewhere is refused unopened.
    """
    where = where or f"initializer '{tensor.name}'"
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    fix = "keep the external data files inside the model's folder, with relative locations (onnx.save(..., location='name.data'))"
    if not location:
        raise ExternalDataError("external data has no location", where=where, fix=fix)
    parts = location.replace("\\", "/").split("/")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        raise ExternalDataError(f"external data location '{location}' is an absolute path", where=where, fix=fix)
    if ".." in parts or "\x00" in location:
        raise ExternalDataError(f"external data location '{location}' leaves the model's folder ('..')", where=where, fix=fix)
    root = base_dir.resolve()
    file = (root / location).resolve()
    if not file.is_relative_to(root):
        raise ExternalDataError(
            f"external data location '{location}' resolves outside the model's folder (a symlink)", where=where, fix=fix
        )
    try:
        st = file.stat()
    except OSError:
        raise ModelLoadError(
            f"external data file '{location}' of {where} is missing",
            where=str(base_dir),
            fix="keep the external data files next to the .onnx file",
        ) from None
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise ExternalDataError(f"external data location '{location}' is not a regular file", where=where, fix=fix)
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise ExternalDataError(
            f"external data offset/length '{info.get('offset')}'/'{info.get('length')}' are not integers", where=where, fix=fix
        ) from None
    itemsize = _itemsize(tensor.data_type)
    need = element_count(tensor, where) * itemsize if itemsize is not None else length
    if offset < 0 or (length is not None and length < 0):
        raise ExternalDataError(f"external data offset {offset} / length {length} are negative", where=where, fix=fix)
    if length is not None and need is not None and length != need:
        raise ExternalDataError(
            f"external data length {length} does not match the {need} bytes dims {list(tensor.dims)} need",
            where=where, fix=f"the model and its data file do not belong together; {_REEXPORT}",
        )
    if need is not None and offset + need > st.st_size:
        raise ExternalDataError(
            f"external data needs bytes {offset}..{offset + need} of '{location}', which has {st.st_size}",
            where=where, fix="the data file is truncated or belongs to another model",
        )
    return file




# -- attribute values ------------------------------------------------------------------------


def check_attribute_values(model: onnx.ModelProto) -> None:
    """Attribute values the op can run with, for the ops of the main graph (shapes where inferred).

    Run after onnx's shape inference, so static input shapes are known where they can be.
    """
    graph = model.graph
    dims: dict[str, list[int | None] | None] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            dims[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    for init in graph.initializer:
        dims[init.name] = [int(d) for d in init.dims]
    for i, node in enumerate(graph.node):
        rule = _VALUE_RULES.get(node.op_type) if node.domain in _DEFAULT_DOMAINS else None
        if rule is not None:
            ins = [dims.get(n) if n else None for n in node.input]
            rule(_Node(node, _label(node, i)), ins)


class _Node:
    """A node's attributes as Python values, and `bad(...)` for the error naming it."""

    def __init__(self, node: onnx.NodeProto, label: str) -> None:
        self.op_type, self.label = node.op_type, label
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute if not a.ref_attr_name}

    def get(self, name: str, default=None):
        value = self.attrs.get(name, default)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    def bad(self, rule: str, fix: str) -> InvalidAttributeError:
        return InvalidAttributeError(f"{self.label}: {rule}", where=self.label, fix=fix)


def _rank(shape: list[int | None] | None) -> int | None:
    return None if shape is None else len(shape)


def _positive(n: _Node, name: str, values: list[int], spatial: int | None) -> None:
    if any(v <= 0 for v in values):
        raise n.bad(f"{name} {values} must be positive", f"give {n.op_type} positive {name}")
    if spatial is not None and values and len(values) != spatial:
        raise n.bad(f"{name} {values} has {len(values)} entries for {spatial} spatial dim(s)", f"give one {name} entry per spatial dim")


def _window_rule(n: _Node, ins: list, kernel: list[int] | None, spatial: int | None, transpose: bool = False) -> None:
    """strides, dilations, pads and kernel of Conv/ConvTranspose/pools; the kernel fits the padded input."""
    auto_pad = n.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise n.bad(f"auto_pad '{auto_pad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", "use one of those")
    strides = list(n.get("strides", []))
    dilations = list(n.get("dilations", []))
    pads = list(n.get("pads", []))
    _positive(n, "strides", strides, spatial)
    _positive(n, "dilations", dilations, spatial)
    if kernel is not None:
        _positive(n, "kernel_shape", kernel, spatial)
    if any(p < 0 for p in pads):
        raise n.bad(f"pads {pads} are negative", "pads of convolutions and pools must be >= 0 (crop with Slice instead)")
    if spatial is not None and pads and len(pads) != 2 * spatial:
        raise n.bad(f"pads {pads} has {len(pads)} entries for {spatial} spatial dim(s)", "give a begin and an end pad per spatial dim")
    x = ins[0] if ins else None
    if transpose or kernel is None or x is None or auto_pad != "NOTSET" or len(kernel) != len(x) - 2:
        return
    k_dims = len(kernel)
    pads = pads or [0] * 2 * k_dims
    dilations = dilations or [1] * k_dims
    for i, (size, k) in enumerate(zip(x[2:], kernel, strict=True)):
        if size is None:
            continue
        span = dilations[i] * (k - 1) + 1
        if size + pads[i] + pads[i + k_dims] < span:
            raise n.bad(
                f"kernel {kernel} (dilated extent {span}) is larger than the padded input ({size} + pads) in spatial dim {i}",
                "the model cannot run: check the input shape (--shape) or the kernel",
            )


def _conv_rule(n: _Node, ins: list, transpose: bool = False) -> None:
    x = ins[0] if ins else None
    w = ins[1] if len(ins) > 1 else None
    spatial = len(x) - 2 if x is not None and len(x) > 2 else len(w) - 2 if w is not None and len(w) > 2 else None
    group = int(n.get("group", 1))
    if group < 1:
        raise n.bad(f"group {group} must be >= 1", "group counts channel groups: 1 for an ordinary convolution")
    kernel = list(n.get("kernel_shape", [])) or (list(w[2:]) if w is not None and None not in w[2:] else None)
    channels = x[1] if x is not None and len(x) > 1 else None
    if channels is not None and channels % group:
        raise n.bad(f"group {group} does not divide the {channels} input channels", "use a group that divides the channels")
    if w is not None and len(w) >= 2 and None not in w[:2]:
        if not transpose and w[0] % group:
            raise n.bad(f"group {group} does not divide the {w[0]} output channels of W {w}", "use a group that divides the channels")
        if channels is not None and (w[1] * group if not transpose else w[0]) != channels:
            need = f"W {w} expects {w[1] * group if not transpose else w[0]} input channels"
            raise n.bad(f"{need}, the input has {channels}", "the weights do not fit the input: check --shape")
    _window_rule(n, ins, kernel, spatial, transpose)


def _pool_rule(n: _Node, ins: list) -> None:
    kernel = list(n.get("kernel_shape", []))
    if not kernel:
        raise n.bad("kernel_shape is required", f"give {n.op_type} a kernel_shape")
    _window_rule(n, ins, kernel, len(kernel))


def _axis_rule(n: _Node, ins: list) -> None:
    rank = _rank(ins[0] if ins else None)
    axis = n.get("axis")
    if rank is None or axis is None or isinstance(axis, list):
        return
    if not -rank <= int(axis) < rank:
        raise n.bad(f"axis {axis} is out of range for an input of rank {rank}", f"use an axis in [{-rank}, {rank - 1}]")


def _flatten_rule(n: _Node, ins: list) -> None:
    rank = _rank(ins[0] if ins else None)
    axis = int(n.get("axis", 1))
    if rank is not None and not -rank <= axis <= rank:
        raise n.bad(f"axis {axis} is out of range for an input of rank {rank}", f"use an axis in [{-rank}, {rank}]")


def _transpose_rule(n: _Node, ins: list) -> None:
    perm = n.get("perm")
    if perm is None:
        return
    rank = _rank(ins[0] if ins else None)
    if sorted(perm) != list(range(len(perm))) or (rank is not None and len(perm) != rank):
        raise n.bad(f"perm {list(perm)} is not a permutation of the input's {rank if rank is not None else len(perm)} axes",
                    "list every axis exactly once")


def _block_rule(n: _Node, ins: list) -> None:
    size = int(n.get("blocksize", 0))
    if size < 1:
        raise n.bad(f"blocksize {size} must be >= 1", "give a positive blocksize")


def _lrn_rule(n: _Node, ins: list) -> None:
    size = int(n.get("size", 0))
    if size < 1:
        raise n.bad(f"size {size} must be >= 1", "give a positive size")


_VALUE_RULES = {
    "Conv": _conv_rule,
    "ConvTranspose": lambda n, ins: _conv_rule(n, ins, transpose=True),
    "MaxPool": _pool_rule,
    "AveragePool": _pool_rule,
    "LpPool": _pool_rule,
    **{op: _axis_rule for op in (
        "Softmax", "LogSoftmax", "Hardmax", "Concat", "Gather", "GatherElements", "ArgMax", "ArgMin", "Split",
        "LpNormalization", "Compress",
    )},
    "Flatten": _flatten_rule,
    "Transpose": _transpose_rule,
    "DepthToSpace": _block_rule,
    "SpaceToDepth": _block_rule,
    "LRN": _lrn_rule,
}


__all__ = ["check_attribute_values", "element_count", "external_data_file"]
