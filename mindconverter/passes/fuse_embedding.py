"""fuse-embedding: Gather of rows from a weight table becomes mc.embedding (nn.Embedding)."""

from __future__ import annotations

from typing import Any

from mindconverter.ir.core import Op
from mindconverter.ir.types import DType
from mindconverter.passes.pattern import Rewriter, register_pattern


@register_pattern("fuse-embedding", root="onnx.Gather")
class FuseEmbedding:
    """Replace Gather(table, ids, axis=0) with a float32 rank-2 weight table by mc.embedding(ids, table).

    1. The ids must be computed at run time (a constant index is a slice, folding handles it) and be
       integers. Embedding ids are non-negative in the sources that make such tables (torch
       nn.Embedding, Keras Embedding); ONNX's wrapping of negative ids is not kept.
    2. The table must be a weight (ir.param): it becomes the layer's trainable embedding_table.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        table, ids = op.operands
        if op.attr("axis", 0) != 0:
            return f"axis = {op.attr('axis')}, not 0"
        if table.op is None or table.op.name != "ir.param":
            return "the table is not a weight"
        if table.type.dtype != DType.F32 or table.type.rank != 2:
            return f"the table is {table.type}, not a float32 matrix"
        if rw.is_known(ids):
            return "the ids are constant"
        if not ids.type.dtype.is_int:
            return f"the ids are {ids.type.dtype.value}"
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        table, ids = op.operands
        new = rw.create(op, "mc.embedding", [ids, table], op.loc)
        new.result.name = op.result.name
        rw.replace(op, [new.result])
