"""infer-shapes: give every value the most precise type the shape rules derive, with symbolic dims."""

from __future__ import annotations

import re

import numpy as np

from mindconverter.errors import PassError
from mindconverter.ir import shape_values
from mindconverter.ir.core import TERMINATORS, Block, Module, Op, Value, known_array
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET, infer_op_types
from mindconverter.ir.printer import format_loc
from mindconverter.ir.shape_rules import Results, ShapeContext, ShapeError, infer_op, load_rules
from mindconverter.ir.symbolic import equal, free_symbols, substitute
from mindconverter.ir.types import Dim, Sym, SymExpr, TensorType, Unknown
from mindconverter.passes.manager import PassContext, register_pass

#: Symbols exporters invent (onnx's `unk__3`, torch's `s0` and `Addunk__3_dim_0`): the last choice of name.
_EXPORTER_SYMBOL = re.compile(r"unk__\d+|_dim_\d+$|^s\d+$|dynamic_axes")

#: Values up to this many elements are handed to ONNX inference with their data (shape operands).
_KNOWN_LIMIT = 4096


def _precision(d: Dim) -> int:
    return 3 if type(d) is int else 2 if isinstance(d, SymExpr) else 1 if isinstance(d, Sym) else 0


def merge(old: TensorType, new: TensorType) -> TensorType:
    """Per dim, keep the better of old and new: a size beats an expression beats a symbol beats unknown."""
    if new.dims is None:
        return old
    if old.dims is None or len(old.dims) != len(new.dims):
        return TensorType(old.dtype, new.dims) if old.dims is None else old
    dims = tuple(n if _precision(n) > _precision(o) else o for o, n in zip(old.dims, new.dims, strict=True))
    return TensorType(old.dtype, dims)


class Unifier:
    """Union-find over symbol names, plus the sizes or expressions some symbols are proven to equal.

    The representative of a class prefers the model's own names: symbols of the graph inputs
    (`batch`), then of the outputs, then any name that is not an exporter's invention (`unk__3`).
    Symbols of the inputs stay symbols: they are never bound to a size or an expression.
    """

    def __init__(self, inputs: set[str], outputs: set[str]) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.parent: dict[str, str] = {}
        self.bound: dict[str, Dim] = {}
        self._resolved: dict[Dim, Dim] = {}

    def __bool__(self) -> bool:
        return bool(self.parent or self.bound)

    def _key(self, name: str) -> tuple:
        origin = 0 if name in self.inputs else 1 if name in self.outputs else 2
        return origin, bool(_EXPORTER_SYMBOL.search(name)), len(name), name

    def find(self, name: str) -> str:
        root = name
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(name, name) != root:  # path compression
            self.parent[name], name = root, self.parent[name]
        return root

    def resolve(self, d: Dim) -> Dim:
        """`d` in terms of representatives and bound values."""
        if type(d) is int or isinstance(d, Unknown) or not self:
            return d
        cached = self._resolved.get(d)
        if cached is not None:
            return cached
        if isinstance(d, Sym):
            rep = self.find(d.name)
            out = self.resolve(self.bound[rep]) if rep in self.bound else Sym(rep) if rep != d.name else d
        else:
            out = substitute(d, {n: self.resolve(Sym(n)) for n in free_symbols(d)})
        self._resolved[d] = out
        return out

    def equate(self, a: Dim, b: Dim) -> None:
        """Record that `a` and `b` are the same size (only symbols are solved for)."""
        a, b = self.resolve(a), self.resolve(b)
        if a == b or isinstance(a, Unknown) or isinstance(b, Unknown):
            return
        if isinstance(a, Sym) and isinstance(b, Sym):
            self._union(a.name, b.name)
        elif isinstance(a, Sym):
            self._bind(a.name, b)
        elif isinstance(b, Sym):
            self._bind(b.name, a)

    def _union(self, a: str, b: str) -> None:
        rep, other = sorted((self.find(a), self.find(b)), key=self._key)
        self.parent[other] = rep
        self.parent.setdefault(rep, rep)
        self._resolved.clear()
        if other in self.bound:
            value = self.bound.pop(other)
            if rep in self.bound:
                self.equate(self.bound[rep], value)
            else:
                self._bind(rep, value)

    def _bind(self, name: str, value: Dim) -> None:
        if name in self.inputs or name in free_symbols(value):
            return  # a dynamic input stays dynamic; n == n + 1 style results prove nothing
        self.parent.setdefault(name, name)
        self.bound[name] = value
        self._resolved.clear()


