"""Print IR as canonical text (see docs/ir_format.md); parser.py reads it back unchanged."""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any

import numpy as np

from mindconverter.ir.core import Block, Dense, Func, Loc, Module, Op, Value
from mindconverter.ir.types import DType, TensorType

HEADER = "// mindconverter-ir v1  "

_BARE_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BARE_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*")
_BARE_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n"}


def quote(s: str) -> str:
    """`s` as a double-quoted literal; escapes `"`, `\\`, newline, and non-printable chars (`\\xNN`, `\\uNNNN`)."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    return '"' + "".join(_escape(c) for c in s) + '"'


def _escape(c: str) -> str:
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c]
    if c.isprintable():
        return c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _name(s: str, bare: re.Pattern[str]) -> str:
    return s if bare.fullmatch(s) else quote(s)


def format_type(t: TensorType) -> str:
    """The canonical spelling of a type, e.g. `tensor<?Nx3xf32>`."""
    return str(t)


# ----------------------------------------------------------------------------------------------
# attribute values


def float_text(x: float, dtype: DType = DType.F64) -> str:
    """The shortest decimal that reads back as the same `dtype` value; always has `.` or `e`, or is nan/inf."""
    if math.isnan(x) or math.isinf(x) or dtype is DType.F64:
        return repr(x)
    np_type = dtype.to_numpy().type
    target = np_type(x)
    with np.errstate(over="ignore"):  # a rounded candidate may overflow the dtype; it then just does not match
        for digits in range(16):
            text = f"{x:.{digits}e}"
            if np_type(float(text)) == target:
                return repr(float(text))
    return repr(x)  # 17 significant digits: exact for every float


def _nest(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    step = math.prod(shape[1:])
    parts = [_nest(items[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
    return "[" + ", ".join(parts) + "]"


def dense_literal(array: np.ndarray) -> str:
    """The `[...]` literal of an array, nested by shape (a bare scalar for rank 0)."""
    dtype = DType.from_numpy(array.dtype)
    flat = array.reshape(-1)
    if dtype is DType.BOOL:
        items = ["true" if x else "false" for x in flat.tolist()]
    elif dtype.is_int:
        items = [str(x) for x in flat.tolist()]
    elif dtype.is_float:
        items = [float_text(float(x), dtype) for x in flat]
    else:
        items = [quote(x if isinstance(x, str) else x.decode()) for x in flat.tolist()]
    return _nest(items, array.shape)


def dense_type(dense: Dense) -> TensorType:
    """The tensor type of a Dense literal."""
    return TensorType(dense.dtype, tuple(dense.array.shape))


def format_attr(value: Any) -> str:
    """One attribute value: int, float, bool, string, list, or Dense (`dense<...> : tensor<...>`)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_attr(x) for x in value) + "]"
    if isinstance(value, Dense):
        return f"dense<{dense_literal(value.array)}> : {dense_type(value)}"
    raise TypeError(f"IR text cannot hold an attribute value of type {type(value).__name__}: {value!r}")


def format_attrs(attrs: dict[str, Any], untyped: str | None = None) -> str:
    """`{a = 1, b = [1, 2]}` in insertion order; the Dense under key `untyped` omits its ` : tensor<...>`."""
    items = (
        f"{_name(k, _BARE_ATTR)} = " + (f"dense<{dense_literal(v.array)}>" if k == untyped else format_attr(v))
        for k, v in attrs.items()
    )
    return "{" + ", ".join(items) + "}"


def _op_attrs(op: Op) -> str:
    """The attribute dict of `op`; an `ir.const` value typed like the result omits ` : tensor<...>`."""
    value = op.attrs.get("value")
    typed_by_result = (
        op.name == "ir.const"
        and isinstance(value, Dense)
        and len(op.results) == 1
        and dense_type(value) == op.results[0].type
    )
    return format_attrs(op.attrs, "value" if typed_by_result else None)


def format_loc(loc: Loc) -> str:
    """` loc("a")`, ` loc(fused["a", "b"])`, or nothing for an unknown location."""
    if not loc:
        return ""
    if len(loc) == 1:
        return f" loc({quote(loc[0])})"
    return " loc(fused[" + ", ".join(quote(n) for n in loc) + "])"


# ----------------------------------------------------------------------------------------------
# value names


