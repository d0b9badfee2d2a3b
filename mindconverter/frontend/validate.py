"""Validation at the door: an ONNX file is checked before anything else reads it.

A converter reads files from strangers. Everything here runs on the protobuf alone, before onnx's
shape inference, the version converter or our frontend touch the model, and every problem is one
coded error naming the node (or tensor) and the rule it breaks:

- the file is a ModelProto with a graph (not empty, not a bare GraphProto), with an IR version and a
  default-domain opset this converter reads (`read_model`, `check_versions`);
- every value has one producer, no output is listed twice, every node input is produced somewhere
  (inputs, initializers, an earlier node, an enclosing graph), the nodes form no cycle (nodes out of
  order are sorted; ONNX requires topological order but onnxruntime accepts any);
- each node, initializer and tensor attribute passes the per-node checks of `validate_nodes`
  (schema arity and attribute types, tensor sizes, external data confined to the model's folder);
  attribute values are checked there too (`validate_nodes.check_attribute_values`, run once onnx's
  shape inference has typed the values).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto

from mindconverter.errors import (
    InvalidModelError,
    ModelLoadError,
    UnsupportedVersionError,
)
from mindconverter.frontend.validate_nodes import (
    _DEFAULT_DOMAINS,
    _REEXPORT,
    _check_node,
    _check_tensor,
    _label,
)
from mindconverter.ir.onnx_bridge import UnsupportedElementType, dtype_from_onnx

log = logging.getLogger("mindconverter")

#: IR versions read: 3 (opset imports) up to what the installed onnx package knows.
MIN_IR_VERSION, MAX_IR_VERSION = 3, onnx.IR_VERSION
#: Default-domain opsets read: older ones are upgraded by onnx's version converter.
MIN_OPSET, MAX_OPSET = 1, onnx.defs.onnx_opset_version()
_MAIN = "the main graph"


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


# -- declared types and attribute values ----------------------------------------------------


#: Initializers up to this many elements go to onnx's shape inference with their values (the shape
#: constants its data propagation reads); larger ones go as typed graph inputs.
INFER_KEEP_ELEMENTS = 1024


def _types_only(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` without its large initializers' data: each becomes a graph input of its type.

    onnx's shape inference hands the model to C++ serialized and returns it serialized: for a BERT-base
    with inline weights that took 7 s and peaked at 2.2 GB for 0.44 GB of weights. It reads only the
    weights' types.
    """
    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    src, graph = model.graph, light.graph
    graph.name = src.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(graph, field).extend(getattr(src, field))
    declared = {i.name for i in src.input}
    for t in src.initializer:
        if len(t.dims) == 0 or int(np.prod(t.dims)) <= INFER_KEEP_ELEMENTS:
            graph.initializer.append(t)
        elif t.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return light


def _with_types(model: onnx.ModelProto, inferred: onnx.ModelProto) -> onnx.ModelProto:
    """`model` (its weights untouched) given the inferred value types, outputs and nodes (whose subgraphs hold theirs)."""
    graph = model.graph
    for field in ("node", "value_info", "output"):
        del getattr(graph, field)[:]
        getattr(graph, field).extend(getattr(inferred.graph, field))
    return model


def infer_types(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """onnx's shape inference (on `_types_only(model)`); a declared type that contradicts the ops is the model's error.

    Strict first: it fails on a value whose declared shape or element type differs from what its op
    computes (an InvalidModelError naming the op); other inference failures only cost us types.
    Returns `model` itself with the inferred types.
    """
    light = _types_only(model)
    try:
        return _with_types(model, onnx.shape_inference.infer_shapes(light, strict_mode=True, data_prop=True))
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
        return _with_types(model, onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True))
    except Exception as exc:  # noqa: BLE001 - inference failures only cost us types
        log.warning("onnx shape inference failed (%s); types will come from the infer-shapes pass", exc)
        return model




__all__ = [
    "MAX_IR_VERSION", "MAX_OPSET", "MIN_IR_VERSION", "MIN_OPSET",
    "check_versions", "default_opset", "infer_types", "read_model", "validate_model",
]
