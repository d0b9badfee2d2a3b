"""The IR data model: Value, Op, Block, Func, Module, the weight store, and the Builder.

Values are SSA: each is defined once, by a block argument or an op result. Ops carry an op name
(`onnx.Conv`, `mc.dense`, `ir.param`), attributes, a source location and nested regions (one block
each) for control flow. Weights live outside the text, in `Module.weights`, keyed by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from attrs import define, field

from mindconverter.ir.types import DType, TensorType

if TYPE_CHECKING:
    from mindconverter.ir.uses import Uses

#: Inline constants up to this many elements print as `dense<[...]>`; larger ones go to the weight store.
INLINE_LIMIT = 16

Loc = tuple[str, ...]
"""Source node names an op comes from: () unknown, one name, or several for fused ops."""


@define(eq=False, repr=False)
class Value:
    """An SSA value. `name` is a hint kept for arguments and params (their source name)."""

    type: TensorType
    name: str | None = None
    owner: Op | Block | None = None
    index: int = 0

    @property
    def op(self) -> Op | None:
        """The op that defines this value, or None for a block argument."""
        return self.owner if isinstance(self.owner, Op) else None

    def __repr__(self) -> str:
        where = self.owner.name if isinstance(self.owner, Op) else "arg"
        return f"<Value {self.name or '?'}:{self.type} from {where}>"


@define(eq=False)
class Dense:
    """A tensor literal used as an attribute value (`dense<[...]>`)."""

    array: np.ndarray

    @property
    def dtype(self) -> DType:
        return DType.from_numpy(self.array.dtype)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Dense)
            and self.array.dtype == other.array.dtype
            and self.array.shape == other.array.shape
            and (
                self.array.tolist() == other.array.tolist()
                if self.array.dtype == object  # strings: compare values, not object pointers
                else self.array.tobytes() == other.array.tobytes()  # bitwise: NaNs of any float type match
            )
        )

    def __hash__(self) -> int:
        return hash((self.array.dtype.str, self.array.shape, self.array.tobytes()))


@define(eq=False, repr=False)
class Op:
    """One operation: `results = name(operands) {attrs} loc(...)`, with optional regions."""

    name: str
    operands: list[Value | None] = field(factory=list)  # None: an omitted optional input
    results: list[Value] = field(factory=list)
    attrs: dict[str, Any] = field(factory=dict)
    loc: Loc = ()
    regions: list[Block] = field(factory=list)
    parent: Block | None = None

    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not 1")
        return self.results[0]

    @property
    def dialect(self) -> str:
        """`onnx` for `onnx.Conv`, `com.microsoft` for `com.microsoft.FusedConv`."""
        return self.name.rsplit(".", 1)[0] if "." in self.name else ""

    @property
    def op_type(self) -> str:
        """`Conv` for `onnx.Conv` (domains may contain dots; op types never do)."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def loc_name(self) -> str:
        """The source name used in messages: the first loc entry, or the op name."""
        return self.loc[0] if self.loc else self.name

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def walk(self) -> Iterator[Op]:
        """This op, then every op nested in its regions, in program order."""
        yield self
        for region in self.regions:
            yield from region.walk()

    def __repr__(self) -> str:
        return f"<Op {self.name} loc={self.loc}>"


@define(eq=False, repr=False)
class Block:
    """A list of ops with arguments; function bodies and op regions are blocks."""

    args: list[Value] = field(factory=list)
    ops: list[Op] = field(factory=list)
    parent: Op | Func | None = None

    def __attrs_post_init__(self) -> None:
        for i, a in enumerate(self.args):
            a.owner, a.index = self, i
        for op in self.ops:
            op.parent = self

    def walk(self) -> Iterator[Op]:
        for op in list(self.ops):
            yield from op.walk()

    @property
    def terminator(self) -> Op | None:
        return self.ops[-1] if self.ops and self.ops[-1].name in TERMINATORS else None

    def __repr__(self) -> str:
        return f"<Block args={len(self.args)} ops={len(self.ops)}>"


TERMINATORS = ("ir.return", "ir.yield")


