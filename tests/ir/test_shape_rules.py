"""Shape rules, one op at a time: IR text in (result types unknown), infer-shapes, IR text out.

Each case is one op applied to typed arguments and small constants; the expected text is the same
func with the result types the rule gives. Symbolic dims print as `?name` and `?(expression)`.
"""

from __future__ import annotations

import textwrap

import pytest

from mindconverter.errors import PassError
from mindconverter.ir.shape_rules import RULES, load_rules
from mindconverter.passes.testing import check_pass, run_pass_on_text


def _func(args: dict[str, str], consts: dict[str, tuple[str, str]], op: str, operands: list[str], attrs: str,
          results: list[str]) -> str:
    # Values other than arguments print numbered: the constants first, then the results.
    number = {n: str(i) for i, n in enumerate(consts)}
    lines = [f'  %{number[n]} = "ir.const"() {{value = dense<{v}>}} : () -> {t}' for n, (v, t) in consts.items()]
    types = {**args, **{n: t for n, (_, t) in consts.items()}}
    ins = ", ".join("none" if o == "none" else types[o] for o in operands)
    names = ", ".join(f"%{len(consts) + i}" for i in range(len(results)))
    outs = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
    attr_text = f" {{{attrs}}}" if attrs else ""
    operand_text = ", ".join("none" if o == "none" else f"%{number.get(o, o)}" for o in operands)
    lines.append(f'  {names} = "onnx.{op}"({operand_text}){attr_text} : ({ins}) -> {outs}')
    lines.append(f'  "ir.return"({names}) : ({", ".join(results)}) -> ()')
    signature = ", ".join(f"%{n}: {t}" for n, t in args.items())
    return f"func @main({signature}) -> {outs} {{\n" + "\n".join(lines) + "\n}"


def check_rule(op: str, args: dict[str, str], want: list[str] | str, operands: list[str] | None = None,
               attrs: str = "", consts: dict[str, tuple[str, str]] | None = None, opset: int | None = None) -> None:
    """`op` on `args` (and `consts`) with unknown result types infers `want` (in a module of `opset`)."""
    want = [want] if isinstance(want, str) else want
    consts = consts or {}
    operands = operands if operands is not None else [*args, *consts]
    unknown = ["tensor<*xf32>"] * len(want)
    before = _func(args, consts, op, operands, attrs, unknown)
    after = _func(args, consts, op, operands, attrs, want)
    if opset is not None:
        before, after = (f"module @m attributes {{opset = {opset}}} {{\n{textwrap.indent(f, '  ')}\n}}" for f in (before, after))
    check_pass("infer-shapes", changed=True, before=before, after=after)


I64 = "tensor<{}xi64>"


def c(values: list[int] | int) -> tuple[str, str]:
    """A small i64 constant."""
    if isinstance(values, int):
        return str(values), "tensor<i64>"
    return str(values), f"tensor<{len(values)}xi64>"


# -- elementwise ------------------------------------------------------------------------------


def test_unary_ops_keep_the_type():
    check_rule("Relu", {"x": "tensor<?bx?sxf16>"}, "tensor<?bx?sxf16>")
    check_rule("Softmax", {"x": "tensor<?bx4xf32>"}, "tensor<?bx4xf32>", attrs="axis = -1")


def test_broadcast_of_a_symbol_against_a_size_gives_the_size():
    check_rule("Add", {"a": "tensor<?bx1x8xf32>", "b": "tensor<?cx8xf32>"}, "tensor<?bx?cx8xf32>")
    check_rule("Mul", {"a": "tensor<?bx1xf32>", "b": "tensor<5xf32>"}, "tensor<?bx5xf32>")
    check_rule("Less", {"a": "tensor<3x1xf32>", "b": "tensor<4xf32>"}, "tensor<3x4xbool>")


def test_where_takes_the_element_type_of_x():
    check_rule("Where", {"c": "tensor<1x?sxbool>", "x": "tensor<i64>", "y": "tensor<?bx1xi64>"}, "tensor<?bx?sxi64>")


