"""The one registry of structural rewrites (Dataset, DataLoader, training loop, ...).

A rewrite is a libcst transformer class for one idiom the API table cannot express. It registers
itself with `@register_rewrite(name, order=...)`; the driver imports every module in
`mindconverter/migrate/rewrites/` (discovered, never listed by hand) and runs the rewrites in
ascending `order`, each over the module wrapped in a `libcst.metadata.MetadataWrapper`, before the
API table maps the remaining calls.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst


@dataclass
class Finding:
    """One report line: a call site that was converted, or was not (with a suggestion)."""

    line: int  # 1-based, in the *source* script
    col: int  # 1-based column of the call (libcst PositionProvider column + 1)
    api: str  # qualified torch name, e.g. 'torch.nn.Conv2d'
    converted: bool
    message: str = ""  # why not converted / what was done
    suggestion: str = ""  # "Maybe could convert to ..." text, empty when none


@dataclass
class MigrationContext:
    """What every rewrite shares for one file: options, and the findings reported to the user."""

    target: str = "classic"  # "classic" (mindspore.nn / ops) or "mint" (mindspore.mint)
    path: str = "<string>"
    findings: list[Finding] = field(default_factory=list)
    imports_needed: set[str] = field(default_factory=set)  # e.g. "import mindspore as ms", added by the driver
    options: dict[str, Any] = field(default_factory=dict)

    def report(self, line: int, col: int, api: str, converted: bool, message: str = "", suggestion: str = "") -> None:
        self.findings.append(Finding(line, col, api, converted, message, suggestion))


class Rewrite(cst.CSTTransformer):
    """Base class of a structural rewrite. Subclasses declare METADATA_DEPENDENCIES as libcst wants
    (e.g. QualifiedNameProvider, PositionProvider, ScopeProvider) and record what they did with
    `self.ctx.report(...)`."""

    name: str = ""
    order: int = 100

    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__()
        self.ctx = ctx


REWRITES: dict[str, type[Rewrite]] = {}


def register_rewrite(name: str, order: int = 100) -> Callable[[type[Rewrite]], type[Rewrite]]:
    """Class decorator: make a Rewrite subclass run in every migration, in ascending `order`."""

    def deco(cls: type[Rewrite]) -> type[Rewrite]:
        if name in REWRITES and REWRITES[name] is not cls:
            raise ValueError(f"rewrite {name!r} is registered twice")
        cls.name, cls.order = name, order
        REWRITES[name] = cls
        return cls

    return deco


def load_rewrites() -> list[type[Rewrite]]:
    """Import every module of mindconverter.migrate.rewrites; the registered rewrites, in run order."""
    from mindconverter.migrate import rewrites

    for info in pkgutil.iter_modules(rewrites.__path__):
        importlib.import_module(f"{rewrites.__name__}.{info.name}")
    return sorted(REWRITES.values(), key=lambda c: (c.order, c.name))
