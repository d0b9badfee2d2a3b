"""Our own higher-level ops (`mc.*`): each declared once with typed attrs, a shape rule and its ONNX decomposition.

Passes raise ONNX patterns into these ops (`fuse-dense` makes `mc.dense`, `structure-modules` makes
`mc.cell`); the backend emits them as MindSpore layers. The decomposition is each op's executable
specification: `lower_to_onnx(module)` replaces every `mc.*` op by it, so the IR can always be run
with ONNX machinery (the runtime checker does) and every fusion can be checked against its source.

A dialect op is an `attrs` class registered with `@dialect_op("mc.name")`: its fields are the op's
attributes (typed, with defaults and validators), `operands` names its inputs (`b?` = optional),
`infer()` is the shape rule and `decompose()` builds the ONNX ops computing the same thing.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import field
from attrs.validators import in_, instance_of

from mindconverter.ir.core import Block, Builder, Module, Op, Value, WeightStore, erase_op, replace_uses
from mindconverter.ir.symbolic import floordiv
from mindconverter.ir.types import UNKNOWN, DType, TensorType

DIALECT: dict[str, type[DialectOp]] = {}


class DialectOp:
    """Base of the `mc.*` op classes: an instance is the typed view of one op's attributes."""

    name: ClassVar[str]
    #: Operand names in order; a trailing `?` marks an optional one (`none` in the IR).
    operands: ClassVar[tuple[str, ...]] = ("x",)
    #: Whether the op holds one region (its body) instead of being defined by its attributes alone.
    has_region: ClassVar[bool] = False
    #: Whether the operand list is variadic (mc.cell, mc.dims).
    variadic: ClassVar[bool] = False

    @classmethod
    def of(cls, op: Op) -> DialectOp:
        """The typed attributes of `op` (raises TypeError/ValueError when they do not fit)."""
        return cls(**op.attrs)

    def attrs_dict(self) -> dict[str, Any]:
        """The attributes to store on the op: fields that differ from their defaults, in field order."""
        out: dict[str, Any] = {}
        for f in attrs.fields(type(self)):
            value = getattr(self, f.name)
            default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default  # type: ignore[arg-type]
            if default is attrs.NOTHING or value != default:
                out[f.name] = value
        return out

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        """Result types from operand types (the shape rule)."""
        return [types[0]]  # like(x)

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        """Build ONNX ops computing the op's results at `b`; returns the values replacing its results."""
        raise NotImplementedError


def dialect_op(name: str) -> Callable[[type], type]:
    """Register an attrs class as the `mc.*` op `name`."""

    def register(cls: type) -> type:
        cls = attrs.define(cls, kw_only=True)
        cls.name = name
        cls.decompose = _locating(cls.decompose)
        if name in DIALECT:
            raise ValueError(f"dialect op '{name}' is declared twice")
        DIALECT[name] = cls
        return cls

    return register


_DECOMPOSED = itertools.count(1)


