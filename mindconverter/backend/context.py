"""EmitContext: what an emitter can ask about its op and how it declares layers, parameters and tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from mindconverter.backend.calls import Call, Code, array_value, literal
from mindconverter.backend.defaults import DEFAULTS
from mindconverter.ir.core import Op, Value, known_array
from mindconverter.ir.types import DType, TensorType

if TYPE_CHECKING:
    from mindconverter.backend.statements import CellWriter


class Inline(str):
    """An emitted expression substituted at each use instead of being assigned (cheap and pure: `(x.shape[0], 12)`)."""


class EmitError(Exception):
    """Raised by an emitter (through `cx.fail`) when it cannot express this instance of the op."""


MS_DTYPES = {
    DType.F16: "ms.float16",
    DType.BF16: "ms.bfloat16",
    DType.F32: "ms.float32",
    DType.F64: "ms.float64",
    DType.I8: "ms.int8",
    DType.I16: "ms.int16",
    DType.I32: "ms.int32",
    DType.I64: "ms.int64",
    DType.U8: "ms.uint8",
    DType.U16: "ms.uint16",
    DType.U32: "ms.uint32",
    DType.U64: "ms.uint64",
    DType.BOOL: "ms.bool_",
}


@attrs.define
class WeightRef:
    """A known tensor headed for the checkpoint, with the source weight it came from (for the weight map)."""

    array: np.ndarray
    source: str | None = None
    source_shape: tuple[int, ...] = ()
    source_dtype: str = ""

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> WeightRef:
        """The same source weight, transformed (reshaped, transposed, re-ordered) for the target layer.

        Views stay views (of the memory-mapped source): the checkpoint writer makes each tensor
        contiguous only while writing it, so transposed weights are never all in memory at once.
        """
        return WeightRef(fn(self.array), self.source, self.source_shape, self.source_dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


def array_literal(array: np.ndarray) -> str:
    """Nested-list literal of a small array, floats printed so they round-trip in the array's dtype."""
    return literal(array_value(array))