class _Namer:
    """Names values of one func: arguments and params by their hint (made unique), others `%0, %1, ...`."""

    def __init__(self, func: Func) -> None:
        self.names: dict[Value, str] = {}
        self.used: set[str] = set()
        self.counter = 0
        self._block(func.body)

    def _block(self, block: Block) -> None:
        for arg in block.args:
            self._define(arg, True)
        for op in block.ops:
            for result in op.results:
                self._define(result, op.name == "ir.param")
            for region in op.regions:
                self._block(region)

    def _define(self, value: Value, use_hint: bool) -> None:
        if value in self.names:  # defined twice (invalid IR): keep the first name
            return
        if use_hint and value.name:
            name, n = value.name, 1
            while name in self.used:
                name, n = f"{value.name}_{n}", n + 1
            self.used.add(name)
            self.names[value] = "%" + _name(name, _BARE_VALUE)
        else:
            self.names[value] = self.number()

    def number(self) -> str:
        """The next `%N`."""
        self.counter += 1
        return f"%{self.counter - 1}"

    def __getitem__(self, value: Value) -> str:
        """The name of `value`; one not defined in the func (invalid IR) gets the next number."""
        name = self.names.get(value)
        if name is None:
            name = self.names[value] = self.number()
        return name


def value_names(func: Func) -> dict[Value, str]:
    """The printed name (`%3`, `%input`) of every value defined in `func`, nested regions included."""
    return _Namer(func).names


# ----------------------------------------------------------------------------------------------
# ops, funcs, modules


class _FuncPrinter:
    """Prints one func, op by op, at a given indentation."""

    def __init__(self, func: Func) -> None:
        self.func = func
        self.names = _Namer(func)
        self.lines: list[str] = []

    def print(self, indent: int) -> list[str]:
        """The lines of the func, its header at `indent` levels of two spaces."""
        pad = "  " * indent
        args = ", ".join(self._arg(a) for a in self.func.args)
        term = self.func.body.terminator
        results = term.operands if term is not None and term.name == "ir.return" else []
        self.lines.append(f"{pad}func @{_name(self.func.name, _BARE_SYMBOL)}({args}) -> {_type_list(results)} {{")
        for op in self.func.body.ops:
            self._op(op, indent + 1)
        self.lines.append(pad + "}")
        return self.lines

    def _arg(self, value: Value) -> str:
        return f"{self.names[value]}: {value.type}"

    def _op(self, op: Op, indent: int) -> None:
        """Append the line(s) of `op`; an op with regions spans several lines."""
        pad = "  " * indent
        head = ", ".join(self.names[r] for r in op.results) + " = " if op.results else ""
        operands = ", ".join("none" if v is None else self.names[v] for v in op.operands)
        line = f"{pad}{head}{quote(op.name)}({operands})"
        attrs = " " + _op_attrs(op) if op.attrs else ""
        operand_types = ", ".join("none" if v is None else str(v.type) for v in op.operands)
        tail = f"{attrs} : ({operand_types}) -> {_type_list(op.results)}{format_loc(op.loc)}"
        if not op.regions:
            self.lines.append(line + tail)
            return
        self.lines.append(line + " ({")
        for i, region in enumerate(op.regions):
            if i:
                self.lines.append(pad + "}, {")
            if region.args:
                self.lines.append(pad + "^bb(" + ", ".join(self._arg(a) for a in region.args) + "):")
            for inner in region.ops:
                self._op(inner, indent + 1)
        self.lines.append(pad + "})" + tail)


def _type_list(values: list[Value] | list[Value | None]) -> str:
    """A single type bare; zero or several in parentheses."""
    types = ["none" if v is None else str(v.type) for v in values]
    return types[0] if len(types) == 1 else "(" + ", ".join(types) + ")"


def print_func(func: Func) -> str:
    """One func as text (no module around it), ending with a newline."""
    return "\n".join(_FuncPrinter(func).print(0)) + "\n"


def print_module(module: Module, header: str | None = None) -> str:
    """The module as canonical text, preceded by `// mindconverter-ir v1  <header>` when a header is given."""
    lines = [HEADER + header] if header is not None else []
    attrs = f" attributes {format_attrs(module.attrs)}" if module.attrs else ""
    lines.append(f"module @{_name(module.name, _BARE_SYMBOL)}{attrs} {{")
    for i, func in enumerate(module.funcs):
        if i:
            lines.append("")
        lines.extend(_FuncPrinter(func).print(1))
    lines.append("}")
    return "\n".join(lines) + "\n"