def test_cast_and_cast_like():
    check_rule("Cast", {"x": "tensor<?bx3xf32>"}, "tensor<?bx3xi64>", attrs="to = 7")
    check_rule("CastLike", {"x": "tensor<?bxf32>", "t": "tensor<f16>"}, "tensor<?bxf16>")


def test_dropout_mask_is_bool():
    check_rule("Dropout", {"x": "tensor<?bx8xf32>"}, ["tensor<?bx8xf32>", "tensor<?bx8xbool>"])


def test_broadcast_of_different_sizes_is_a_model_error():
    with pytest.raises(PassError, match="do not broadcast"):
        run_pass_on_text("infer-shapes", _func({"a": "tensor<3xf32>", "b": "tensor<4xf32>"}, {}, "Add", ["a", "b"], "",
                                               ["tensor<*xf32>"]))


# -- matrix products ------------------------------------------------------------------------------


def test_matmul_batch_broadcast_and_vectors():
    check_rule("MatMul", {"a": "tensor<?bx4x?sx8xf32>", "w": "tensor<8x16xf32>"}, "tensor<?bx4x?sx16xf32>")
    check_rule("MatMul", {"a": "tensor<?bx?sx8xf32>", "v": "tensor<8xf32>"}, "tensor<?bx?sxf32>")
    check_rule("MatMul", {"q": "tensor<?bx4x?sx8xf32>", "k": "tensor<?bx4x8x?sxf32>"}, "tensor<?bx4x?sx?sxf32>")


def test_matmul_of_mismatched_inner_dims_names_the_op():
    with pytest.raises(PassError, match="'onnx.MatMul' contradict each other: contracted dims .* differ: 3 and 4"):
        run_pass_on_text("infer-shapes", _func({"a": "tensor<2x3xf32>", "b": "tensor<4x5xf32>"}, {}, "MatMul", ["a", "b"],
                                               "", ["tensor<*xf32>"]))


def test_gemm_with_transposes():
    check_rule("Gemm", {"a": "tensor<?bx8xf32>", "w": "tensor<16x8xf32>", "c": "tensor<16xf32>"}, "tensor<?bx16xf32>",
               attrs="transB = 1")


def test_einsum():
    check_rule("Einsum", {"a": "tensor<?bx4x?sx8xf32>", "k": "tensor<?bx4x?tx8xf32>"}, "tensor<?bx4x?sx?txf32>",
               attrs='equation = "bhqd,bhkd->bhqk"')
    check_rule("Einsum", {"a": "tensor<2x3x5xf32>"}, "tensor<2x5x3xf32>", attrs='equation = "...ij->...ji"')


# -- convolutions and pools -----------------------------------------------------------------------


def test_conv_with_symbolic_spatial_dims():
    check_rule("Conv", {"x": "tensor<?Nx3x?hx?wxf32>", "w": "tensor<8x3x3x3xf32>"},
               "tensor<?Nx8x?((h + 1)//2)x?((w + 1)//2)xf32>", attrs="pads = [1, 1, 1, 1], strides = [2, 2]")


def test_conv_auto_pad_dilation_and_groups():
    check_rule("Conv", {"x": "tensor<1x4x?hx10xf32>", "w": "tensor<8x2x3x3xf32>"}, "tensor<1x8x?((h + 1)//2)x5xf32>",
               attrs='auto_pad = "SAME_UPPER", group = 2, strides = [2, 2]')
    check_rule("Conv", {"x": "tensor<1x3x10x10xf32>", "w": "tensor<4x3x3x3xf32>"}, "tensor<1x4x6x6xf32>",
               attrs="dilations = [2, 2]")


def test_conv_transpose():
    check_rule("ConvTranspose", {"x": "tensor<?Nx8x?hx5xf32>", "w": "tensor<8x4x4x4xf32>"},
               "tensor<?Nx4x?(2*h)x10xf32>", attrs="pads = [1, 1, 1, 1], strides = [2, 2]")


