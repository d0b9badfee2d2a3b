"""Python identifiers for generated code, derived from source names and always safe.

Names from a model file are untrusted: they only ever reach generated code through `identifier()`,
which keeps `[A-Za-z0-9_]`, so a hostile name cannot inject code.
"""

from __future__ import annotations

import builtins
import keyword
import re

from mindconverter.ir.scopes import torch_path

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

    See `ir.scopes.torch_path`; a name without `/` is returned as it is.
    """
    if "/" not in loc_name.strip("/"):
        return loc_name.strip("/")
    return ".".join(torch_path(loc_name))


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
        # Per base: the suffixes below this one were handed out already, so probing resumes here;
        # without it 20,000 "relu"s cost 20,000^2/2 probes.
        self._next: dict[str, int] = {}

    def __call__(self, text: str, fallback: str = "x") -> str:
        base = identifier(text, fallback)
        name, n = base, self._next.get(base, 1)
        if name in self.taken:
            name = f"{base}_{n}"
            while name in self.taken:
                n += 1
                name = f"{base}_{n}"
            self._next[base] = n + 1
        self.taken.add(name)
        return name
