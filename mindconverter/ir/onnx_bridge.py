"""ONNX semantics of the IR's `onnx.*` ops: type mapping, IR -> ONNX export, and op evaluation.

The IR's op vocabulary *is* ONNX, so ONNX's own machinery is the executable definition of it:
shape inference, the reference evaluator and onnxruntime. This module is the one place the IR
meets the `onnx` package; `ir.core`, `ir.types`, the printer and the parser never import onnx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mindconverter.ir.core import Block, Dense, Func, Module, Op, Value, const_array
from mindconverter.ir.types import UNKNOWN, Dim, DType, Sym, TensorType, Unknown

#: Models below this opset are upgraded to it; models at or above it keep their own opset.
CANONICAL_OPSET = 17

_DTYPES = {
    TensorProto.FLOAT: DType.F32,
    TensorProto.FLOAT16: DType.F16,
    TensorProto.BFLOAT16: DType.BF16,
    TensorProto.DOUBLE: DType.F64,
    TensorProto.INT8: DType.I8,
    TensorProto.INT16: DType.I16,
    TensorProto.INT32: DType.I32,
    TensorProto.INT64: DType.I64,
    TensorProto.UINT8: DType.U8,
    TensorProto.UINT16: DType.U16,
    TensorProto.UINT32: DType.U32,
    TensorProto.UINT64: DType.U64,
    TensorProto.BOOL: DType.BOOL,
    TensorProto.STRING: DType.STR,
}
_ONNX_OF = {v: k for k, v in _DTYPES.items()}

#: Graph-valued attributes of control-flow ops, in the order they are kept as op regions.
REGION_ATTRS: dict[str, tuple[str, ...]] = {
    "If": ("then_branch", "else_branch"),
    "Loop": ("body",),
    "Scan": ("body",),
    "SequenceMap": ("body",),
}


class UnsupportedElementType(ValueError):
    """An ONNX element type the IR has no DType for (float8, int4, complex...)."""


def dtype_from_onnx(elem_type: int) -> DType:
    try:
        return _DTYPES[elem_type]
    except KeyError:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise UnsupportedElementType(f"ONNX element type {name} is not supported") from None


def dtype_to_onnx(dtype: DType) -> int:
    return _ONNX_OF[dtype]


def type_from_onnx(type_proto: onnx.TypeProto, symbols: Mapping[str, Dim] | None = None) -> TensorType | None:
    """The IR type of an ONNX tensor type; None for non-tensor types (sequence, optional, map).

    A named dim (`dim_param`) is a symbol of that name, exporters' `unk__3` included (infer-shapes
    unifies them with the sizes they equal). With `symbols`, names are looked up there instead, and
    names it lacks are unknown (shape inference invents `unk__N` names that tie nothing together).
    """
    if not type_proto.HasField("tensor_type"):
        return None
    tt = type_proto.tensor_type
    dtype = dtype_from_onnx(tt.elem_type) if tt.elem_type else DType.F32
    if not tt.HasField("shape"):
        return TensorType(dtype, None)
    dims: list[Dim] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(Sym(d.dim_param) if symbols is None else symbols.get(d.dim_param, UNKNOWN))
        else:
            dims.append(UNKNOWN)
    return TensorType(dtype, tuple(dims))


def type_to_onnx(t: TensorType, names: Callable[[Dim], str | None] | None = None) -> onnx.TypeProto:
    """The ONNX tensor type of an IR type; symbols become `dim_param`s (`names` may name expressions too)."""
    shape = None
    if t.dims is not None:
        shape = [d if isinstance(d, int) else (d.name if isinstance(d, Sym) else names(d) if names else None)
                 for d in t.dims]
    return helper.make_tensor_type_proto(dtype_to_onnx(t.dtype), shape)


def f32(value: float) -> float:
    """The shortest decimal that rounds to the same float32 (ONNX float attributes are float32)."""
    if not np.isfinite(value):
        return float(value)
    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


# ----------------------------------------------------------------------------------------------
# IR -> ONNX


def attr_to_onnx(name: str, value: Any, schema: Any | None) -> onnx.AttributeProto:
    """Build an AttributeProto; the schema settles the type of empty lists."""
    if isinstance(value, Dense):
        return helper.make_attribute(name, numpy_helper.from_array(value.array))
    if isinstance(value, bool):
        return helper.make_attribute(name, int(value))
    if isinstance(value, list) and not value:
        attr_type = None
        if schema is not None and name in schema.attributes:
            attr_type = schema.attributes[name].type
        return helper.make_attribute(name, [], attr_type=attr_type or onnx.AttributeProto.INTS)
    if isinstance(value, list) and all(isinstance(v, Dense) for v in value):
        return helper.make_attribute(name, [numpy_helper.from_array(v.array) for v in value])
    return helper.make_attribute(name, value)


class _Names:
    """Unique ONNX tensor names for IR values (source names where the IR kept them)."""

    def __init__(self) -> None:
        self.of: dict[Value, str] = {}
        self.used: set[str] = set()
        self.nodes: set[str] = set()

    def node(self, op: Op) -> str:
        """A unique node name from the op's location (onnxruntime rejects duplicate node names)."""
        base = name = op.loc_name
        n = 1
        while name in self.nodes:
            name, n = f"{base}#{n}", n + 1
        self.nodes.add(name)
        return name

    def __call__(self, v: Value | None) -> str:
        if v is None:
            return ""
        name = self.of.get(v)
        if name is None:
            base = v.name or f"v{len(self.of)}"
            name, n = base, 1
            while name in self.used:
                name, n = f"{base}__{n}", n + 1
            self.of[v] = name
            self.used.add(name)
        return name


