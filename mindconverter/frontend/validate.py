"""Validation at the door: an ONNX file is checked before anything else reads it.

A converter reads files from strangers. Everything here runs on the protobuf alone, before onnx's
shape inference, the version converter or our frontend touch the model, and every problem is one
coded error naming the node (or tensor) and the rule it breaks:

- the file is a ModelProto with a graph (not empty, not a bare GraphProto), with an IR version and a
  default-domain opset this converter reads (`read_model`, `check_versions`);
- every value has one producer, no output is listed twice, every node input is produced somewhere
  (inputs, initializers, an earlier node, an enclosing graph), the nodes form no cycle (nodes out of
  order are sorted; ONNX requires topological order but onnxruntime accepts any);
- tensors (initializers, tensor attributes) hold exactly as many elements as their dims say;
- external data stays inside the model's folder and fits its file (`external_data_file`);
- attribute types follow the op's ONNX schema; attribute values are ones the op can run with
  (`check_attribute_values`, run once onnx's shape inference has typed the values).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import AttributeProto, TensorProto

from mindconverter.errors import (
    ExternalDataError,
    InvalidAttributeError,
    InvalidModelError,
    ModelLoadError,
    UnsupportedVersionError,
)
from mindconverter.ir.onnx_bridge import UnsupportedElementType, dtype_from_onnx

log = logging.getLogger("mindconverter")

#: IR versions read: 3 (opset imports) up to what the installed onnx package knows.
MIN_IR_VERSION, MAX_IR_VERSION = 3, onnx.IR_VERSION
#: Default-domain opsets read: older ones are upgraded by onnx's version converter.
MIN_OPSET, MAX_OPSET = 1, onnx.defs.onnx_opset_version()
_DEFAULT_DOMAINS = ("", "ai.onnx")
_MAIN = "the main graph"
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


def read_model(path: Path) -> onnx.ModelProto:
    """Parse `path` as a ModelProto with a graph; external data is not read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read '{path.name}': {exc.strerror or exc}", where=str(path),
                             fix="check the file's permissions") from exc
    if not data:
        raise InvalidModelError(f"'{path.name}' is empty (0 bytes)", where=str(path),
                                fix="the export or the copy did not finish; export the model again")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and RuntimeErrors
        raise ModelLoadError(
            f"cannot parse '{path.name}' as an ONNX model: {exc}",
            where=str(path),
            fix="check that the file is a complete .onnx model (not truncated, not a TF .pb)",
        ) from exc
    if not model.HasField("graph"):
        graph = onnx.GraphProto()
        try:
            bare = graph.ParseFromString(data) and len(graph.node) > 0
        except Exception:  # noqa: BLE001 - not a graph either
            bare = False
        what = "is a bare GraphProto, not a ModelProto" if bare else "parses as an ONNX ModelProto without a graph"
        fix = ("wrap it: onnx.save(onnx.helper.make_model(graph, opset_imports=[...]), path)" if bare
               else "check that the file is an .onnx model (not truncated, not another protobuf)")
        raise InvalidModelError(f"'{path.name}' {what}", where=str(path), fix=fix)
    return model


def default_opset(model: onnx.ModelProto) -> int | None:
    versions = [int(i.version) for i in model.opset_import if i.domain in _DEFAULT_DOMAINS]
    return versions[0] if versions else None


def check_versions(model: onnx.ModelProto, path: Path) -> None:
    """The IR version and the default-domain opset are ones this converter reads."""
    ir = int(model.ir_version)
    if not MIN_IR_VERSION <= ir <= MAX_IR_VERSION:
        raise UnsupportedVersionError(
            f"'{path.name}' has IR version {ir}; mindconverter reads IR versions {MIN_IR_VERSION} to {MAX_IR_VERSION}",
            where=str(path),
            fix="re-export the model with a current exporter" if ir < MIN_IR_VERSION
            else "the model is newer than the installed onnx package: re-export with an older IR version",
        )
    domains = [i.domain for i in model.opset_import]
    duplicated = {d for d in domains if domains.count(d) > 1}
    if duplicated:
        raise InvalidModelError(f"'{path.name}' imports domain '{sorted(duplicated)[0]}' twice", where=str(path), fix=_REEXPORT)
    opset = default_opset(model)
    uses_default = any(n.domain in _DEFAULT_DOMAINS for n in model.graph.node)
    if opset is None:
        if uses_default:
            raise InvalidModelError(
                f"'{path.name}' has no opset import for the default ONNX domain, but its nodes use it",
                where=str(path), fix="re-export the model; opset_import must list the ONNX opset",
            )
        return
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedVersionError(
            f"'{path.name}' uses ONNX opset {opset}; mindconverter reads opsets {MIN_OPSET} to {MAX_OPSET}",
            where=str(path),
            fix=f"re-export the model with opset {MAX_OPSET} or lower",
        )