@define(eq=False, repr=False)
class Func:
    """A function: a body block whose arguments are the inputs and whose `ir.return` gives the outputs."""

    name: str
    body: Block

    def __attrs_post_init__(self) -> None:
        self.body.parent = self

    @property
    def args(self) -> list[Value]:
        return self.body.args

    @property
    def return_op(self) -> Op:
        term = self.body.terminator
        if term is None or term.name != "ir.return":
            raise ValueError(f"func @{self.name} does not end with 'ir.return'")
        return term

    @property
    def outputs(self) -> list[Value]:
        return self.return_op.operands

    @property
    def output_names(self) -> list[str]:
        """Source names of the outputs (the `names` attribute of `ir.return`)."""
        names = self.return_op.attr("names")
        return list(names) if names else [f"output_{i}" for i in range(len(self.outputs))]

    def walk(self) -> Iterator[Op]:
        return self.body.walk()

    def __repr__(self) -> str:
        return f"<Func @{self.name}>"


class WeightStore:
    """Weights and large constants by key. Arrays may be lazy (a callable) and are loaded on first use.

    `origin[key]` is the source model's name for the tensor (for the weight map); keys created by
    passes record the source names they were computed from.
    """

    def __init__(self) -> None:
        self._data: dict[str, np.ndarray | Callable[[], np.ndarray]] = {}
        self.origin: dict[str, str] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list[str]:
        return list(self._data)

    def get(self, key: str) -> np.ndarray:
        item = self._data[key]
        if callable(item):
            item = self._data[key] = item()
        return item

    def set(self, key: str, array: np.ndarray | Callable[[], np.ndarray], origin: str | None = None) -> None:
        self._data[key] = array
        if origin is not None:
            self.origin[key] = origin

    def remove(self, key: str) -> None:
        self._data.pop(key, None)
        self.origin.pop(key, None)

    def unique_key(self, base: str) -> str:
        key, n = base, 1
        while key in self._data:
            key, n = f"{base}_{n}", n + 1
        return key


@define(eq=False, repr=False)
class Module:
    """A translation unit: functions (the entry is `main`), module attributes and the weight store."""

    name: str
    funcs: list[Func] = field(factory=list)
    attrs: dict[str, Any] = field(factory=dict)
    weights: WeightStore = field(factory=WeightStore)

    @property
    def main(self) -> Func:
        for f in self.funcs:
            if f.name == "main":
                return f
        if len(self.funcs) == 1:
            return self.funcs[0]
        raise ValueError(f"module @{self.name} has no func @main")

    def ops(self) -> Iterator[Op]:
        """Every op of every function, nested ones included, in program order."""
        for f in self.funcs:
            yield from f.walk()

    def __repr__(self) -> str:
        return f"<Module @{self.name}>"


# ----------------------------------------------------------------------------------------------
# constants and params


def const_array(value: Value, weights: WeightStore | None) -> np.ndarray | None:
    """The numpy value of an `ir.const` (inline or keyed), or None when `value` is not a constant."""
    op = value.op
    if op is None or op.name != "ir.const":
        return None
    if "value" in op.attrs:
        return op.attrs["value"].array
    if weights is not None and op.attr("key") in weights:
        return weights.get(op.attrs["key"])
    return None


def known_array(value: Value, weights: WeightStore | None) -> np.ndarray | None:
    """Like const_array, but params count too: the value is known at conversion time."""
    op = value.op
    if op is not None and op.name == "ir.param" and weights is not None:
        return weights.get(op.attrs["key"])
    return const_array(value, weights)


def is_param(value: Value) -> bool:
    return value.op is not None and value.op.name == "ir.param"


# ----------------------------------------------------------------------------------------------
# building and rewriting


