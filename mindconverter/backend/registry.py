"""The emitter registry: the one place that says which ops the backend can turn into MindSpore code.

An emitter is a function `(op, cx) -> str | tuple[str, ...]` returning the Python expression(s)
that compute the op's result(s) inside `construct`. Register it with `@emits("onnx.Relu")`.
docs/supported_ops.md and the registry test are generated from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from mindconverter.backend.context import EmitContext
    from mindconverter.ir.core import Op

Emitted = "str | tuple[str, ...]"
EmitterFn = Callable[["Op", "EmitContext"], "str | tuple[str, ...]"]


@attrs.frozen
class EmitterSpec:
    """One registered emitter: the op it handles and the opset range it covers."""

    op: str
    fn: EmitterFn
    since: int = 1
    until: int | None = None

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""

    def covers(self, opset: int) -> bool:
        return self.since <= opset and (self.until is None or opset <= self.until)


EMITTERS: dict[str, list[EmitterSpec]] = {}


def emits(op: str, since: int = 1, until: int | None = None) -> Callable[[EmitterFn], EmitterFn]:
    """Register the decorated function as the emitter of `op` for opsets since..until (inclusive)."""

    def register(fn: EmitterFn) -> EmitterFn:
        specs = EMITTERS.setdefault(op, [])
        for s in specs:
            overlap = s.since <= (until or 10**9) and since <= (s.until or 10**9)
            if overlap:
                raise ValueError(f"emitter for '{op}' opsets {since}..{until} overlaps {s.fn.__name__}")
        specs.append(EmitterSpec(op, fn, since, until))
        return fn

    return register


def find_emitter(op_name: str, opset: int) -> EmitterSpec | None:
    """The emitter for `op_name` at `opset`; ops outside the `onnx` dialect ignore the opset."""
    load_emitters()
    for spec in EMITTERS.get(op_name, ()):
        if not op_name.startswith("onnx.") or spec.covers(opset):
            return spec
    return None


def load_emitters() -> None:
    """Import every emitter family so that its decorators run."""
    import mindconverter.backend.emitters  # noqa: F401