def validate_model(model: onnx.ModelProto, path: Path) -> None:
    """Every structural rule of the module docstring, on the protobuf; sorts nodes that are out of order."""
    _check_text(model, path)
    check_versions(model, path)
    opsets = {("" if i.domain == "ai.onnx" else i.domain): int(i.version) for i in model.opset_import}
    # (graph, names visible from enclosing graphs, where); nesting is bounded by protobuf's depth limit.
    todo: list[tuple[onnx.GraphProto, frozenset[str], str]] = [(model.graph, frozenset(), _MAIN)]
    while todo:
        graph, outer, where = todo.pop()
        todo.extend(_check_graph(graph, outer, where, opsets, path.parent))


def _check_text(model: onnx.ModelProto, path: Path) -> None:
    """Every string field (names, op types, domains...) is valid UTF-8; protobuf hands back bytes otherwise."""
    todo: list = [model]
    while todo:
        msg = todo.pop()
        for field, value in msg.ListFields():
            values = list(value) if _repeated(field) else [value]
            if field.type == field.TYPE_MESSAGE:
                todo.extend(values)
            elif field.type == field.TYPE_STRING and any(isinstance(v, bytes) for v in values):
                text = next(v for v in values if isinstance(v, bytes))
                raise InvalidModelError(
                    f"{msg.DESCRIPTOR.name}.{field.name} is not valid UTF-8: {text[:40]!r}",
                    where=str(path), fix=f"the file is corrupt; {_REEXPORT}",
                )


def _repeated(field) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 5.28; `label` before
    return bool(is_repeated) if is_repeated is not None else field.label == field.LABEL_REPEATED


def _check_graph(
    graph: onnx.GraphProto, outer: frozenset[str], where: str, opsets: dict[str, int], base_dir: Path
) -> Iterator[tuple[onnx.GraphProto, frozenset[str], str]]:
    if len(graph.sparse_initializer):
        t = graph.sparse_initializer[0]
        raise InvalidModelError(f"sparse initializer '{t.values.name}' is not supported", where=where,
                                fix="store the weight as a dense initializer")
    producer: dict[str, str] = {}

    def define(name: str, by: str) -> None:
        if name in producer:
            raise InvalidModelError(
                f"value '{name}' is produced twice: by {producer[name]} and by {by}",
                where=where, fix=f"every value must have one producer (SSA); {_REEXPORT}",
            )
        producer[name] = by

    for vi in [*graph.input, *graph.output, *graph.value_info]:
        _check_value_info(vi, where)
    for inp in graph.input:
        define(inp.name, f"graph input '{inp.name}'")
    for init in graph.initializer:
        _check_tensor(init, f"initializer '{init.name}'" + ("" if where == _MAIN else f" of {where}"), base_dir)
        if producer.get(init.name) == f"graph input '{init.name}'":
            producer[init.name] = f"initializer '{init.name}'"  # IR < 4 lists weights as inputs too
        else:
            define(init.name, f"initializer '{init.name}'")
    labels = [_label(node, i) for i, node in enumerate(graph.node)]
    for node, label in zip(graph.node, labels, strict=True):
        for out in node.output:
            if out:
                define(out, label)
    listed: set[str] = set()
    for out in graph.output:
        if out.name in listed:
            raise InvalidModelError(f"output '{out.name}' is listed twice", where=where,
                                    fix="list each graph output once (use Identity nodes for copies)")
        listed.add(out.name)
        if out.name not in producer and out.name not in outer:
            raise InvalidModelError(f"output '{out.name}' is produced by no node, input or initializer",
                                    where=where, fix=_REEXPORT)
    visible = outer | producer.keys()
    index = {name: i for i, node in enumerate(graph.node) for name in node.output if name}
    deps: list[set[int]] = []
    for node, label in zip(graph.node, labels, strict=True):
        _check_node(node, label, opsets, base_dir)
        needs = [n for n in node.input if n]
        for attr in node.attribute:
            for sub in _subgraphs(attr):
                needs.extend(_free_names(sub))
                yield sub, visible, f"attribute '{attr.name}' of {label}"
        mine: set[int] = set()
        for name in needs:
            if name in index:
                mine.add(index[name])
            elif name not in visible:
                raise InvalidModelError(
                    f"{label} reads '{name}', which no node, input or initializer produces",
                    where=where, fix=f"the model is incomplete (a dangling input); {_REEXPORT}",
                )
        deps.append(mine)
    order = _topological_order(deps, labels, where)
    if order != list(range(len(graph.node))):
        nodes = [graph.node[i] for i in order]
        del graph.node[:]
        graph.node.extend(nodes)