def test_pools_with_ceil_mode_and_global_pools():
    check_rule("MaxPool", {"x": "tensor<1x3x8x8xf32>"}, "tensor<1x3x5x5xf32>",
               attrs="ceil_mode = 1, kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]")
    check_rule("AveragePool", {"x": "tensor<1x3x7x?wxf32>"}, "tensor<1x3x3x?(w//2)xf32>",
               attrs="kernel_shape = [2, 2], strides = [2, 2]")
    check_rule("GlobalAveragePool", {"x": "tensor<?Nx3x?hx?wxf32>"}, "tensor<?Nx3x1x1xf32>")


# -- reshaping ------------------------------------------------------------------------------------


def test_reshape_copies_zeros_and_infers_minus_one_symbolically():
    check_rule("Reshape", {"x": "tensor<?bx?sx768xf32>"}, "tensor<?bx?sx12x64xf32>",
               consts={"shape": c([0, 0, 12, 64])})
    check_rule("Reshape", {"x": "tensor<?bx?sx768xf32>"}, "tensor<?bx?(12*s)x64xf32>", consts={"shape": c([0, -1, 64])})
    check_rule("Reshape", {"x": "tensor<?bx?sx12x64xf32>"}, "tensor<?(b*s)x768xf32>", consts={"shape": c([-1, 768])})


def test_reshape_by_a_run_time_shape_keeps_the_rank():
    check_rule("Reshape", {"x": "tensor<?bx6xf32>", "shape": "tensor<3xi64>"}, "tensor<?x?x?xf32>")


def test_reshape_of_the_wrong_size_is_a_model_error():
    with pytest.raises(PassError, match="cannot reshape"):
        run_pass_on_text("infer-shapes", _func({"x": "tensor<2x3xf32>"}, {"s": c([4, -1])}, "Reshape", ["x", "s"], "",
                                               ["tensor<*xf32>"]))


def test_flatten_transpose_squeeze_unsqueeze():
    check_rule("Flatten", {"x": "tensor<?bx3x4x5xf32>"}, "tensor<?(3*b)x20xf32>", attrs="axis = 2")
    check_rule("Flatten", {"x": "tensor<2x3x4x5xf32>"}, "tensor<24x5xf32>", attrs="axis = -1")
    check_rule("Transpose", {"x": "tensor<?bx?sx4xf32>"}, "tensor<?bx4x?sxf32>", attrs="perm = [0, 2, 1]")
    check_rule("Squeeze", {"x": "tensor<?bx1x?sx1xf32>"}, "tensor<?bx?sx1xf32>", consts={"axes": c([1])})
    check_rule("Squeeze", {"x": "tensor<?bx1x?sx1xf32>"}, "tensor<?bx?sxf32>", operands=["x"])
    check_rule("Unsqueeze", {"x": "tensor<?bx?sxf32>"}, "tensor<?bx1x1x?sxf32>", consts={"axes": c([1, -2])})


def test_depth_to_space_and_space_to_depth():
    check_rule("DepthToSpace", {"x": "tensor<?Nx8x?hx3xf32>"}, "tensor<?Nx2x?(2*h)x6xf32>", attrs="blocksize = 2")
    check_rule("SpaceToDepth", {"x": "tensor<?Nx2x?hx6xf32>"}, "tensor<?Nx8x?(h//2)x3xf32>", attrs="blocksize = 2")


# -- joining, splitting, slicing ------------------------------------------------------------------


def test_concat_adds_sizes_along_the_axis():
    check_rule("Concat", {"a": "tensor<?bx?sx8xf32>", "b": "tensor<?bx1x8xf32>"}, "tensor<?bx?(s + 1)x8xf32>",
               attrs="axis = 1")


def test_split_by_sizes_equal_parts_and_num_outputs():
    check_rule("Split", {"x": "tensor<?bx10xf32>"}, ["tensor<?bx3xf32>", "tensor<?bx7xf32>"], attrs="axis = 1",
               consts={"split": c([3, 7])})
    check_rule("Split", {"x": "tensor<?bx?(3*s)xf32>"}, ["tensor<?bx?sxf32>"] * 3, attrs="axis = 1")