class EmitContext:
    """Per-op view given to an emitter. Results are Python expressions (strings) for `construct`."""

    def __init__(self, writer: CellWriter, op: Op) -> None:
        self.writer = writer
        self.op = op

    # -- facts about the op --------------------------------------------------------------------

    @property
    def opset(self) -> int:
        return self.writer.opset

    def attr(self, name: str, default: Any = None) -> Any:
        return self.op.attrs.get(name, default)

    def operand(self, i: int) -> Value | None:
        return self.op.operands[i] if i < len(self.op.operands) else None

    def has(self, i: int) -> bool:
        """Whether optional input i is present."""
        return self.operand(i) is not None

    def in_type(self, i: int) -> TensorType:
        v = self.operand(i)
        if v is None:
            self.fail(f"input {i} is missing")
        return v.type

    def out_type(self, i: int = 0) -> TensorType:
        return self.op.results[i].type

    def in_shape(self, i: int) -> tuple[int, ...]:
        """The static shape of input i; fails (-> placeholder) when it is symbolic."""
        t = self.in_type(i)
        if not t.is_static:
            self.fail(f"input {i} has no static shape ({t})")
        return t.shape

    def out_shape(self, i: int = 0) -> tuple[int, ...]:
        t = self.out_type(i)
        if not t.is_static:
            self.fail(f"output {i} has no static shape ({t})")
        return t.shape

    def const(self, i: int) -> np.ndarray | None:
        """The value of input i when it is known at conversion time (a constant or a weight)."""
        v = self.operand(i)
        return None if v is None else known_array(v, self.writer.weights)

    def const_list(self, i: int, what: str) -> list:
        """Input i as a Python list; fails when it is only known at run time."""
        value = self.const(i)
        if value is None:
            self.fail(f"{what} (input {i}) must be a constant, but it is computed at run time")
        return value.tolist()

    def scalar(self, i: int) -> Any | None:
        """Input i as a Python number when it is a known single-element rank-0 constant."""
        value = self.const(i)
        if value is None or value.size != 1 or value.ndim != 0 or value.dtype == object:
            return None
        return value.dtype.type(value.item()) if value.dtype.kind == "f" else value.item()

    def shape_operand(self, i: int) -> list[str] | None:
        """Input i (a shape, sizes, axes, a count) as one Python expression per element, or None when it is data.

        Constants give literals (`[1, -1, 64]`); an `mc.dims` gives sizes read off tensors
        (`["x.shape[0]", "x.shape[1] * 12", "64"]`); a tensor computed at run time otherwise gives None.
        A rank-0 operand gives one element.
        """
        v = self.operand(i)
        if v is None:
            return None
        known = self.const(i)
        if known is not None:
            if known.dtype.kind not in "iub":
                return None
            return [str(int(e)) for e in np.asarray(known).reshape(-1)]
        if v.op is not None and v.op.name == "mc.dims":
            return self.dims_exprs(v.op)
        return None

    def dims_exprs(self, op: Op) -> list[str]:
        """The Python expressions of an `mc.dims` op's entries, each symbol read as `<tensor>.shape[axis]`."""
        from mindconverter.ir.dims_op import Dims
        from mindconverter.ir.symbolic import to_python

        spec = Dims.of(op)
        sources = spec.sources([v.type if v is not None else None for v in op.operands])

        def name_of(name: str) -> str:
            i, axis = sources[name]
            return f"{self.writer.value_expr(op.operands[i])}.shape[{axis}]"

        return [to_python(d, name_of) for d in spec.entries()]

    @staticmethod
    def is_literal(expr: str) -> bool:
        """Whether a shape_operand element is an integer literal (not a size computed at run time)."""
        return expr.lstrip("-").isdigit()

    def inline(self, expr: str) -> Inline:
        """Return this from an emitter to have `expr` substituted at each use of the result (no statement)."""
        return Inline(expr)

    def weight(self, i: int) -> WeightRef:
        """Input i as a weight for a layer's parameter; fails when it is computed at run time."""
        v = self.operand(i)
        value = self.const(i)
        if v is None or value is None:
            self.fail(f"input {i} must be a weight known at conversion time")
        key = v.op.attrs.get("key") if v.op is not None else None
        source = self.writer.weights.origin.get(key, key) if key else None
        return WeightRef(np.asarray(value), source, tuple(value.shape), str(value.dtype))

    def fail(self, reason: str) -> Any:
        """Give up on this op: it becomes a placeholder Cell and a report line with `reason`."""
        raise EmitError(reason)

    # -- code ------------------------------------------------------------------------------------

    def arg(self, i: int) -> str:
        """The expression for input i inside construct (a variable, or a member tensor for constants)."""
        v = self.operand(i)
        if v is None:
            self.fail(f"input {i} is missing")
        return self.writer.value_expr(v)

    def args(self) -> list[str]:
        return [self.arg(i) for i in range(len(self.op.operands)) if self.op.operands[i] is not None]

    def layer(self, cls: str, *args: Any, weights: dict[str, WeightRef] | None = None, hint: str | None = None,
              **kwargs: Any) -> str:
        """Declare `self.<member> = cls(*args, **kwargs)` in __init__; returns `self.<member>`.

        `weights` maps the layer's parameter names (`weight`, `bias`, `gamma`...) to checkpoint data.
        Arguments that are already code (not plain values) are passed with `Code(...)`. A layer without
        weights called again from the same source module is the same member.
        """
        return self.writer.add_member(self.op, self._call(cls, args, kwargs), weights or {}, hint)

    def shared_layer(self, cls: str, *args: Any) -> str | None:
        """A stateless layer `cls()` as hand-written code has one (`self.relu = nn.ReLU()`), or None for a
        functional call of the source (torch's `F.relu`, a `Relu` of a scoped module's own: `/layer1/Relu`).

        The calls of one source module share it; so do the calls in this cell of ops an exporter named
        without any scope (`n12`, `Relu_3`): the source says nothing against one shared member there.
        """
        if self.source_module() is None and "/" in self.op.loc_name:
            return None
        return self.writer.add_member(self.op, self._call(cls, args, {}), {}, None, shared=True)

    @staticmethod
    def _call(cls: str, args: tuple, kwargs: dict[str, Any]) -> Call:
        """The call of `cls`, without the keyword arguments that restate its MindSpore defaults."""
        defaults = DEFAULTS.get(cls, {})
        return Call(cls, args, {k: v for k, v in kwargs.items() if k not in defaults or _restated(v) != _restated(defaults[k])})

    def source_module(self) -> str | None:
        """The source module this op is a call of (`relu` for `/layer1/layer1.0/relu/Relu`), None for a functional op."""
        return self.writer.source_module(self.op)

    def parameter(self, ref: WeightRef, hint: str | None = None, trainable: bool = True) -> str:
        """Declare a Parameter member holding `ref` (loaded from the checkpoint); returns `self.<member>`."""
        return self.writer.add_parameter(self.op, ref, hint, trainable)

    def tensor(self, array: np.ndarray, hint: str = "const", note: str = "") -> str:
        """An expression for a constant tensor (a member: inline when small, else from the checkpoint).

        `note` explains a constant the emitter computed, as a comment on the member
        (`self.pool_scale = ...  # kernel size / elements counted per window`).
        """
        return self.writer.add_tensor(self.op, np.asarray(array), hint, note)

    def support_class(self, name: str, source: str) -> str:
        """Add a helper `nn.Cell` class (its full source) to the script once; returns its name.

        For ops MindSpore has no correct CPU layer for: the class is written out in the script,
        readable and editable, instead of hiding the formulation in construct.
        """
        self.writer.support_classes.setdefault(name, source)
        return name

    def emit_region(self, block: Any, args: list[str]) -> list[str]:
        """Emit the ops of a region (an If branch, a Scan/Loop body) into construct; returns the yielded expressions.

        `args` are the expressions bound to the block's arguments (for one unrolled iteration). The
        body's statements are placed before this op's own; each call emits a fresh copy, so an
        unrolled loop calls it once per iteration. Check everything that can fail before calling it:
        statements already emitted are not undone when the emitter gives up later.
        """
        for arg, expr in zip(block.args, args, strict=True):
            self.writer.vars[arg] = expr
        for inner in block.ops:
            if inner.name == "ir.yield":
                return [self.writer.value_expr(v) for v in inner.operands]
            if inner.name not in ("ir.param", "ir.const"):
                self.writer.emit_op(inner)
        return []

    def dtype(self, dtype: DType) -> str:
        try:
            return MS_DTYPES[dtype]
        except KeyError:
            return self.fail(f"MindSpore has no tensor type for {dtype.value}")

    @staticmethod
    def lit(value: Any) -> str:
        return literal(value)

    # -- helpers shared by emitters ------------------------------------------------------------------

    def result_used(self, i: int) -> bool:
        """Whether result i is read by another op or returned by the function."""
        v = self.op.results[i]
        func = self.writer.module.main
        return any(v is o for o in func.outputs) or any(v is u for o in func.walk() for u in o.operands)

    @staticmethod
    def number(value: Any, dtype: Any) -> int | float | bool:
        """A Python number that prints as the shortest literal of `value` in numpy `dtype` (0.1, not 0.100000001)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            return float(str(dtype.type(value)))
        if dtype.kind == "b":
            return bool(value)
        return int(value)


def _restated(value: Any) -> str | None:
    """A value's literal, to compare it with a default (None for code, which never equals one)."""
    return None if isinstance(value, Code) else literal(value)
