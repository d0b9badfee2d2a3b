"""ONNX-ML operators (the ai.onnx.ml domain): Binarizer, ArrayFeatureExtractor -> ops.*."""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


@emits("ai.onnx.ml.Binarizer")
def binarizer(op: Op, cx: EmitContext) -> str:
    """ai.onnx.ml.Binarizer -> ops.cast(x > threshold, x.dtype): 1 above the threshold, else 0."""
    dtype = cx.in_type(0).dtype
    threshold = cx.number(cx.attr("threshold", 0.0), dtype.to_numpy())
    return f"ops.cast(ops.gt({cx.arg(0)}, {cx.lit(threshold)}), {cx.dtype(dtype)})"


@emits("ai.onnx.ml.ArrayFeatureExtractor")
def array_feature_extractor(op: Op, cx: EmitContext) -> str:
    """ai.onnx.ml.ArrayFeatureExtractor -> ops.gather(x, indices, last axis), reshaped to [*x.shape[:-1], n]."""
    rank, index_rank = cx.in_type(0).rank, cx.in_type(1).rank
    if rank is None or index_rank is None:
        cx.fail("ArrayFeatureExtractor needs the ranks of its inputs")
    x, indices = cx.arg(0), cx.arg(1)
    if rank >= 2 and index_rank == 1:
        # Gathering 1-D indices on the last axis already gives [*x.shape[:-1], n].
        return f"ops.gather({x}, {indices}, {rank - 1})"
    # Otherwise the indices are flattened; a 1-D x gives a [1, n] result.
    shape = (1, -1) if rank == 1 else (*cx.in_shape(0)[:-1], -1)
    flat = indices if index_rank == 1 else f"ops.reshape({indices}, (-1,))"
    return f"ops.reshape(ops.gather({x}, {flat}, {rank - 1}), {cx.lit(shape)})"