def _locating(decompose: Callable) -> Callable:
    """Wrap a decompose() so the ops it creates are located at the op they replace (`loc("/act/Mul#3")`).

    The number keeps node names unique when the lowered IR is exported to ONNX (onnxruntime
    rejects two nodes of the same name); ops that already have a location keep it.
    """

    @functools.wraps(decompose)
    def wrapper(self: DialectOp, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        block, start = b.block, b.index
        result = decompose(self, b, op, weights)
        for created in block.ops[start:b.index]:
            if not created.loc:
                created.loc = (f"{op.loc_name}#{next(_DECOMPOSED)}",)
        return result

    return wrapper


def create(b: Builder, name: str, operands: list[Value | None], loc: tuple[str, ...] = (), **attributes: Any) -> Op:
    """Create the `mc.*` op `name` at `b`, checking its attributes and typing its results with its shape rule."""
    spec = DIALECT[name](**attributes)
    types = spec.infer([v.type if v is not None else None for v in operands])
    return b.create(name, operands, types, spec.attrs_dict(), loc)


# ----------------------------------------------------------------------------------------------
# helpers for decompositions


def _scalar(b: Builder, value: float, like: Value, weights: WeightStore) -> Value:
    return b.const(np.array(value, dtype=like.type.dtype.to_numpy()), weights)


def _like(b: Builder, name: str, operands: list[Value], like: Value, **attributes: Any) -> Value:
    return b.op1(name, operands, like.type, **attributes)


# ----------------------------------------------------------------------------------------------
# the ops


@dialect_op("mc.dense")
class Dense(DialectOp):
    """A fully connected layer: y = x @ W^T + b with W of shape (out, in), like nn.Dense (`transpose_w=False`: W is (in, out))."""

    transpose_w: bool = field(default=True, validator=instance_of(bool))
    operands = ("x", "w", "b?")

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        x, w = types[0], types[1]
        out = w.dims[0 if self.transpose_w else 1] if w.dims is not None else None
        if x.dims is None or out is None:
            return [TensorType(x.dtype, None)]
        return [TensorType(x.dtype, (*x.dims[:-1], out))]

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        x, w, bias = (op.operands + [None])[:3]
        y = op.result
        if self.transpose_w:
            wt = w.type
            t = TensorType(wt.dtype, tuple(reversed(wt.dims)) if wt.dims is not None else None)
            w = b.op1("onnx.Transpose", [w], t, perm=[1, 0])
        out = b.op1("onnx.MatMul", [x, w], y.type)
        if bias is not None:
            out = b.op1("onnx.Add", [out, bias], y.type)
        return [out]


@dialect_op("mc.layer_norm")
class LayerNorm(DialectOp):
    """Layer normalization over the last dims from `axis`: (x - mean) / sqrt(var + epsilon) * scale + bias."""

    axis: int = field(default=-1, validator=instance_of(int))
    epsilon: float = field(default=1e-5, converter=float)
    operands = ("x", "scale", "bias?")

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        # ONNX has LayerNormalization from opset 17, the lowest opset the frontend produces.
        return [b.op1("onnx.LayerNormalization", op.operands, op.result.type, axis=self.axis, epsilon=self.epsilon)]


@dialect_op("mc.group_norm")
class GroupNorm(DialectOp):
    """Group normalization: the channels (axis 1) split into `num_groups` groups, each normalized over its
    channels and the spatial dims, then `* scale + bias` per channel (scale and bias of shape (C,))."""

    num_groups: int = field(validator=instance_of(int))
    epsilon: float = field(default=1e-5, converter=float)
    operands = ("x", "scale?", "bias?")

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        # torch's own export: InstanceNormalization of (N, G, -1) without weights, the weights per channel after.
        x, scale, bias = (op.operands + [None, None])[:3]
        groups, dtype = self.num_groups, x.type.dtype.to_numpy()
        rest = x.type.num_elements // x.type.dims[0] // groups if x.type.is_static else UNKNOWN
        grouped = x.type.with_dims((x.type.dims[0], groups, rest))
        y = b.op1("onnx.Reshape", [x, b.const(np.array([0, groups, -1], np.int64), weights)], grouped)
        unit = [b.const(np.full(groups, v, dtype), weights) for v in (1.0, 0.0)]
        y = b.op1("onnx.InstanceNormalization", [y, *unit], grouped, epsilon=self.epsilon)
        y = b.op1("onnx.Reshape", [y, b.op1("onnx.Shape", [x], TensorType(DType.I64, (x.type.rank,)))], x.type)
        per_channel = np.array([-1] + [1] * (x.type.rank - 2), np.int64)
        for name, w in (("onnx.Mul", scale), ("onnx.Add", bias)):
            if w is not None:
                shaped = w.type.with_dims((w.type.dims[0], *[1] * (x.type.rank - 2)))
                y = b.op1(name, [y, b.op1("onnx.Reshape", [w, b.const(per_channel, weights)], shaped)], x.type)
        return [y]


@dialect_op("mc.gelu")
class Gelu(DialectOp):
    """Gaussian error linear unit: exact 0.5*x*(1+erf(x/sqrt(2))) or the tanh approximation."""

    approximate: str = field(default="none", validator=in_(("none", "tanh")))

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        x = op.operands[0]
        one, half = _scalar(b, 1.0, x, weights), _scalar(b, 0.5, x, weights)
        if self.approximate == "none":
            inner = _like(b, "onnx.Erf", [_like(b, "onnx.Mul", [x, _scalar(b, 1 / math.sqrt(2), x, weights)], x)], x)
        else:  # tanh(sqrt(2/pi) * (x + 0.044715 x^3))
            cube = _like(b, "onnx.Mul", [_like(b, "onnx.Mul", [x, x], x), x], x)
            poly = _like(b, "onnx.Add", [x, _like(b, "onnx.Mul", [cube, _scalar(b, 0.044715, x, weights)], x)], x)
            inner = _like(b, "onnx.Tanh", [_like(b, "onnx.Mul", [poly, _scalar(b, math.sqrt(2 / math.pi), x, weights)], x)], x)
        y = _like(b, "onnx.Mul", [_like(b, "onnx.Mul", [x, half], x), _like(b, "onnx.Add", [inner, one], x)], x)
        return [y]


@dialect_op("mc.silu")
class Silu(DialectOp):
    """Sigmoid linear unit (swish): x * sigmoid(x)."""

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        x = op.operands[0]
        return [_like(b, "onnx.Mul", [x, _like(b, "onnx.Sigmoid", [x], x)], x)]


@dialect_op("mc.mish")
class Mish(DialectOp):
    """Mish: x * tanh(softplus(x)), as torch's nn.Mish exports below opset 18."""

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        x = op.operands[0]
        return [_like(b, "onnx.Mul", [x, _like(b, "onnx.Tanh", [_like(b, "onnx.Softplus", [x], x)], x)], x)]


@dialect_op("mc.embedding")
class Embedding(DialectOp):
    """A lookup table: y[..., :] = table[ids[...], :] for non-negative ids, like nn.Embedding."""

    operands = ("ids", "table")

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        ids, table = types[0], types[1]
        if ids.dims is None or table.dims is None:
            return [TensorType(table.dtype, None)]
        return [TensorType(table.dtype, (*ids.dims, *table.dims[1:]))]

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        ids, table = op.operands
        return [b.op1("onnx.Gather", [table, ids], op.result.type, axis=0)]


@dialect_op("mc.attention")
class Attention(DialectOp):
    """Multi-head scaled dot-product attention: softmax(q_h @ k_h^T * scale + mask) @ v_h, heads merged back.

    q, k and v are projected tensors laid out (batch, seq, heads * head_dim); `mask` is added to the
    scores (batch, heads, seq_q, seq_k) and broadcasts to them. `fill_mask` (bool, broadcasting to the
    scores) replaces the scaled scores by `fill` where it is true, before `mask` is added: torch's
    `scores.masked_fill(m, fill)`, exact also for rows it masks whole (-inf gives NaN there, as in
    torch). `dropout` is the probability of the dropout on the attention probabilities (0: none),
    the identity at inference.
    """

    num_heads: int = field(validator=instance_of(int))
    scale: float = field(converter=float)
    dropout: float = field(default=0.0, converter=float)
    fill: float = field(default=-math.inf, converter=float)
    operands = ("q", "k", "v", "mask?", "fill_mask?")

    @num_heads.validator
    def _positive(self, attribute: Any, value: int) -> None:
        if value < 1:
            raise ValueError(f"num_heads must be at least 1, got {value}")

    @dropout.validator
    def _probability(self, attribute: Any, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {value}")

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        q, v = types[0], types[2]
        if q.dims is None or v.dims is None:
            return [TensorType(q.dtype, None)]
        if len(q.dims) != 3 or len(v.dims) != 3:
            raise ValueError(f"q and v must be (batch, seq, heads * head_dim), got {q} and {v}")
        return [TensorType(q.dtype, (*q.dims[:-1], v.dims[-1]))]

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        q, k, v = op.operands[:3]
        mask = op.operands[3] if len(op.operands) > 3 else None
        fill_mask = op.operands[4] if len(op.operands) > 4 else None
        h = self.num_heads
        # Shape-generic reshapes (0 copies a dim) so the decomposition holds for symbolic batch and seq.
        to_heads = b.const(np.array([0, 0, h, -1], dtype=np.int64), weights)
        merge = b.const(np.array([0, 0, -1], dtype=np.int64), weights)

        def heads(x: Value, perm: list[int]) -> Value:  # (B, S, H*Dh) -> (B, S, H, Dh) -> permuted
            d = x.type.dims
            dh = floordiv(d[2], h)  # symbolic when the width is (UNKNOWN stays unknown)
            split = (d[0], d[1], h, dh)
            r = b.op1("onnx.Reshape", [x, to_heads], x.type.with_dims(split))
            return b.op1("onnx.Transpose", [r], x.type.with_dims(tuple(split[p] for p in perm)), perm=perm)

        qh, kt, vh = heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1]), heads(v, [0, 2, 1, 3])
        score_t = q.type.with_dims((q.type.dims[0], h, q.type.dims[1], k.type.dims[1]))
        scores = b.op1("onnx.MatMul", [qh, kt], score_t)
        scores = b.op1("onnx.Mul", [scores, _scalar(b, self.scale, q, weights)], score_t)
        if fill_mask is not None:
            scores = b.op1("onnx.Where", [fill_mask, _scalar(b, self.fill, q, weights), scores], score_t)
        if mask is not None:
            scores = b.op1("onnx.Add", [scores, mask], score_t)
        probs = b.op1("onnx.Softmax", [scores], score_t, axis=-1)
        if self.dropout > 0:
            ratio = b.const(np.array(self.dropout, dtype=q.type.dtype.to_numpy()), weights)
            training = b.const(np.array(False), weights)
            probs = b.op1("onnx.Dropout", [probs, ratio, training], score_t)
        out_t = vh.type.with_dims((score_t.dims[0], h, score_t.dims[2], vh.type.dims[3]))
        out = b.op1("onnx.MatMul", [probs, vh], out_t)
        out = b.op1("onnx.Transpose", [out], out_t.with_dims(tuple(out_t.dims[p] for p in (0, 2, 1, 3))), perm=[0, 2, 1, 3])
        return [b.op1("onnx.Reshape", [out, merge], op.result.type)]


