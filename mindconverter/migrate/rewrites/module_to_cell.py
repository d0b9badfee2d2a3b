"""Rewrite `class Net(nn.Module)` into `class Net(nn.Cell)` with `forward` renamed `construct`."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import NN_IMPORT, SourceRewrite, expr, is_any, position

TORCH_MODULE = ("torch.nn.Module", "torch.nn.modules.module.Module")


@register_rewrite("module-to-cell", order=10)
class ModuleToCell(SourceRewrite):
    """`nn.Module` subclass -> `nn.Cell` subclass; its `forward` method -> `construct`.

    1. Only bases that resolve to `torch.nn.Module` change; other bases (mixins, the user's own Module
       subclasses, which are converted themselves) stay.
    2. `super().__init__()` / `super(Net, self).__init__()` are kept: `nn.Cell.__init__` takes no argument.
    3. Calls of `self.forward(...)` inside the class follow the rename.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._cell_depth: list[bool] = []  # per enclosing class: is it a converted Cell?

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._cell_depth.append(any(is_any(self, b.value, TORCH_MODULE) for b in node.bases))

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        is_cell = self._cell_depth.pop()
        if not is_cell:
            return updated_node
        bases = []
        for orig, upd in zip(original_node.bases, updated_node.bases, strict=True):
            if is_any(self, orig.value, TORCH_MODULE):
                line, col = position(self, orig.value)
                self.ctx.report(line, col, "torch.nn.Module", True, "subclass of nn.Cell; forward -> construct")
                upd = upd.with_changes(value=expr("nn.Cell"))
            bases.append(upd)
        self.ctx.imports_needed.add(NN_IMPORT)
        return updated_node.with_changes(bases=bases)

    def _in_cell(self) -> bool:
        return bool(self._cell_depth) and self._cell_depth[-1]

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if self._in_cell() and updated_node.name.value == "forward":
            return updated_node.with_changes(name=cst.Name("construct"))
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if (
            self._in_cell()
            and updated_node.attr.value == "forward"
            and isinstance(updated_node.value, cst.Name)
            and updated_node.value.value == "self"
        ):
            return updated_node.with_changes(attr=cst.Name("construct"))
        return updated_node
