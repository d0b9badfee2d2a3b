"""Constructor calls as data: a member's `cls(*args, **kwargs)` with its arguments as values, rendered to text last.

`cx.layer()` records a `Call`; class lifting compares the calls of a class's instances argument by
argument (never re-parsing their text), and the renderer prints them. An argument is a plain Python
value (a literal), `Code` (source text such as `ms.float32`), a nested `Call`, a list of calls
(`nn.CellList([Layer(8), Layer(12)])`), or a `Comprehension` of calls whose arguments `Step`.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import numpy as np


@attrs.frozen
class Code:
    """An argument that is already Python source (e.g. `Code("ms.float32")`), not a value to quote."""

    text: str


def literal(value: Any) -> str:
    """A Python literal for ints, floats, bools, strings and (nested) tuples/lists of them."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if np.isnan(v):
            return 'float("nan")'
        if np.isinf(v):
            return 'float("inf")' if v > 0 else '-float("inf")'
        if isinstance(value, np.floating) and not isinstance(value, np.float64):
            return repr(float(str(value)))  # the shortest text that rounds to this float32/float16
        return repr(v)
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted literal with every special character escaped
    if isinstance(value, (tuple, list)):
        items = [literal(v) for v in value]
        if isinstance(value, tuple):
            return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
        return "[" + ", ".join(items) + "]"
    if value is None:
        return "None"
    raise TypeError(f"no literal for {type(value).__name__}")


def plain(value: Any) -> Any:
    """`value` with numpy scalars as the Python values their literals denote (float32 0.1 -> 0.1), so that
    two arguments are equal exactly when their literals are."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if isinstance(value, np.float64) else float(str(value))
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def array_value(array: np.ndarray) -> Any:
    """A small array as nested lists of plain values (floats as the shortest text in the array's dtype)."""
    if array.ndim == 0:
        return plain(array.item() if array.dtype.kind != "f" else array.dtype.type(array))
    return [array_value(a) for a in array]


def is_call_list(value: Any) -> bool:
    """Whether an argument is a list of calls (`[Layer(8), Layer(12)]`) rather than a literal list."""
    return isinstance(value, list) and any(isinstance(v, Call) for v in value)


def argument_text(value: Any) -> str:
    if isinstance(value, (Call, Step, Comprehension)):
        return str(value)
    if isinstance(value, Code):
        return value.text
    if is_call_list(value):
        return "[" + ", ".join(argument_text(v) for v in value) + "]"
    return literal(value)


@attrs.frozen(eq=True, hash=False)
class Call:
    """`callee(*args, **kwargs)`: a member's constructor call (a layer, a Parameter, a generated class)."""

    callee: str
    args: tuple = attrs.field(default=(), converter=lambda a: tuple(plain(v) for v in a))
    kwargs: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=lambda kw: tuple(
        (k, plain(v)) for k, v in (kw.items() if isinstance(kw, dict) else kw)))
    note: str = attrs.field(default="", eq=False)  # why the member holds this (a folded constant's origin)

    def __str__(self) -> str:
        parts = [argument_text(a) for a in self.args] + [f"{k}={argument_text(v)}" for k, v in self.kwargs]
        return f"{self.callee}({', '.join(parts)})"


@attrs.frozen
class Step:
    """`start + step * var`: an argument that steps along a comprehension's variable (`8 + 4 * i`)."""

    start: Any
    step: Any
    var: str

    def __str__(self) -> str:
        return f"{argument_text(self.start)} + {argument_text(self.step)} * {self.var}"


@attrs.frozen
class Comprehension:
    """`[element for var in range(count)]`: a list of calls whose arguments step (`[Layer(8 + 4 * i) for i in range(4)]`)."""

    element: Call
    var: str
    count: Any

    def __str__(self) -> str:
        return f"[{self.element} for {self.var} in range({argument_text(self.count)})]"