@dialect_op("mc.cell")
class Cell(DialectOp):
    """A sub-module of the source model (`layer1.0`): its ops in one region, arguments = inputs, yield = outputs.

    `name` is the module path from the source, `cls` the class it belongs to (empty: chosen by the
    backend). `optional` marks a sub-module that some instances of the class lack, and `absent` such an
    instance's missing one (its region forwards its input). `varargs` names the inputs as one variadic
    parameter (`*features`) of a cell whose first use of them is one onnx.Concat of all of them, in
    order (DenseNet's layers). The decomposition inlines the region.
    """

    name: str = field(validator=instance_of(str))
    cls: str = field(default="", validator=instance_of(str))
    absent: bool = field(default=False, validator=instance_of(bool))
    optional: bool = field(default=False, validator=instance_of(bool))
    varargs: str = field(default="", validator=instance_of(str))
    has_region = True
    variadic = True

    def infer(self, types: list[TensorType | None]) -> list[TensorType]:
        raise ValueError("mc.cell takes its result types from its region's yield")

    def decompose(self, b: Builder, op: Op, weights: WeightStore) -> list[Value]:
        return inline_region(b, op)


def inline_region(b: Builder, op: Op) -> list[Value]:
    """Move the ops of `op`'s single region before `b`'s insertion point; returns the values it yields."""
    region = op.regions[0]
    mapping = dict(zip(region.args, op.operands, strict=True))
    term = region.terminator
    for inner in list(region.ops):
        if inner is term:
            continue
        region.ops.remove(inner)
        b.insert(inner)
    replace_uses(b.block, mapping)
    return [mapping.get(v, v) for v in term.operands]


