"""Tensor types of the IR: element types and shapes whose dims are ints, symbols or unknown."""

from __future__ import annotations

import enum
import re
from typing import Any

import attrs
import numpy as np


class DType(enum.Enum):
    """Element type; the value is the spelling used in IR text."""

    F16 = "f16"
    BF16 = "bf16"
    F32 = "f32"
    F64 = "f64"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    BOOL = "bool"
    STR = "str"

    @property
    def is_float(self) -> bool:
        return self in (DType.F16, DType.BF16, DType.F32, DType.F64)

    @property
    def is_int(self) -> bool:
        return self.value[0] in "iu"

    def to_numpy(self) -> np.dtype:
        if self is DType.BF16:
            import ml_dtypes  # only needed for bf16, which numpy lacks

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(_TO_NUMPY[self])

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        dtype = np.dtype(dtype)
        found = _FROM_NUMPY.get(dtype)  # the common case first: `dtype.name` is slow to compute
        if found is not None:
            return found
        if dtype.name == "bfloat16":
            return DType.BF16
        if dtype.kind in "US" or dtype == np.dtype(object):
            return DType.STR
        try:
            return _FROM_NUMPY[dtype]
        except KeyError:
            raise ValueError(f"numpy dtype {dtype} has no IR element type") from None


_TO_NUMPY = {
    DType.F16: "float16",
    DType.F32: "float32",
    DType.F64: "float64",
    DType.I8: "int8",
    DType.I16: "int16",
    DType.I32: "int32",
    DType.I64: "int64",
    DType.U8: "uint8",
    DType.U16: "uint16",
    DType.U32: "uint32",
    DType.U64: "uint64",
    DType.BOOL: "bool",
    DType.STR: "object",
}
_FROM_NUMPY = {np.dtype(v): k for k, v in _TO_NUMPY.items() if k is not DType.STR}


_BARE_SYM = re.compile(r"[A-Za-wyzA-Z_][A-Za-wyzA-Z0-9_]*")


@attrs.frozen
class Sym:
    """A named symbolic dim: the same name means the same size everywhere in a module."""

    name: str

    def __str__(self) -> str:
        # A bare symbol may not contain a lowercase x: it separates dims in `tensor<?Nx3xf32>`.
        if _BARE_SYM.fullmatch(self.name):
            return f"?{self.name}"
        return "?" + _quote(self.name)


@attrs.frozen
class Unknown:
    """A dim whose size is not known and is not tied to any other dim."""

    def __str__(self) -> str:
        return "?"


UNKNOWN = Unknown()


@attrs.frozen
class SymExpr:
    """A dim computed from symbols (`?(12*b)`, `?((h + 6)//7)`): a sympy expression of positive integers.

    Build and combine these with `mindconverter.ir.symbolic` (add, mul, floordiv, ...), which keeps
    them canonical and returns a plain int or `Sym` when an expression simplifies to one.
    """

    expr: Any

    def __str__(self) -> str:
        from mindconverter.ir.symbolic import expr_text  # sympy only loads when symbols are used

        return f"?({expr_text(self.expr)})"


Dim = int | Sym | SymExpr | Unknown


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@attrs.frozen
class TensorType:
    """A tensor's element type and shape; `dims is None` means the rank itself is unknown."""

    dtype: DType
    dims: tuple[Dim, ...] | None = ()

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    @property
    def is_static(self) -> bool:
        return self.dims is not None and all(isinstance(d, int) for d in self.dims)

    @property
    def shape(self) -> tuple[int, ...]:
        """The static shape; raises if any dim is symbolic or unknown."""
        if not self.is_static:
            raise ValueError(f"{self} has no static shape")
        return self.dims  # type: ignore[return-value]

    @property
    def symbols(self) -> frozenset[str]:
        """Names of the symbols the dims depend on."""
        if self.dims is None or all(isinstance(d, (int, Unknown)) for d in self.dims):
            return frozenset()
        from mindconverter.ir.symbolic import free_symbols

        return frozenset().union(*(free_symbols(d) for d in self.dims))

    @property
    def num_elements(self) -> int | None:
        return int(np.prod(self.shape, dtype=np.int64)) if self.is_static else None

    def with_dims(self, dims: tuple[Dim, ...] | None) -> TensorType:
        return TensorType(self.dtype, None if dims is None else tuple(dims))

    def __str__(self) -> str:
        if self.dims is None:
            return f"tensor<*x{self.dtype.value}>"
        parts = [str(d) for d in self.dims] + [self.dtype.value]
        return "tensor<" + "x".join(parts) + ">"


def tensor_type(dtype: DType | str, *dims: Dim) -> TensorType:
    """Shorthand: tensor_type("f32", 1, Sym("N"), 3)."""
    return TensorType(DType(dtype) if isinstance(dtype, str) else dtype, tuple(dims))
