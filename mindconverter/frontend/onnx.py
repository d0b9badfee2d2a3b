"""ONNX frontend: an ONNX model file becomes an IR module of `onnx.*` ops at one canonical opset.

- Models below CANONICAL_OPSET are upgraded with onnx's version converter; newer ones keep their opset.
- Initializers become `ir.param` (float weights) or `ir.const` (everything else); their data is read
  lazily: memory-mapped for external data, a view of the protobuf bytes otherwise.
- Graph inputs keep symbolic dims unless `shapes` fixes them; `outputs` cuts the graph.
- The metadata entry `MHA_DROPOUT_KEY` (the torch frontend writes it: JSON `{module path: p}` of every
  nn.MultiheadAttention) becomes the module attribute `MHA_DROPOUT_ATTR`, `[["encoder.layers.0.self_attn",
  0.1], ...]`: fuse-multihead-attention gives each fused block the p of its module (eval exports drop it).
- The metadata entry `TRAINABLE_KEY` (the torch frontend writes it: JSON list of the state_dict keys of the
  parameters that train) becomes the module attribute `TRAINABLE_ATTR`: the backend keeps buffers fixed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import onnx
from onnx import numpy_helper

from mindconverter.errors import ArgumentError, ModelLoadError
from mindconverter.frontend import validate, validate_nodes
from mindconverter.ir.core import Block, Builder, Dense, Func, Module, Value
from mindconverter.ir.onnx_bridge import (
    CANONICAL_OPSET,
    REGION_ATTRS,
    UnsupportedElementType,
    dtype_from_onnx,
    f32,
    type_from_onnx,
)
from mindconverter.ir.scopes import MHA_DROPOUT_ATTR, TRAINABLE_ATTR
from mindconverter.ir.types import DType, TensorType

log = logging.getLogger("mindconverter")

#: The ONNX metadata entry holding the attention dropout p of each nn.MultiheadAttention, by module path
#: (JSON object; `""` is the exported module itself); it becomes the module attribute MHA_DROPOUT_ATTR.
MHA_DROPOUT_KEY = "mindconverter.multihead_attention_dropout"
#: The ONNX metadata entry listing the source weights that train (JSON list of names); it becomes TRAINABLE_ATTR.
TRAINABLE_KEY = "mindconverter.trainable_weights"


@attrs.define
class OnnxSource:
    """What the frontend produced: the IR, and the ONNX model the parity check runs as reference."""

    module: Module
    #: The model the parity check runs as reference: the source after the shape fixes and output cut,
    #: its external initializers still pointing at their files in `base_dir` (onnxruntime reads them
    #: there: the weights are never copied into the message, which protobuf caps at 2 GiB).
    source_model: onnx.ModelProto
    base_dir: Path
    input_names: list[str]
    output_names: list[str]
    opset: int
    source_opset: int


def load_onnx(
    path: str | os.PathLike[str],
    shapes: dict[str, tuple[int, ...]] | None = None,
    outputs: list[str] | None = None,
) -> OnnxSource:
    """Read an ONNX file into IR. `shapes` fixes input shapes by input name; `outputs` cuts the graph."""
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(f"model file '{path}' does not exist", fix="check the --model_file path")
    model = validate.read_model(path)
    validate.validate_model(model, path)
    source_opset = _onnx_opset(model)
    log.info("loaded %s: %d nodes, %d initializers, opset %d", path.name, len(model.graph.node), len(model.graph.initializer), source_opset)

    _check_element_types(model, path)
    reference = _prepare_reference(model, shapes or {}, outputs, path)
    graph_model = _upgrade(reference, source_opset, path)
    opset = _onnx_opset(graph_model)
    graph_model = validate.infer_types(graph_model, path)
    validate_nodes.check_attribute_values(graph_model)

    module = Module(name=_module_name(path), attrs={"source": "onnx", "opset": opset, **_metadata_attrs(model, path)})
    builder = _GraphBuilder(module, path.parent)
    func = builder.build_main(graph_model.graph)
    module.funcs.append(func)
    return OnnxSource(
        module=module,
        source_model=reference,
        base_dir=path.parent,
        input_names=[a.name or "" for a in func.args],
        output_names=func.output_names,
        opset=opset,
        source_opset=source_opset,
    )


def _metadata_attrs(model: onnx.ModelProto, path: Path) -> dict[str, Any]:
    """The module attributes the model's metadata carries: the attention dropouts (`MHA_DROPOUT_KEY`) and the
    weights that train (`TRAINABLE_KEY`)."""
    metadata = {p.key: p.value for p in model.metadata_props}
    attributes: dict[str, Any] = {}
    text = metadata.get(MHA_DROPOUT_KEY)
    if text is not None:
        try:
            attributes[MHA_DROPOUT_ATTR] = [[str(k), float(v)] for k, v in json.loads(text).items()]
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelLoadError(f"metadata entry '{MHA_DROPOUT_KEY}' is not a JSON object of module path -> p: {text[:80]!r}",
                                 where=path.name, fix="remove the entry, or write it as {\"encoder.layers.0.self_attn\": 0.1}") from exc
    text = metadata.get(TRAINABLE_KEY)
    if text is not None:
        names = _json_or_none(text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelLoadError(f"metadata entry '{TRAINABLE_KEY}' is not a JSON list of weight names: {text[:80]!r}",
                                 where=path.name, fix="remove the entry, or write it as [\"fc.weight\", \"fc.bias\"]")
        attributes[TRAINABLE_ATTR] = names
    return attributes


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _module_name(path: Path) -> str:
    return path.stem


def _onnx_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return CANONICAL_OPSET


def _check_element_types(model: onnx.ModelProto, path: Path) -> None:
    bad: dict[str, list[str]] = {}
    for init in model.graph.initializer:
        try:
            dtype_from_onnx(init.data_type)
        except UnsupportedElementType as exc:
            bad.setdefault(str(exc), []).append(init.name)
    if bad:
        what, names = next(iter(bad.items()))
        raise ModelLoadError(
            what.lower().replace("onnx", "ONNX"),
            where=f"initializers {', '.join(repr(n) for n in names[:5])} in {path.name}",
            fix="MindSpore has no such tensor type; cast the model to float32/float16 before converting",
        )


def _prepare_reference(
    model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], outputs: list[str] | None, path: Path
) -> onnx.ModelProto:
    """Apply --shape fixes and the --output_nodes cut to the model itself (it is also the reference)."""
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in init_names]
    known = [i.name for i in real_inputs]
    for name, dims in shapes.items():
        matches = [i for i in real_inputs if i.name == name]
        if not matches:
            raise ArgumentError(
                f"input node '{name}' is not an input of the model",
                where=path.name,
                fix=f"use one of: {', '.join(known)}",
            )
        tt = matches[0].type.tensor_type
        old = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in tt.shape.dim]
        if tt.HasField("shape") and len(old) != len(dims):
            raise ArgumentError(
                f"--shape for '{name}' has rank {len(dims)} but the model's input has rank {len(old)} {old}",
                fix="give one size per dim, e.g. --shape 1,3,224,224",
            )
        for i, (want, have) in enumerate(zip(dims, old, strict=False)):
            if isinstance(have, int) and have > 0 and have != want:
                raise ArgumentError(
                    f"--shape for '{name}' sets dim {i} to {want}, but the model fixes it to {have}",
                    fix=f"use {have} for dim {i}, or re-export the model with that dim dynamic",
                )
        tt.shape.ClearField("dim")
        for d in dims:
            tt.shape.dim.add().dim_value = int(d)
    if outputs:
        produced = {o for n in graph.node for o in n.output if o} | set(known) | init_names
        missing = [o for o in outputs if o not in produced]
        if missing:
            samples = ", ".join(o.name for o in graph.output)
            raise ArgumentError(
                f"output node '{missing[0]}' is not a tensor of the model",
                where=path.name,
                fix=f"name tensors produced by nodes (graph outputs are: {samples})",
            )
        existing = {o.name: o for o in graph.output}
        new_outputs = [existing.get(o) or onnx.helper.make_empty_tensor_value_info(o) for o in outputs]
        del graph.output[:]
        graph.output.extend(new_outputs)
        _prune(graph)
    return model


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes that do not contribute to the graph outputs (after an --output_nodes cut)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:  # outer-scope names used by subgraphs
                for sub in [attr.g, *attr.graphs]:
                    needed.update(_outer_names(sub))
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _outer_names(graph: onnx.GraphProto) -> set[str]:
    names = {i for n in graph.node for i in n.input}
    for n in graph.node:
        for attr in n.attribute:
            for sub in [attr.g, *attr.graphs]:
                names |= _outer_names(sub)
    return names


def _upgrade(model: onnx.ModelProto, opset: int, path: Path) -> onnx.ModelProto:
    if opset >= CANONICAL_OPSET:
        return model
    from onnx import version_converter

    log.info("upgrading %s from opset %d to %d", path.name, opset, CANONICAL_OPSET)
    try:
        return version_converter.convert_version(model, CANONICAL_OPSET)
    except Exception as exc:  # noqa: BLE001 - the converter raises bare RuntimeErrors
        log.warning("could not upgrade opset %d -> %d (%s); converting at opset %d", opset, CANONICAL_OPSET, exc, opset)
        return model


def _attr_value(attr: onnx.AttributeProto) -> object:
    kind = attr.type
    A = onnx.AttributeProto
    if kind == A.INT:
        return int(attr.i)
    if kind == A.FLOAT:
        return f32(attr.f)
    if kind == A.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == A.INTS:
        return [int(v) for v in attr.ints]
    if kind == A.FLOATS:
        return [f32(v) for v in attr.floats]
    if kind == A.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == A.TENSOR:
        return Dense(numpy_helper.to_array(attr.t))
    if kind == A.TENSORS:
        return [Dense(numpy_helper.to_array(t)) for t in attr.tensors]
    raise ModelLoadError(f"attribute '{attr.name}' has type {A.AttributeType.Name(kind)}, which is not supported")


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0]
    value = _attr_value(attr)
    if isinstance(value, Dense):
        return value.array
    if attr.name == "value_float":
        return np.array(value, np.float32)
    if attr.name == "value_floats":
        return np.array(value, np.float32)
    if attr.name in ("value_int", "value_ints"):
        return np.array(value, np.int64)
    if attr.name in ("value_string", "value_strings"):
        return np.array(value, dtype=object)
    raise ModelLoadError(f"Constant node '{node.name}' uses '{attr.name}', which is not supported")


class _GraphBuilder:
    """Turns an ONNX graph (and its subgraphs) into IR blocks."""

    def __init__(self, module: Module, base_dir: Path) -> None:
        self.module = module
        self.base_dir = base_dir
        self.types: dict[str, TensorType] = {}
        self.counter = 0

    def build_main(self, graph: onnx.GraphProto) -> Func:
        self._collect_types(graph)
        body = Block()
        scope: dict[str, Value] = {}
        init_names = {i.name for i in graph.initializer}
        for inp in graph.input:
            if inp.name in init_names:
                continue  # IR version < 4 lists initializers as inputs too; they are weights
            t = type_from_onnx(inp.type)
            if t is None:
                raise ModelLoadError(f"input '{inp.name}' is not a tensor", fix="only tensor inputs can be converted")
            arg = Value(t, inp.name, body, len(body.args))
            body.args.append(arg)
            scope[inp.name] = arg
        self._fill_block(body, graph, [scope])
        Builder(body).create("ir.return", [self._lookup(o.name, [scope]) for o in graph.output], (), {"names": [o.name for o in graph.output]})
        return Func("main", body)

    def _collect_types(self, graph: onnx.GraphProto) -> None:
        for vi in [*graph.value_info, *graph.output, *graph.input]:
            t = type_from_onnx(vi.type)
            if t is not None:
                self.types[vi.name] = t
        for node in graph.node:
            for attr in node.attribute:
                for sub in [attr.g, *attr.graphs]:
                    self._collect_types(sub)

    def _fill_block(self, block: Block, graph: onnx.GraphProto, scopes: list[dict[str, Value]]) -> None:
        b = Builder(block)
        scope = scopes[-1]
        for init in graph.initializer:
            scope[init.name] = self._initializer(b, init)
        for index, node in enumerate(graph.node):
            loc = (node.name or f"{node.op_type}_{index}",)
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                array = _constant_node_value(node)
                scope[node.output[0]] = b.const(array, self.module.weights, loc, key=node.output[0])
                continue
            operands = [self._lookup(name, scopes) if name else None for name in node.input]
            while operands and operands[-1] is None:
                operands.pop()
            outputs = list(node.output)
            while outputs and not outputs[-1]:
                outputs.pop()  # omitted trailing optional outputs
            result_types = [self.types.get(o) or TensorType(DType.F32, None) for o in outputs]
            attributes = {}
            regions = []
            region_names = REGION_ATTRS.get(node.op_type, ())
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    if attr.name not in region_names:
                        raise ModelLoadError(f"graph attribute '{attr.name}' of '{node.op_type}' is not supported", where=loc[0])
                    continue
                attributes[attr.name] = _attr_value(attr)
            for name in region_names:
                sub = next((a.g for a in node.attribute if a.name == name), None)
                if sub is not None:
                    regions.append(self._region(sub, scopes))
            domain = node.domain if node.domain not in ("", "ai.onnx") else "onnx"
            op = b.create(f"{domain}.{node.op_type}", operands, result_types, attributes, loc, regions)
            for name, result in zip(outputs, op.results, strict=True):
                if name:
                    result.name = name  # kept for exports and folded-weight keys; IR text numbers it
                    scope[name] = result

    def _region(self, graph: onnx.GraphProto, scopes: list[dict[str, Value]]) -> Block:
        block = Block()
        scope: dict[str, Value] = {}
        for inp in graph.input:
            t = type_from_onnx(inp.type) or TensorType(DType.F32, None)
            arg = Value(t, inp.name, block, len(block.args))
            block.args.append(arg)
            scope[inp.name] = arg
        inner = [*scopes, scope]
        self._fill_block(block, graph, inner)
        Builder(block).create("ir.yield", [self._lookup(o.name, inner) for o in graph.output])
        return block

    def _lookup(self, name: str, scopes: list[dict[str, Value]]) -> Value:
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        raise ModelLoadError(
            f"tensor '{name}' is used but never defined",
            fix="the model is malformed; check it with onnx.checker.check_model",
        )

    def _initializer(self, b: Builder, init: onnx.TensorProto) -> Value:
        dtype = dtype_from_onnx(init.data_type)
        shape = tuple(int(d) for d in init.dims)
        loader = self._loader(init)
        ttype = TensorType(dtype, shape)
        size = int(np.prod(shape, dtype=np.int64))
        weights = self.module.weights
        if dtype.is_float and size > 1:
            key = weights.unique_key(init.name)
            weights.set(key, loader, origin=init.name)
            value = b.op1("ir.param", [], ttype, (init.name,), key=key)
            value.name = key
            return value
        return b.const(loader(), weights, (init.name,), key=init.name)

    def _loader(self, init: onnx.TensorProto) -> Callable[[], np.ndarray]:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in init.external_data}
            file = validate_nodes.external_data_file(init, self.base_dir)  # confined to the model's folder
            dtype = dtype_from_onnx(init.data_type).to_numpy()
            shape = tuple(int(d) for d in init.dims)
            offset = int(info.get("offset", 0))

            def load_external() -> np.ndarray:
                if int(np.prod(shape, dtype=np.int64)) == 0:
                    return np.zeros(shape, dtype)
                return np.memmap(file, dtype=dtype, mode="r", offset=offset, shape=shape)

            return load_external
        return lambda: numpy_helper.to_array(init)


def parse_shape(text: str) -> tuple[int, ...]:
    """`1,3,224,224` -> (1, 3, 224, 224); sizes must be positive integers."""
    parts = [p.strip() for p in text.strip().strip("[]()").split(",") if p.strip()]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ArgumentError(f"--shape '{text}' is not a comma-separated list of integers", fix="write e.g. --shape 1,3,224,224") from None
    if not dims or any(d <= 0 for d in dims):
        raise ArgumentError(f"--shape '{text}' must list positive sizes", fix="write e.g. --shape 1,3,224,224")
    return dims


__all__ = ["OnnxSource", "load_onnx", "parse_shape"]