def _check_value_info(vi: onnx.ValueInfoProto, where: str) -> None:
    """A declared tensor type has a known element type MindSpore can hold and no negative dims."""
    if not vi.type.HasField("tensor_type"):
        return
    tt = vi.type.tensor_type
    if tt.elem_type:
        try:
            dtype_from_onnx(tt.elem_type)
        except UnsupportedElementType as exc:
            raise ModelLoadError(
                f"value '{vi.name}' has a type MindSpore cannot hold: {exc}", where=where,
                fix="MindSpore has no such tensor type; cast the model to a supported type before converting",
            ) from None
    dims = [d.dim_value for d in tt.shape.dim if d.HasField("dim_value")]
    if any(d < 0 for d in dims):
        raise InvalidModelError(f"value '{vi.name}' is declared with negative dims {dims}", where=where, fix=_REEXPORT)


def _label(node: onnx.NodeProto, index: int) -> str:
    return f"node '{node.name}' ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


def _subgraphs(attr: AttributeProto) -> list[onnx.GraphProto]:
    return [attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs)


def _free_names(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph (or its own subgraphs) reads from enclosing graphs."""
    free: set[str] = set()
    todo = [(graph, frozenset[str]())]
    while todo:
        g, bound = todo.pop()
        bound = bound | {i.name for i in g.input} | {i.name for i in g.initializer}
        bound |= {o for n in g.node for o in n.output}
        for n in g.node:
            free.update(i for i in n.input if i and i not in bound)
            for attr in n.attribute:
                todo.extend((sub, bound) for sub in _subgraphs(attr))
        free.update(o.name for o in g.output if o.name not in bound)
    return free


def _topological_order(deps: list[set[int]], labels: list[str], where: str) -> list[int]:
    """Kahn's algorithm, stable (keeps the file's order when it is valid); raises on a cycle."""
    import heapq

    users: list[list[int]] = [[] for _ in deps]
    waiting = [len(d - {i}) for i, d in enumerate(deps)]
    for i, d in enumerate(deps):
        if i in d:
            raise InvalidModelError(f"{labels[i]} reads its own output", where=where,
                                    fix=f"the graph has a cycle; {_REEXPORT}")
        for j in d:
            users[j].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(deps):
        stuck = [labels[i] for i, w in enumerate(waiting) if w > 0]
        raise InvalidModelError(
            f"the graph has a cycle through {stuck[0]}" + (f" and {len(stuck) - 1} other node(s)" if len(stuck) > 1 else ""),
            where=where, fix=f"ONNX graphs must be acyclic (loops are Loop/Scan ops); {_REEXPORT}",
        )
    return order


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


# -- declared types and attribute values ----------------------------------------------------


def infer_types(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """onnx's shape inference; a declared type that contradicts the ops is the model's error.

    Strict first: it fails on a value whose declared shape or element type differs from what its op
    computes (an InvalidModelError naming the op); other inference failures only cost us types.
    """
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "differ" in line]
        if lines:
            raise InvalidModelError(
                f"a declared type contradicts its op: {lines[0].replace('[ShapeInferenceError] ', '')}",
                where=path.name, fix=f"the model's value_info/outputs are wrong; {_REEXPORT}",
            ) from None
    except Exception:  # noqa: BLE001 - inference raises other types too; retried leniently below
        pass
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - inference failures only cost us types
        log.warning("onnx shape inference failed (%s); types will come from the infer-shapes pass", exc)
        return model


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


__all__ = [
    "MAX_IR_VERSION", "MAX_OPSET", "MIN_IR_VERSION", "MIN_OPSET",
    "check_attribute_values", "check_versions", "default_opset", "infer_types", "external_data_file", "read_model", "validate_model",
]
