"""Shape rules: the result types of an op from its operand types and the contents of its shape operands.

One rule per op, registered once with `@shape_rule("onnx.Conv")` in the module of its op family
(`elementwise`, `linalg`, `conv`, `movement`, `reduce`, `norm`, `rnn`, `control`, `detection`). Dims are
symbolic (`ir.types.Dim`): rules compute them with `mindconverter.ir.symbolic` (`add`, `mul`,
`floordiv`...), which stays on plain ints when every dim is static. A rule:

    @shape_rule("onnx.Flatten")
    def flatten(op: Op, cx: ShapeContext) -> Results:
        x = cx.type(0)
        if x.dims is None:
            return [x.with_dims(None)]
        axis = cx.axis(op.attr("axis", 1), len(x.dims) + 1)
        return [x.with_dims((product(x.dims[:axis]), product(x.dims[axis:])))]

- It returns one `TensorType` per result, or None for a result it cannot tell (the pass keeps the
  declared type); `tensor<*x...>` (`dims=None`) when even the rank is unknown.
- Values of shape operands (Reshape's shape, Slice's starts...) come from `cx.contents(i)`: their
  symbolic entries, known through constants and shape arithmetic, or None at run time.
- A rule that finds its operands contradicting each other (MatMul of 3 by 4 columns) raises
  `ShapeError`; `infer-shapes` reports it as a model error naming the op.
- Two dims that the op proves equal (the channels of Concat's inputs, broadcast symbols) are
  passed to `cx.unify(a, b)`; `infer-shapes` merges the symbols, keeping the user's names.

`mc.*` ops keep their rule in their dialect class (`DialectOp.infer`); `infer_op` uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mindconverter.ir.core import Op, Value, WeightStore, known_array
from mindconverter.ir.symbolic import equal
from mindconverter.ir.types import UNKNOWN, Dim, DType, Sym, TensorType, Unknown

Results = list[TensorType | None]
Rule = Callable[[Op, "ShapeContext"], Results]

#: Rules by op name (`onnx.Conv`); see `shape_rule`.
RULES: dict[str, Rule] = {}


def shape_rule(*names: str) -> Callable[[Rule], Rule]:
    """Register `fn` as the shape rule of each op in `names` (`"onnx.Relu"`, ...)."""

    def register(fn: Rule) -> Rule:
        for name in names:
            if name in RULES:
                raise ValueError(f"shape rule for '{name}' is declared twice ({RULES[name].__module__})")
            RULES[name] = fn
        return fn

    return register


class ShapeError(ValueError):
    """The operands of an op contradict it (a model error); the message says how."""


ContentsFn = Callable[[Value], "tuple[Dim, ...] | None"]


class ShapeContext:
    """What a rule may ask about the op being inferred: operand types, constant values and contents."""

    def __init__(
        self,
        op: Op,
        weights: WeightStore | None,
        opset: int,
        contents: ContentsFn | None = None,
        unify: Callable[[Dim, Dim], None] | None = None,
    ) -> None:
        self.op, self.weights, self.opset = op, weights, opset
        self._contents, self._unify = contents, unify

    # -- operands ---------------------------------------------------------------------------

    def has(self, i: int) -> bool:
        """Whether operand `i` is given (not omitted)."""
        return i < len(self.op.operands) and self.op.operands[i] is not None

    def type(self, i: int) -> TensorType:
        v = self.op.operands[i]
        if v is None:
            raise ShapeError(f"operand {i} of '{self.op.name}' is omitted")
        return v.type

    def array(self, i: int) -> np.ndarray | None:
        """The value of operand `i` when it is a constant or a weight, else None."""
        if not self.has(i):
            return None
        return known_array(self.op.operands[i], self.weights)

    def contents(self, i: int) -> tuple[Dim, ...] | None:
        """The entries of a small integer operand (rank 0 or 1): ints and symbolic dims, or None.

        Known through constants and through shape arithmetic (`Concat(Gather(Shape(x), 0), [12, 64])`
        gives `(?batch, 12, 64)`); None when it is computed from data at run time.
        """
        if not self.has(i):
            return None
        v = self.op.operands[i]
        if not v.type.dtype.is_int:
            return None
        a = known_array(v, self.weights)
        if a is not None:
            return tuple(int(x) for x in np.asarray(a).reshape(-1)) if a.ndim <= 1 else None
        return self._contents(v) if self._contents is not None else None

    def ints(self, i: int) -> list[int] | None:
        """The entries of operand `i` when all of them are known integers."""
        c = self.contents(i)
        return list(c) if c is not None and all(type(d) is int for d in c) else None

    def floats(self, i: int) -> list[float] | None:
        """The entries of a constant float operand (Resize scales)."""
        a = self.array(i)
        return None if a is None else [float(x) for x in np.asarray(a).reshape(-1)]

    # -- helpers ----------------------------------------------------------------------------

    def unify(self, a: Dim, b: Dim) -> None:
        """Record that the op proves dims `a` and `b` equal."""
        if self._unify is not None and a != b:
            self._unify(a, b)

    def axis(self, axis: int, rank: int) -> int:
        """`axis` made non-negative for a tensor of `rank`; ShapeError when out of range."""
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} of '{self.op.name}' is out of range for rank {rank}")
        return axis + rank if axis < 0 else axis

    def same(self, a: Dim, b: Dim, what: str) -> Dim:
        """Two dims the op requires to be equal: the more precise one; ShapeError when provably different."""
        if isinstance(a, Unknown):
            return b
        if isinstance(b, Unknown):
            return a
        if type(a) is int and type(b) is int:
            if a != b:
                raise ShapeError(f"{what} of '{self.op.name}' differ: {a} and {b}")
            return a
        if equal(a, b) is False:
            raise ShapeError(f"{what} of '{self.op.name}' differ: {a} and {b}")
        self.unify(a, b)
        return a if type(a) is int else b if type(b) is int else a


def like(t: TensorType, dtype: DType | None = None) -> TensorType:
    return t if dtype is None or dtype == t.dtype else TensorType(dtype, t.dims)


def broadcast(cx: ShapeContext, shapes: Sequence[tuple[Dim, ...]]) -> tuple[Dim, ...]:
    """Numpy broadcasting of symbolic shapes.

    A 1 broadcasts; a symbol against a size > 1 gives the size (the symbol is 1 or that size). Two
    symbols, neither of which is 1, are the same size: they are unified, as torch's symbolic shapes
    assume that a dynamic size is not 1.
    """
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        out.append(_broadcast_dim(cx, dims))
    return tuple(out)


def _broadcast_dim(cx: ShapeContext, dims: list[Dim]) -> Dim:
    sizes = {d for d in dims if type(d) is int and d != 1}
    if len(sizes) > 1:
        raise ShapeError(f"operands of '{cx.op.name}' do not broadcast: sizes {sorted(sizes)} in one dim")
    if sizes:
        return sizes.pop()
    symbolic = [d for d in dims if not isinstance(d, (int, Unknown))]
    if symbolic:
        first = symbolic[0]
        for other in symbolic[1:]:
            if equal(first, other) is not True:
                cx.unify(first, other)
        # A plain symbol is the best name for the dim when one of them is (`?seq` over `?(min(seq, 1024))`).
        return next((d for d in symbolic if isinstance(d, Sym)), first)
    if any(isinstance(d, Unknown) for d in dims):
        return UNKNOWN
    return 1


def infer_op(op: Op, cx: ShapeContext) -> Results | None:
    """The result types of `op` by its rule; None when no rule covers it (ONNX inference is the fallback)."""
    rule = RULES.get(op.name)
    if rule is not None:
        return rule(op, cx)
    if op.dialect == "mc":
        from mindconverter.ir.dialect import DIALECT

        spec_cls = DIALECT.get(op.name)
        if spec_cls is None or spec_cls.has_region:
            return None
        types = [v.type if v is not None else None for v in op.operands]
        return list(spec_cls.of(op).infer(types))
    return None


def load_rules() -> None:
    """Import every module of this package (found on disk: a new op family is a new file), so their decorators run."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


__all__ = [
    "RULES", "Results", "Rule", "ShapeContext", "ShapeError", "broadcast", "infer_op", "like", "load_rules",
    "shape_rule",
]
