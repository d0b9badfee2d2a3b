"""Python identifiers for generated code, derived from source names and always safe.

Names from a model file are untrusted: they only ever reach generated code through `identifier()`,
which keeps `[A-Za-z0-9_]`, so a hostile name cannot inject code.
"""

from __future__ import annotations

import builtins
import keyword
import re

_RESERVED = (
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | {"ms", "nn", "ops", "np", "Parameter", "Tensor", "self", "mindspore", "numpy", "super", "construct", "cls"}
)
# Attributes of nn.Cell that a member must not shadow.
_CELL_ATTRS = {
    "training", "phase", "params", "cells", "construct", "parameters_dict", "insert_child_to_cell",
    "to_float", "update_parameters_name", "set_train", "trainable_params", "name", "cell_type",
}


def module_path(loc_name: str) -> str:
    """The dotted module path in a torch-style node name: `/layer1/layer1.0/conv1/Conv` -> `layer1.0.conv1`.

    Scopes that extend the previous one (`layer1` then `layer1.0`) are merged; the last segment
    (the op type) is dropped when there is more than one. Names without `/` are returned as they are.
    """
    parts = [p for p in loc_name.split("/") if p]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    scopes = parts[:-1]
    path: list[str] = []
    for seg in scopes:
        if path and seg.startswith(".".join(path) + "."):
            path = seg.split(".")
        elif path and seg.startswith(path[-1] + "."):
            path[-1:] = seg.split(".")
        else:
            path.extend(seg.split("."))
    return ".".join(path)


def identifier(text: str, fallback: str = "x") -> str:
    """A valid, non-reserved Python identifier made from `text` (lowercase, `_`-separated)."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in _RESERVED or name in _CELL_ATTRS or keyword.iskeyword(name):
        name = f"{name}_"
    return name


class Namer:
    """Hands out unique identifiers within one scope (a class's members, or a function's locals)."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken: set[str] = set(taken or ())

    def __call__(self, text: str, fallback: str = "x") -> str:
        base = identifier(text, fallback)
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name