def _schema(op_type: str, opset: int) -> Any | None:
    try:
        return onnx.defs.get_schema(op_type, opset, "")
    except Exception:  # noqa: BLE001 - unknown op: the verifier reports it, export proceeds
        return None


def _export_block(
    block: Block,
    module: Module,
    names: _Names,
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    infos: list[onnx.ValueInfoProto],
    with_weights: bool,
    weight_inputs: list[onnx.ValueInfoProto],
) -> None:
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    for op in block.ops:
        if op.name in ("ir.return", "ir.yield"):
            continue
        if op.name in ("ir.param", "ir.const"):
            v = op.result
            if with_weights or "value" in op.attrs:
                array = const_array(v, module.weights) if op.name == "ir.const" else module.weights.get(op.attrs["key"])
                inits.append(numpy_helper.from_array(np.asarray(array), names(v)))
            else:  # a typed input stands in for the data (enough for shape inference)
                weight_inputs.append(helper.make_value_info(names(v), type_to_onnx(v.type)))
            continue
        if op.dialect != "onnx":
            raise ValueError(f"'{op.name}' has no ONNX form; decompose it first")
        schema = _schema(op.op_type, opset)
        attributes = [attr_to_onnx(k, v, schema) for k, v in op.attrs.items()]
        for attr_name, region in zip(REGION_ATTRS.get(op.op_type, ()), op.regions, strict=False):
            attributes.append(helper.make_attribute(attr_name, _export_region(region, module, names)))
        node = helper.make_node(op.op_type, [names(v) for v in op.operands], [names(r) for r in op.results], name=names.node(op))
        node.attribute.extend(attributes)
        nodes.append(node)
        for r in op.results:
            if r.type.dims is not None:  # an unknown-rank type may also have a guessed dtype
                infos.append(helper.make_value_info(names(r), type_to_onnx(r.type)))


def _export_region(block: Block, module: Module, names: _Names) -> onnx.GraphProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    infos: list[onnx.ValueInfoProto] = []
    _export_block(block, module, names, nodes, inits, infos, True, [])
    inputs = [helper.make_value_info(names(a), type_to_onnx(a.type)) for a in block.args]
    term = block.terminator
    outputs = [helper.make_value_info(names(v), type_to_onnx(v.type)) for v in (term.operands if term else [])]
    return helper.make_graph(nodes, "region", inputs, outputs, inits, value_info=infos)


def func_to_onnx(
    module: Module,
    func: Func | None = None,
    *,
    extra_outputs: Iterable[Value] = (),
    with_weights: bool = True,
    with_types: bool = True,
) -> tuple[onnx.ModelProto, dict[Value, str]]:
    """Export a func to an ONNX model; returns it with the tensor name given to each value.

    `extra_outputs` become graph outputs too (to read intermediate values). Without weights,
    params and stored constants become typed graph inputs (enough for shape inference); inline
    constants are always exported with their values.
    """
    func = func or module.main
    names = _Names()
    for a in func.args:
        names(a)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    infos: list[onnx.ValueInfoProto] = []
    weight_inputs: list[onnx.ValueInfoProto] = []
    _export_block(func.body, module, names, nodes, inits, infos, with_weights, weight_inputs)
    inputs = [helper.make_value_info(names(a), type_to_onnx(a.type)) for a in func.args] + weight_inputs
    out_values = list(func.outputs)
    # An output that is also an input or listed twice needs an Identity: ONNX outputs are unique names.
    outputs = []
    seen: set[str] = set(names(a) for a in func.args)
    for v in list(out_values) + [v for v in extra_outputs if v not in out_values]:
        name = names(v)
        if name in seen:
            alias = f"{name}__out{len(outputs)}"
            nodes.append(helper.make_node("Identity", [name], [alias]))
            name = alias
        seen.add(name)
        outputs.append(helper.make_value_info(name, type_to_onnx(v.type)))
    graph = helper.make_graph(nodes, module.name or "main", inputs, outputs, inits, value_info=infos if with_types else [])
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mindconverter")
    model.ir_version = min(onnx.IR_VERSION, _ir_version_for(opset))
    return model, dict(names.of)