class Builder:
    """Creates ops at an insertion point (before an op, or at the end of a block).

    Given `uses` (a use index, `ir/uses.py`), it indexes the operands of every op it inserts.
    """

    def __init__(self, block: Block, index: int | None = None, uses: Uses | None = None) -> None:
        self.block = block
        self.index = len(block.ops) if index is None else index
        self.uses = uses

    @classmethod
    def before(cls, op: Op, uses: Uses | None = None) -> Builder:
        assert op.parent is not None, f"{op!r} is not in a block"
        return cls(op.parent, op.parent.ops.index(op), uses)

    @classmethod
    def after(cls, op: Op, uses: Uses | None = None) -> Builder:
        assert op.parent is not None, f"{op!r} is not in a block"
        return cls(op.parent, op.parent.ops.index(op) + 1, uses)

    @classmethod
    def at_end(cls, block: Block, uses: Uses | None = None) -> Builder:
        index = len(block.ops) - (1 if block.terminator is not None else 0)
        return cls(block, index, uses)

    def insert(self, op: Op) -> Op:
        op.parent = self.block
        self.block.ops.insert(self.index, op)
        self.index += 1
        if self.uses is not None:
            self.uses.add(op)
        return op

    def create(
        self,
        name: str,
        operands: Iterable[Value | None] = (),
        result_types: Iterable[TensorType] = (),
        attrs: dict[str, Any] | None = None,
        loc: Loc = (),
        regions: Iterable[Block] = (),
    ) -> Op:
        op = Op(name, list(operands), [], dict(attrs or {}), tuple(loc), list(regions))
        op.results = [Value(t, None, op, i) for i, t in enumerate(result_types)]
        for r in op.regions:
            r.parent = op
        return self.insert(op)

    def op1(self, name: str, operands: Iterable[Value], result_type: TensorType, loc: Loc = (), **attrs: Any) -> Value:
        """Create a single-result op and return its result."""
        return self.create(name, operands, [result_type], attrs, loc).result

    def const(self, array: np.ndarray, weights: WeightStore, loc: Loc = (), key: str | None = None) -> Value:
        """An `ir.const`: inline when small, else stored in `weights` under a fresh key."""
        array = np.asarray(array)
        ttype = TensorType(DType.from_numpy(array.dtype), tuple(array.shape))
        if array.size <= INLINE_LIMIT:
            return self.op1("ir.const", [], ttype, loc, value=Dense(array))
        key = weights.unique_key(key or _key_from_loc(loc, "const"))
        weights.set(key, array, origin=loc[0] if loc else None)
        return self.op1("ir.const", [], ttype, loc, key=key)

    def param(self, array: np.ndarray, weights: WeightStore, key: str, loc: Loc = (), origin: str | None = None) -> Value:
        """An `ir.param` (a trainable weight) stored under a fresh key derived from `key`."""
        array = np.asarray(array)
        key = weights.unique_key(key)
        weights.set(key, array, origin=origin)
        ttype = TensorType(DType.from_numpy(array.dtype), tuple(array.shape))
        value = self.op1("ir.param", [], ttype, loc, key=key)
        value.name = key
        return value


def _key_from_loc(loc: Loc, fallback: str) -> str:
    return (loc[0] if loc else fallback) or fallback


def replace_uses(root: Func | Block, mapping: dict[Value, Value]) -> int:
    """Replace every use of a key of `mapping` by its value, in `root` and nested regions; returns the count."""
    if not mapping:
        return 0
    count = 0
    ops = root.walk()
    for op in ops:
        for i, v in enumerate(op.operands):
            new = mapping.get(v) if v is not None else None
            if new is not None:
                while new in mapping:  # chains a -> b -> c
                    new = mapping[new]
                op.operands[i] = new
                count += 1
    return count


def erase_op(op: Op) -> None:
    """Remove `op` from its block. Its results must have no uses left (the verifier checks)."""
    assert op.parent is not None, f"{op!r} is not in a block"
    op.parent.ops.remove(op)
    op.parent = None


def erase_ops(ops: list[Op]) -> None:
    """Remove several ops at once, with one pass over each block they are in (`erase_op` scans its block
    once per op: erasing k ops of an n-op block one by one is k*n)."""
    by_block: dict[int, tuple[Block, set[int]]] = {}
    for op in ops:
        assert op.parent is not None, f"{op!r} is not in a block"
        by_block.setdefault(id(op.parent), (op.parent, set()))[1].add(id(op))
    for block, ids in by_block.values():
        block.ops[:] = [o for o in block.ops if id(o) not in ids]
    for op in ops:
        op.parent = None


def replace_op(func: Func, op: Op, new_values: list[Value]) -> None:
    """Replace all uses of `op`'s results by `new_values`, then erase `op`."""
    if len(new_values) != len(op.results):
        raise ValueError(f"replacing '{op.name}' needs {len(op.results)} values, got {len(new_values)}")
    replace_uses(func, dict(zip(op.results, new_values, strict=True)))
    erase_op(op)


def use_counts(root: Func | Block) -> dict[Value, int]:
    """How many times each value is used as an operand in `root` (nested regions included)."""
    counts: dict[Value, int] = {}
    for op in root.walk():
        for v in op.operands:
            if v is not None:
                counts[v] = counts.get(v, 0) + 1
    return counts


def users(root: Func | Block) -> dict[Value, list[Op]]:
    """The ops using each value, in program order: one walk of `root`.

    A pass that changes the IR between questions keeps a use index instead (`ir.uses.Uses`).
    """
    result: dict[Value, list[Op]] = {}
    for op in root.walk():
        for v in op.operands:
            if v is None:
                continue
            lst = result.setdefault(v, [])
            if not lst or lst[-1] is not op:
                lst.append(op)
    return result
