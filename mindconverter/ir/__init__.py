"""The typed SSA IR: data model, textual form (printer and parser) and verifier."""

from mindconverter.ir import dims_op, mha_op  # noqa: F401 - registers mc.dims and mc.multihead_attention
from mindconverter.ir.core import (
    INLINE_LIMIT,
    Block,
    Builder,
    Dense,
    Func,
    Loc,
    Module,
    Op,
    Value,
    WeightStore,
    const_array,
    erase_op,
    is_param,
    known_array,
    replace_op,
    replace_uses,
    use_counts,
    users,
)
from mindconverter.ir.printer import print_func, print_module
from mindconverter.ir.types import UNKNOWN, Dim, DType, Sym, SymExpr, TensorType, Unknown, tensor_type
from mindconverter.ir.verify import verify

__all__ = [
    "INLINE_LIMIT",
    "UNKNOWN",
    "Block",
    "Builder",
    "DType",
    "Dense",
    "Dim",
    "Func",
    "Loc",
    "Module",
    "Op",
    "Sym",
    "SymExpr",
    "TensorType",
    "Unknown",
    "Value",
    "WeightStore",
    "const_array",
    "erase_op",
    "is_param",
    "known_array",
    "parse",
    "print_func",
    "print_module",
    "replace_op",
    "replace_uses",
    "tensor_type",
    "use_counts",
    "users",
    "verify",
]


def __getattr__(name: str):
    """`parse` is imported on first use: the parser loads a lark grammar, which a conversion never needs."""
    if name == "parse":
        from mindconverter.ir.parser import parse

        return parse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
