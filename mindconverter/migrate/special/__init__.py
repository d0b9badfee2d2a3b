"""Special rewrites: table entries whose mapping data cannot express (`special = "NAME"` in the entry).

A special rewrite is a small class registered with `@register_special(NAME)`; modules of this
package are discovered, never listed by hand. `convert` gets the call's arguments bound to the
torch parameters (source code of each, `None` when omitted) and returns the MindSpore expression as
source text, or raises `Unconvertible(reason)` to leave the call as written (reported).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mindconverter.migrate.table import ApiEntry


class Unconvertible(Exception):
    """This call cannot be mapped; the message is the reason shown in the report."""


class SpecialRewrite:
    """Base class: `convert(entry, args, target) -> str` (the MindSpore expression)."""

    name: str = ""

    def convert(self, entry: ApiEntry, args: dict[str, str | None], target: str) -> str:
        raise NotImplementedError


SPECIALS: dict[str, SpecialRewrite] = {}


def register_special(name: str) -> Callable[[type[SpecialRewrite]], type[SpecialRewrite]]:
    def deco(cls: type[SpecialRewrite]) -> type[SpecialRewrite]:
        if name in SPECIALS:
            raise ValueError(f"special rewrite {name!r} is registered twice")
        cls.name = name
        SPECIALS[name] = cls()
        return cls

    return deco


def load_specials() -> dict[str, SpecialRewrite]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return SPECIALS