# ----------------------------------------------------------------------------------------------
# verification and lowering


def decompose_op(op: Op, weights: WeightStore) -> None:
    """Replace one `mc.*` op by its decomposition, in place (new ops are located at it, see `_locating`)."""
    spec = DIALECT[op.name].of(op)
    new = spec.decompose(Builder.before(op), op, weights)
    root = _root(op.parent)
    replace_uses(root, dict(zip(op.results, new, strict=True)))
    erase_op(op)


def _root(block: Block) -> Block:
    """The func body holding `block` (uses of a value may sit anywhere below it)."""
    while isinstance(block.parent, Op) and block.parent.parent is not None:
        block = block.parent.parent
    return block


def lower_to_onnx(module: Module) -> Module:
    """A copy of `module` in which every `mc.*` op is replaced by its ONNX decomposition (nested ones too).

    The input is not modified; the copy shares its weight store (decompositions add inline constants only).
    """
    from mindconverter.ir.parser import parse
    from mindconverter.ir.printer import print_module

    copy = parse(print_module(module), weights=module.weights)
    _copy_value_names(module, copy)
    while True:
        pending = [op for op in copy.ops() if op.dialect == "mc"]
        if not pending:
            return copy
        decompose_op(pending[0], copy.weights)


def _copy_value_names(src: Module, dst: Module) -> None:
    """Keep the ONNX tensor names of op results (not printed) so exports of the copy keep source names."""
    for f_src, f_dst in zip(src.funcs, dst.funcs, strict=True):
        for a, b in zip(f_src.walk(), f_dst.walk(), strict=True):
            for r_src, r_dst in zip(a.results, b.results, strict=True):
                if r_dst.name is None:
                    r_dst.name = r_src.name

