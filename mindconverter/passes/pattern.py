"""Pattern rewrites: `@register_pattern(name, root=...)` declares a fusion that also runs as the pass `name`.

A pattern is a class with two methods:

- `check(self, op, m) -> str | None`: is `op` (an op named `root`) the root of a match? Returns why
  not (a short reason, shown by `--explain-pattern NAME`), or None when it matches. It may record
  what it found in `m` (a dict) for `rewrite`.
- `rewrite(self, op, m, rw) -> None`: replace the match, using the `Rewriter` `rw`.

Matched ops that no longer have users after a rewrite are erased by the driver, so a rewrite only
replaces the root's results (`rw.replace(op, values)`). The registered pass reports whether any
candidate was rewritten; `explain(module, name)` lists every root candidate with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from mindconverter.ir import dialect
from mindconverter.ir.core import Builder, Func, Module, Op, Value, known_array
from mindconverter.ir.uses import Uses
from mindconverter.passes.manager import PassContext, register_pass


@attrs.frozen
class PatternSpec:
    """A registered pattern: its name, the root op name(s) it starts from, and the pattern object."""

    name: str
    roots: tuple[str, ...]
    impl: Any

    @property
    def summary(self) -> str:
        doc = (type(self.impl).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


PATTERNS: dict[str, PatternSpec] = {}


@attrs.frozen
class Candidate:
    """One root candidate of a pattern: the op, its source node, and why it was rejected (None = it matches)."""

    op_name: str
    node: str
    reason: str | None

    @property
    def matched(self) -> bool:
        return self.reason is None


class Rewriter:
    """What a pattern's `rewrite` may use: builders, dialect-op creation, replacement and facts about values.

    Questions about users are answered by one use index of the function (`ir/uses.py`), built on the
    first question and kept current by `builder`, `create` and `replace`: a pattern pass walks the
    function once, whatever the number of rewrites.
    """

    def __init__(self, module: Module, func: Func) -> None:
        self.module, self.func, self.weights = module, func, module.weights
        self._uses: Uses | None = None
        self.touched: list[Op] = []

    @property
    def uses(self) -> Uses:
        """The use index of the function."""
        if self._uses is None:
            self._uses = Uses(self.func)
        return self._uses

    # -- facts ----------------------------------------------------------------------------------

    def users(self, v: Value) -> list[Op]:
        """The ops that use `v` (the func's `ir.return` included)."""
        return self.uses.users(v)

    def only_user(self, v: Value) -> Op | None:
        """The single op using `v` once, or None when it has none or several uses."""
        return self.uses.only_user(v)

    @staticmethod
    def is_known(v: Value | None) -> bool:
        """Whether `v` is known at conversion time (an ir.const or ir.param), even when the data is not loaded."""
        return v is not None and v.op is not None and v.op.name in ("ir.const", "ir.param")

    def known(self, v: Value | None) -> np.ndarray | None:
        """The value of `v` when it is known at conversion time (an ir.const or ir.param)."""
        if v is None or (v.op is not None and v.op.attrs.get("key", "") not in self.weights and "value" not in v.op.attrs):
            return None
        return known_array(v, self.weights)

    def producer(self, v: Value | None, name: str) -> Op | None:
        """The op defining `v` when it is named `name` (e.g. "onnx.MatMul"), else None."""
        if v is None or v.op is None or v.op.name != name:
            return None
        return v.op

    # -- changes --------------------------------------------------------------------------------

    def builder(self, op: Op) -> Builder:
        """A builder inserting before `op`; the ops it creates are indexed."""
        return Builder.before(op, uses=self.uses)

    def create(self, before: Op, name: str, operands: list[Value | None], loc: tuple[str, ...], **attributes: Any) -> Op:
        """Create the dialect op `name` before `before`, typed by its shape rule."""
        return dialect.create(self.builder(before), name, operands, loc, **attributes)

    def replace(self, op: Op, values: list[Value], matched: list[Op] = ()) -> None:
        """Replace the results of `op` by `values`, erase it, and erase the `matched` ops left without users."""
        self.uses.replace(dict(zip(op.results, values, strict=True)))
        self.uses.erase(op)
        self.touched.extend(matched)

    def erase_dead(self) -> None:
        """Erase matched ops whose results are no longer used (in reverse order, so producers go last)."""
        uses = self.uses
        for op in reversed(self.touched):
            if op.parent is not None and all(not uses.count(r) for r in op.results):
                uses.erase(op)
        self.touched.clear()


def in_program_order(ops: list[Op]) -> list[Op]:
    """The matched ops of one block in the order they run (a fused op names its sources in that order)."""
    return sorted(ops, key=lambda o: o.parent.ops.index(o))


def fused_loc(*ops: Op) -> tuple[str, ...]:
    """The source names of the ops a fused op replaces (in order, without repeats)."""
    return tuple(dict.fromkeys(name for op in ops for name in op.loc))


def register_pattern(name: str, root: str | tuple[str, ...] = "onnx.Add") -> Callable[[type], type]:
    """Register a pattern class as `name`; it also becomes the pass `name`."""
    roots = (root,) if isinstance(root, str) else tuple(root)

    def register(cls: type) -> type:
        impl = cls()

        def run(module: Module, ctx: PassContext) -> bool:
            return apply_pattern(module, name)

        run.__doc__ = cls.__doc__
        run.__name__ = name.replace("-", "_")
        register_pass(name)(run)  # first: it refuses a name a built-in already holds
        PATTERNS[name] = PatternSpec(name, roots, impl)
        return cls

    return register


def _candidates(func: Func, roots: tuple[str, ...]) -> list[Op]:
    return [op for op in func.walk() if op.name in roots]


def apply_pattern(module: Module, name: str) -> bool:
    """Rewrite every match of pattern `name` in `module`; returns whether anything changed."""
    spec = PATTERNS[name]
    changed = False
    for func in module.funcs:
        rw = Rewriter(module, func)
        for op in _candidates(func, spec.roots):
            if op.parent is None:  # erased by an earlier rewrite
                continue
            m: dict[str, Any] = {}
            if spec.impl.check(op, m, rw) is None:
                spec.impl.rewrite(op, m, rw)
                changed = True
        rw.erase_dead()
    return changed


def explain(module: Module, name: str) -> list[Candidate]:
    """Every root candidate of pattern `name` in `module`, each with why it was rejected (None: it matches)."""
    from mindconverter.passes.manager import load_builtin_passes

    load_builtin_passes()
    if name not in PATTERNS:
        raise KeyError(f"unknown pattern '{name}' (known: {', '.join(sorted(PATTERNS))})")
    spec = PATTERNS[name]
    out = []
    for func in module.funcs:
        rw = Rewriter(module, func)
        for op in _candidates(func, spec.roots):
            out.append(Candidate(op.name, op.loc_name, spec.impl.check(op, {}, rw)))
    return out
