"""Rewrite a `torch.utils.data.Dataset` subclass into a plain source class for `GeneratorDataset`."""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import (
    DATASET_COLUMNS,
    DICT_ITEMS,
    SourceRewrite,
    is_any,
    keep_parens,
    position,
)

TORCH_DATASET = (
    "torch.utils.data.Dataset",
    "torch.utils.data.dataset.Dataset",
    "torch.utils.data.IterableDataset",
    "torch.utils.data.dataset.IterableDataset",
)
TO_TENSOR = (
    "torch.tensor",
    "torch.as_tensor",
    "torch.from_numpy",
    "torch.Tensor",
    "torch.FloatTensor",
    "torch.LongTensor",
)
NUMPY_DTYPES = {  # torch dtype attribute -> numpy dtype
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64", "float16": "float16",
    "half": "float16", "int64": "int32", "long": "int32", "int32": "int32", "int": "int32", "int16": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool_",
}  # fmt: skip
TENSOR_DTYPE = {"torch.FloatTensor": "float32", "torch.LongTensor": "int32", "torch.Tensor": "float32"}


def column_name(value: cst.BaseExpression, index: int) -> str:
    """A column name for one returned value: its variable's name, singular (`self.labels[i]` -> 'label')."""
    node = value
    while isinstance(node, (cst.Subscript, cst.Call)):
        node = node.value if isinstance(node, cst.Subscript) else node.args[0].value if node.args else node.func
    name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""
    if name in ("", "self", "np", "torch"):
        return f"column_{index}"
    if re.search(r"[^s]s$", name) and len(name) > 3:
        name = name[:-1]
    return name


@register_rewrite("dataset-source", order=50)
class DatasetSource(SourceRewrite):
    """`class D(Dataset)` -> `class D:` whose `__getitem__` returns numpy values, for
    `GeneratorDataset(D(...), column_names=[...])` (built by the DataLoader rewrite).

    1. The base goes (a source is any class with `__getitem__`/`__len__`, or `__iter__` for an
       IterableDataset); other bases stay.
    2. Returned `torch.tensor(v, dtype=torch.long)` (also `as_tensor`, `from_numpy`, `LongTensor`, ...)
       become `np.asarray(v, dtype=np.int32)`: the dataset pipeline takes numpy, and MindSpore's label
       and index inputs (`nn.CrossEntropyLoss`, `nn.NLLLoss`, gathers) take int32 where torch takes int64.
    3. Column names come from what `__getitem__` returns: `return data, self.labels[idx]` ->
       ['data', 'label'] (a variable's name, a collection's name made singular, else `column_N`); a
       returned dict literal becomes the tuple of its values, its keys the column names. They are kept
       in `ctx.options['dataset_columns'][class name]` for the DataLoader rewrite (and a class returning
       dicts in `ctx.options['dataset_dict_items']`, iterated with `create_dict_iterator()`).
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._classes: list[str | None] = []  # enclosing classes: name if a converted Dataset
        self._columns: list[str] | None = None
        self._in_getitem = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        is_dataset = any(is_any(self, b.value, TORCH_DATASET) for b in node.bases)
        self._classes.append(node.name.value if is_dataset else None)
        self._columns = None

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        name = self._classes.pop()
        if name is None:
            return updated_node
        line, col = position(self, original_node)
        kept = [
            b
            for o, b in zip(original_node.bases, updated_node.bases, strict=True)
            if not is_any(self, o.value, TORCH_DATASET)
        ]
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        columns = self._columns or []
        self.ctx.options.setdefault(DATASET_COLUMNS, {})[name] = columns
        self.ctx.report(
            line, col, "torch.utils.data.Dataset", True, f"-> source class for GeneratorDataset, columns {columns}"
        )
        changes: dict = {"bases": kept}
        if not kept:
            changes.update(lpar=cst.MaybeSentinel.DEFAULT, rpar=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(**changes)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._classes and self._classes[-1] and node.name.value == "__getitem__":
            self._in_getitem += 1
        elif self._in_getitem:
            self._in_getitem += 1  # a nested def: its returns are not the item's

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if self._in_getitem:
            self._in_getitem -= 1
        return updated_node

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if self._in_getitem != 1 or updated_node.value is None:
            return updated_node
        orig, value = original_node.value, updated_node.value
        if isinstance(value, cst.Dict) and all(
            isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString) for e in value.elements
        ):
            names = [e.key.evaluated_value for e in value.elements]
            self.ctx.options.setdefault(DICT_ITEMS, set()).add(self._classes[-1])
            elements = [
                cst.Element(self._numpy(o.value, e.value)) for o, e in zip(orig.elements, value.elements, strict=True)
            ]
            value = (
                cst.Tuple(elements=elements, lpar=[], rpar=[]) if len(elements) > 1 else cst.Tuple(elements=elements)
            )
        elif isinstance(value, cst.Tuple):
            names = [column_name(e.value, i) for i, e in enumerate(value.elements)]
            elements = [
                e.with_changes(value=self._numpy(o.value, e.value))
                for o, e in zip(orig.elements, value.elements, strict=True)
            ]
            value = value.with_changes(elements=elements)
        else:
            names = [column_name(value, 0)]
            value = self._numpy(orig, value)
        if self._columns is None or len(self._columns) != len(names):
            self._columns = _unique(names)
        return updated_node.with_changes(value=value)

    def _numpy(self, orig: cst.BaseExpression, value: cst.BaseExpression) -> cst.BaseExpression:
        """`torch.tensor(v, dtype=torch.long)` -> `np.asarray(v, dtype=np.int32)`; other values unchanged."""
        if not isinstance(orig, cst.Call) or not isinstance(value, cst.Call) or not value.args:
            return value
        if not is_any(self, orig.func, TO_TENSOR):
            return value
        dtype = next((TENSOR_DTYPE[q] for q in TENSOR_DTYPE if is_any(self, orig.func, (q,))), None)
        args = [cst.Arg(value.args[0].value)]
        for a in value.args[1:]:
            if a.keyword is not None and a.keyword.value == "dtype" and isinstance(a.value, cst.Attribute):
                dtype = NUMPY_DTYPES.get(a.value.attr.value, dtype)
        if dtype is not None:
            args = [cst.Arg(value.args[0].value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    cst.Arg(cst.parse_expression(f"np.{dtype}"), keyword=cst.Name("dtype"),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))]  # fmt: skip
        self.ctx.imports_needed.add("import numpy as np")
        return keep_parens(value, cst.Call(func=cst.parse_expression("np.asarray"), args=args))


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i, n in enumerate(names):
        n = n if n not in seen else f"{n}_{i}"
        seen.add(n)
        out.append(n)
    return out