def _ir_version_for(opset: int) -> int:
    """The newest IR version onnxruntime accepts for this opset (helper.VERSION_TABLE)."""
    best = 3
    for row in helper.VERSION_TABLE:
        if row[2] <= opset:
            best = max(best, row[1])
    return best


def infer_op_types(
    op: Op, module: Module, known: Callable[[Value], np.ndarray | None]
) -> list[TensorType | None]:
    """The result types ONNX's shape inference gives one op (regions included): the fallback of infer-shapes.

    Operands become typed graph inputs (symbols as `dim_param`s), or initializers when `known`
    gives their value (shape operands need it); values the op's regions use from outside too.
    Dims ONNX names with symbols it invented come back unknown.
    """
    opset = int(module.attrs.get("opset", CANONICAL_OPSET))
    names = _Names()
    symbols: dict[str, Dim] = {}

    def dim_name(d: Dim) -> str | None:
        if isinstance(d, Unknown):
            return None
        name = f"__dim{len(symbols)}"
        symbols[name] = d
        return name

    def name_of_sym(t: TensorType) -> onnx.TypeProto:
        for d in t.dims or ():
            if isinstance(d, Sym):
                symbols[d.name] = d
        return type_to_onnx(t, dim_name)

    outer: list[Value] = [v for v in op.operands if v is not None]
    inside = {r for region in op.regions for inner in region.walk() for r in inner.results}
    inside |= {a for region in op.regions for a in region.args}
    inside |= {a for region in op.regions for inner in region.walk() for r in inner.regions for a in r.args}
    for region in op.regions:
        for inner in region.walk():
            outer += [v for v in inner.operands if v is not None and v not in inside]
    inputs, inits = [], []
    for v in dict.fromkeys(outer):
        array = known(v)
        if array is not None:
            inits.append(numpy_helper.from_array(np.asarray(array), names(v)))
        else:
            inputs.append(helper.make_value_info(names(v), name_of_sym(v.type)))
    schema = _schema(op.op_type, opset)
    node = helper.make_node(op.op_type, [names(v) for v in op.operands], [names(r) for r in op.results], name="op")
    node.attribute.extend(attr_to_onnx(k, v, schema) for k, v in op.attrs.items())
    for attr_name, region in zip(REGION_ATTRS.get(op.op_type, ()), op.regions, strict=False):
        node.attribute.append(helper.make_attribute(attr_name, _export_region(region, module, names)))
    outputs = [helper.make_value_info(names(r), onnx.TypeProto()) for r in op.results]
    graph = helper.make_graph([node], "infer", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(onnx.IR_VERSION, _ir_version_for(opset))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    found = {vi.name: vi.type for vi in [*inferred.graph.value_info, *inferred.graph.output]}
    out: list[TensorType | None] = []
    for r in op.results:
        proto = found.get(names(r))
        out.append(type_from_onnx(proto, symbols) if proto is not None and proto.tensor_type.elem_type else None)
    return out


def output_names_of(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]


def optional_outputs(op_type: str, opset: int) -> list[bool]:
    """For each declared output of an ONNX op: whether it is optional (can be left out)."""
    schema = _schema(op_type, opset)
    if schema is None:
        return []
    Option = onnx.defs.OpSchema.FormalParameterOption
    return [o.option == Option.Optional for o in schema.outputs]


# ----------------------------------------------------------------------------------------------
# evaluation


def evaluate_op(op: Op, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one `onnx.*` op on numpy inputs: the common folding ops directly (`numpy_eval`), others with the reference evaluator."""
    from mindconverter.ir.numpy_eval import evaluate

    results = evaluate(op, inputs, opset)
    return results if results is not None else reference_evaluate(op, inputs, opset)


def reference_evaluate(op: Op, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one `onnx.*` op on numpy inputs with the ONNX reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    schema = _schema(op.op_type, opset)
    in_names = [f"i{i}" if x is not None else "" for i, x in enumerate(inputs)]
    out_names = [f"o{i}" for i in range(len(op.results))]
    node = helper.make_node(op.op_type, in_names, out_names)
    node.attribute.extend(attr_to_onnx(k, v, schema) for k, v in op.attrs.items())
    feeds = {n: x for n, x in zip(in_names, inputs, strict=True) if x is not None}
    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape) for n, x in feeds.items()],
        [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in out_names],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(r) for r in results]

