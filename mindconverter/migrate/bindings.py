"""Import bindings of a script for the API-table call mapper (mapper.py), and what the mapper records."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _root_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None



class _ImportCollector(cst.CSTVisitor):
    """Every import binding of the file (flow-insensitive): `import torch.nn as nn` -> nn: torch.nn,
    `from torch import nn as tnn` -> tnn: torch.nn, `import torch.nn` -> torch: torch."""

    def __init__(self) -> None:
        super().__init__()
        self.bindings: dict[str, set[str]] = {}

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings.setdefault(alias.asname.name.value, set()).add(full)
            else:
                head = full.split(".", 1)[0]
                self.bindings.setdefault(head, set()).add(head)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = _dotted(node.module) or ""
        for alias in node.names:
            name = _dotted(alias.name) or ""
            bind = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            self.bindings.setdefault(bind, set()).add(f"{module}.{name}")



@dataclass
class Pending:
    """What the mapper decided for one call site."""

    api: str
    converted: bool
    target: str = ""
    message: str = ""
    suggestion: str = ""


@dataclass
class MapStats:
    residual_bindings: set[str] = field(default_factory=set)  # import bindings still used by torch code
    aliases: set[str] = field(default_factory=set)  # MindSpore aliases the converted code uses
    need_torch_import: bool = False
    need_torchvision_import: bool = False