def test_slice_with_clamped_and_symbolic_bounds():
    big = 9223372036854775807
    check_rule("Slice", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bx?(s - 1)x8xf32>",
               consts={"starts": c([1]), "ends": c([big]), "axes": c([1])})
    check_rule("Slice", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bx1x8xf32>",
               consts={"starts": c([-1]), "ends": c([big]), "axes": c([1])})
    check_rule("Slice", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bx?sx4xf32>",
               consts={"starts": c([0, 1]), "ends": c([big, big]), "axes": c([1, 2]), "steps": c([1, 2])})
    check_rule("Slice", {"x": "tensor<3x10xf32>"}, "tensor<3x10xf32>",
               consts={"starts": c([-1]), "ends": c([-big]), "axes": c([1]), "steps": c([-1])})


def test_gathers():
    check_rule("Gather", {"t": "tensor<50x32xf32>", "ids": "tensor<?bx?sxi64>"}, "tensor<?bx?sx32xf32>")
    check_rule("Gather", {"x": "tensor<?bx?sx32xf32>"}, "tensor<?bx32xf32>", attrs="axis = 1", consts={"i": c(0)})
    check_rule("GatherElements", {"x": "tensor<?bx9xf32>", "i": "tensor<?bx2xi64>"}, "tensor<?bx2xf32>",
               attrs="axis = 1")
    check_rule("GatherND", {"x": "tensor<?bx5x6xf32>", "i": "tensor<?bx3x1xi64>"}, "tensor<?bx3x6xf32>",
               attrs="batch_dims = 1")


# -- growing and making tensors -------------------------------------------------------------------


def test_expand_tile_pad():
    check_rule("Expand", {"x": "tensor<?bx1x8xf32>"}, "tensor<?bx4x8xf32>", consts={"shape": c([1, 4, 1])})
    check_rule("Tile", {"x": "tensor<?bx8xf32>"}, "tensor<?(2*b)x24xf32>", consts={"r": c([2, 3])})
    check_rule("Pad", {"x": "tensor<?bx?hx8xf32>"}, "tensor<?bx?(h + 6)x8xf32>", consts={"p": c([0, 0, 0, 0, 6, 0])})
    check_rule("Pad", {"x": "tensor<?bx?hx8xf32>"}, "tensor<?bx?hx11xf32>",
               consts={"p": c([1, 2]), "v": ("0.0", "tensor<f32>"), "axes": c([-1])}, opset=18)


def test_resize_by_scales_and_sizes():
    check_rule("Resize", {"x": "tensor<?Nx3x?hx5xf32>"}, "tensor<?Nx3x?(2*h)x10xf32>", operands=["x", "none", "s"],
               consts={"s": ("[1.0, 1.0, 2.0, 2.0]", "tensor<4xf32>")})
    check_rule("Resize", {"x": "tensor<?Nx3x?hx5xf32>"}, "tensor<1x3x7x9xf32>", operands=["x", "none", "none", "s"],
               consts={"s": c([1, 3, 7, 9])})


def test_shape_size_constant_of_shape_range():
    check_rule("Shape", {"x": "tensor<?bx?sx8xf32>"}, "tensor<2xi64>", attrs="start = 1")
    check_rule("Size", {"x": "tensor<?bx?sx8xf32>"}, "tensor<i64>")
    check_rule("ConstantOfShape", {}, "tensor<2x3xf32>", consts={"s": c([2, 3])})
    check_rule("Range", {}, "tensor<4xi64>", consts={"a": c(1), "b": c(9), "d": c(2)})


def test_one_hot_non_zero_top_k():
    check_rule("OneHot", {"i": "tensor<?bx?sxi64>", "v": "tensor<2xf32>"}, "tensor<?bx?sx10xf32>",
               operands=["i", "d", "v"], consts={"d": c(10)})
    check_rule("NonZero", {"x": "tensor<?bx4xf32>"}, "tensor<2x?xi64>")
    check_rule("TopK", {"x": "tensor<?bx10xf32>"}, ["tensor<?bx3xf32>", "tensor<?bx3xi64>"], consts={"k": c([3])})


# -- reductions and normalizations ----------------------------------------------------------------