class _Inference:
    """One run of infer-shapes over a module."""

    def __init__(self, module: Module, ctx: PassContext) -> None:
        self.module, self.ctx = module, ctx
        self.opset = int(module.attrs.get("opset", CANONICAL_OPSET))
        main = module.main if module.funcs else None
        inputs = {n for a in main.args for n in a.type.symbols} if main else set()
        outputs = {n for v in main.outputs for n in v.type.symbols} if main else set()
        self.unifier = Unifier(inputs, outputs)
        self.changed = False
        self._cache: dict = {}

    def contents(self, v: Value) -> tuple[Dim, ...] | None:
        """The symbolic entries of a shape tensor (`ir.shape_values`), memoised for one sweep."""
        return shape_values.contents(v, self.module.weights, self._cache)

    def run(self) -> bool:
        for _ in range(4):  # a new equality may refine ops seen before it; few models need a second sweep
            had = (dict(self.unifier.parent), dict(self.unifier.bound))
            self._cache = {}  # types changed since the last sweep
            for func in self.module.funcs:
                self._block(func.body)
            if not self.unifier:
                break
            self._substitute()
            if (self.unifier.parent, self.unifier.bound) == had:
                break
        return self.changed

    def _block(self, block: Block) -> None:
        for op in block.ops:
            if op.name in TERMINATORS or op.name in ("ir.param", "ir.const"):
                continue
            if op.name == "mc.cell":
                for arg, v in zip(op.regions[0].args, op.operands, strict=True):
                    self._set(arg, merge(arg.type, v.type) if v is not None else arg.type)
            for region in op.regions:
                self._block(region)
            self._op(op)

    def _op(self, op: Op) -> None:
        cx = ShapeContext(op, self.module.weights, self.opset, self.contents, self.unifier.equate)
        try:
            types = infer_op(op, cx)
            if types is None:
                types = self._fallback(op)
            if types is None:
                return
            if op.name == "mc.cell":  # its results are exactly what its region yields (the verifier checks)
                for r, t in zip(op.results, types, strict=True):
                    self._set(r, t)
                return
            for r, t in zip(op.results, types, strict=False):
                if t is not None:
                    self._set(r, self._refine(r.type, t))
        except ShapeError as exc:
            raise PassError(
                f"the shapes of '{op.name}' contradict each other: {exc}",
                where=f"'{op.name}'{format_loc(op.loc)} with operands "
                      + ", ".join(str(v.type) if v is not None else "none" for v in op.operands),
                fix="the model is inconsistent at this op (check its declared shapes), or pin input sizes with --shape",
            ) from None

    def _refine(self, old: TensorType, new: TensorType) -> TensorType:
        """`old` made more precise by `new`; ShapeError when they contradict."""
        dtype = new.dtype if old.dims is None else old.dtype
        if new.dims is None:
            return TensorType(dtype, old.dims)
        if old.dims is None:
            return TensorType(dtype, new.dims)
        if len(old.dims) != len(new.dims):
            raise ShapeError(f"the result is declared {old} but the op gives rank {len(new.dims)} ({new})")
        dims = []
        for o, n in zip(old.dims, new.dims, strict=True):
            if type(o) is int and type(n) is int:
                if o != n:
                    raise ShapeError(f"the result is declared {old} but the op gives {new}")
                dims.append(o)
                continue
            if isinstance(o, Unknown) or isinstance(n, Unknown):
                dims.append(n if isinstance(o, Unknown) else o)
                continue
            if o != n:
                if equal(o, n) is False and type(o) is not int and type(n) is not int:
                    raise ShapeError(f"the result is declared {old} but the op gives {new}")
                self.unifier.equate(o, n)
            dims.append(n if _precision(n) >= _precision(o) else o)
        return TensorType(dtype, tuple(dims))

    def _set(self, v: Value, t: TensorType) -> None:
        if t != v.type:
            v.type = t
            self.changed = True

    def _fallback(self, op: Op) -> Results | None:
        """ONNX's shape inference for ops without a rule (onnx dialect only)."""
        if op.dialect != "onnx":
            return None

        def known(v: Value) -> np.ndarray | None:
            if v.type.num_elements is None or v.type.num_elements > _KNOWN_LIMIT:
                return None
            array = known_array(v, self.module.weights)
            if array is None and v.type.dtype.is_int:
                c = self.contents(v)
                if c is not None and all(type(d) is int for d in c):
                    array = np.array(c, dtype=v.type.dtype.to_numpy()).reshape(v.type.shape)
            return array

        try:
            return infer_op_types(op, self.module, known)
        except Exception as exc:  # noqa: BLE001 - onnx raises InferenceError, ValidationError and others
            self.ctx.log.debug("infer-shapes: ONNX inference failed for %s%s: %s", op.name, format_loc(op.loc), exc)
            return None

    def _substitute(self) -> None:
        """Rewrite every type of the module with the unified symbols."""
        resolve = self.unifier.resolve
        for func in self.module.funcs:
            values = list(func.args)
            for op in func.walk():
                values += op.results
                for region in op.regions:
                    values += region.args
            for v in values:
                dims = v.type.dims
                if dims is None or all(type(d) is int for d in dims):
                    continue
                new = tuple(resolve(d) for d in dims)
                if new != dims:
                    self._set(v, v.type.with_dims(new))


@register_pass("infer-shapes")
def infer_shapes(module: Module, ctx: PassContext) -> bool:
    """Refine every value's type with the shape rule of its op (`ir.shape_rules`), in program order.

    1. Types only get more precise: a size beats an expression beats a symbol beats unknown; a rule
       giving another size than a declared one is a model error (PassError naming the op).
    2. Symbols that an op proves equal (broadcast, Concat, MatMul, a declared `?unk__3` where the
       rule gives `?batch`) are unified module-wide, keeping the model's own names.
    3. Regions are inferred inside (mc.cell arguments take its operands' types; If/Loop results
       come from what they yield).
    4. Ops without a rule fall back to ONNX's shape inference, one op at a time.
    """
    load_rules()
    return _Inference(module, ctx).run()


__all__ = ["Unifier", "infer_shapes", "merge"]
