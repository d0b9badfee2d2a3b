"""Tensor types: canonical spelling, parsing back, and the numpy mapping of element types."""

from __future__ import annotations

import numpy as np
import pytest

from mindconverter.errors import IRSyntaxError
from mindconverter.ir import UNKNOWN, DType, Sym, TensorType, parse, tensor_type
from mindconverter.ir.printer import format_type
from mindconverter.ir.type_text import parse_type

SPELLINGS = [
    (tensor_type("f32"), "tensor<f32>"),
    (tensor_type("bool"), "tensor<bool>"),
    (tensor_type("bool", 2), "tensor<2xbool>"),
    (tensor_type("f32", 3, 4), "tensor<3x4xf32>"),
    (tensor_type("f32", Sym("N"), UNKNOWN), "tensor<?Nx?xf32>"),
    (tensor_type("i64", Sym("a x"), 2), 'tensor<?"a x"x2xi64>'),
    (tensor_type("f16", Sym("max_len")), 'tensor<?"max_len"xf16>'),
    (tensor_type("f16", Sym("MAX_LEN"), Sym("Xy")), "tensor<?MAX_LENx?Xyxf16>"),
    (tensor_type("f32", Sym("12")), 'tensor<?"12"xf32>'),
    (tensor_type("f32", Sym("")), 'tensor<?""xf32>'),
    (tensor_type("f32", Sym('q"\\>')), 'tensor<?"q\\"\\\\>"xf32>'),
    (tensor_type("f32", UNKNOWN, UNKNOWN, 0), "tensor<?x?x0xf32>"),
    (TensorType(DType.U8, None), "tensor<*xu8>"),
    (TensorType(DType.STR, None), "tensor<*xstr>"),
]


@pytest.mark.parametrize(("ttype", "text"), SPELLINGS, ids=[t for _, t in SPELLINGS])
def test_type_spelling_round_trips(ttype: TensorType, text: str) -> None:
    assert format_type(ttype) == text
    assert parse_type(text) == ttype


@pytest.mark.parametrize("dtype", list(DType))
def test_every_dtype_round_trips_as_text_and_numpy(dtype: DType) -> None:
    ttype = TensorType(dtype, (2, Sym("N")))
    assert parse_type(str(ttype)) == ttype
    assert DType.from_numpy(dtype.to_numpy()) is dtype


def test_symbols_and_unknown_dims_stay_distinct() -> None:
    t = parse_type('tensor<?x?Nx?"N"x?""xf32>')
    assert t.dims == (UNKNOWN, Sym("N"), Sym("N"), Sym(""))
    assert str(t) == 'tensor<?x?Nx?Nx?""xf32>'


def test_type_properties() -> None:
    static = tensor_type("f32", 2, 3)
    assert (static.rank, static.is_static, static.shape, static.num_elements) == (2, True, (2, 3), 6)
    dynamic = tensor_type("f32", Sym("N"), 3)
    assert (dynamic.is_static, dynamic.num_elements) == (False, None)
    with pytest.raises(ValueError, match="no static shape"):
        _ = dynamic.shape
    assert TensorType(DType.F32, None).rank is None
    assert static.with_dims(None) == TensorType(DType.F32, None)
    assert tensor_type("f32").shape == ()


def test_numpy_mapping() -> None:
    assert DType.from_numpy(np.float32) is DType.F32
    assert DType.from_numpy(np.dtype("<U3")) is DType.STR
    assert DType.from_numpy(np.dtype(object)) is DType.STR
    assert DType.STR.to_numpy() == np.dtype(object)
    assert DType.BF16.to_numpy().name == "bfloat16"
    assert DType.F16.is_float and DType.U8.is_int and not DType.BOOL.is_int
    with pytest.raises(ValueError, match="no IR element type"):
        DType.from_numpy(np.complex64)


@pytest.mark.parametrize(
    ("type_text", "message", "column"),
    [
        ("tensor<3xq32>", "unknown element type 'q32'", 25),
        ("tensor<3x>", "unknown element type ''", 25),
        ("tensor<3?xf32>", "expected 'x' after a dim, got '\\?'", 24),
        ("tensor<?3xf32>", "expected 'x' after a dim, got '3'", 24),
        ("tensor<*x3xf32>", "unknown element type '3xf32'", 25),
    ],
)
def test_malformed_types_report_their_column(type_text: str, message: str, column: int) -> None:
    text = f"func @main(%a: {type_text}) -> () {{\n}}\n"
    with pytest.raises(IRSyntaxError, match=message) as info:
        parse(text)
    assert f"line 1:{column}" in str(info.value)