def test_reductions():
    check_rule("ReduceMean", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bx?sx1xf32>", consts={"a": c([-1])}, opset=18)
    check_rule("ReduceMean", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bx?sx1xf32>", attrs="axes = [-1]")
    check_rule("ReduceSum", {"x": "tensor<?bx?sx8xf32>"}, "tensor<?bxf32>", attrs="keepdims = 0",
               consts={"a": c([1, 2])})
    check_rule("ReduceMax", {"x": "tensor<?bx8xf32>"}, "tensor<1x1xf32>", operands=["x"])
    check_rule("ArgMax", {"x": "tensor<?bx8xf32>"}, "tensor<?bxi64>", attrs="axis = 1, keepdims = 0")


def test_normalizations():
    check_rule("LayerNormalization", {"x": "tensor<?bx?sx8xf32>", "g": "tensor<8xf32>"},
               ["tensor<?bx?sx8xf32>", "tensor<?bx?sx1xf32>", "tensor<?bx?sx1xf32>"])
    check_rule("BatchNormalization", {"x": "tensor<?Nx3x?hx4xf32>", "g": "tensor<3xf32>", "b": "tensor<3xf32>",
                                      "m": "tensor<3xf32>", "v": "tensor<3xf32>"}, "tensor<?Nx3x?hx4xf32>")


def test_lstm_and_gru():
    check_rule("LSTM", {"x": "tensor<?sx?bx4xf32>", "w": "tensor<2x32x4xf32>", "r": "tensor<2x32x8xf32>"},
               ["tensor<?sx2x?bx8xf32>", "tensor<2x?bx8xf32>", "tensor<2x?bx8xf32>"],
               attrs='direction = "bidirectional", hidden_size = 8')
    check_rule("GRU", {"x": "tensor<?bx?sx4xf32>", "w": "tensor<1x24x4xf32>", "r": "tensor<1x24x8xf32>"},
               ["tensor<?bx?sx1x8xf32>", "tensor<?bx1x8xf32>"], attrs="hidden_size = 8, layout = 1")


def test_every_rule_family_is_registered():
    load_rules()
    for name in ("onnx.Conv", "onnx.Reshape", "onnx.Slice", "onnx.LSTM", "onnx.If", "onnx.Loop", "mc.cell",
                 "onnx.Einsum", "onnx.TopK", "onnx.ReduceMean", "onnx.Trilu", "onnx.CumSum"):
        assert name in RULES, name


def test_quantization_det_grid_sample():
    check_rule("QuantizeLinear", {"x": "tensor<?bx4xf32>", "s": "tensor<f32>", "z": "tensor<i8>"}, "tensor<?bx4xi8>")
    check_rule("DequantizeLinear", {"x": "tensor<?bx4xu8>", "s": "tensor<f32>"}, "tensor<?bx4xf32>")
    check_rule("Det", {"x": "tensor<?bx3x3xf32>"}, "tensor<?bxf32>")
    check_rule("GridSample", {"x": "tensor<?bx3x8x8xf32>", "g": "tensor<?bx5x6x2xf32>"}, "tensor<?bx3x5x6xf32>")


def test_data_dependent_and_task_ops():
    check_rule("NonMaxSuppression", {"b": "tensor<?nx8x4xf32>", "s": "tensor<?nx2x8xf32>"}, "tensor<?x3xi64>")
    check_rule("Compress", {"x": "tensor<?bx5xf32>", "c": "tensor<5xbool>"}, "tensor<?bx?xf32>", attrs="axis = 1")
    check_rule("RoiAlign", {"x": "tensor<?bx3x8x8xf32>", "r": "tensor<?rx4xf32>", "i": "tensor<?rxi64>"},
               "tensor<?rx3x2x2xf32>", attrs="output_height = 2, output_width = 2")
    check_rule("MaxUnpool", {"x": "tensor<?bx3x?hx4xf32>", "i": "tensor<?bx3x?hx4xi64>"}, "tensor<?bx3x?(2*h)x8xf32>",
               attrs="kernel_shape = [2, 2], strides = [2, 2]")
    check_rule("NegativeLogLikelihoodLoss", {"x": "tensor<?bx5x?sxf32>", "t": "tensor<?bx?sxi64>"}, "tensor<?bx?sxf32>",
               attrs='reduction = "none"')
