"""Test support for passes (built-in and your own): IR text in, one pass, IR text out."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from mindconverter.ir.parser import parse
from mindconverter.ir.printer import print_func, print_module
from mindconverter.ir.verify import verify
from mindconverter.passes.manager import PASSES, PassContext, load_builtin_passes, load_plugin


def _norm(text: str) -> str:
    return textwrap.dedent(text).strip("\n").rstrip() + "\n"


def run_pass_on_text(
    name: str, before: str, options: dict[str, Any] | None = None, plugin: str | Path | None = None
) -> tuple[str, bool]:
    """Parse `before`, verify it, run pass `name`, verify again; returns (printed IR, changed).

    Text holding a `module` prints as a module; text of bare funcs prints as those funcs.
    `plugin` is a .py file to load first (your own passes, as with --pass-plugin).
    """
    load_builtin_passes()
    if plugin is not None:
        load_plugin(plugin)
    if name not in PASSES:
        raise KeyError(f"unknown pass '{name}' (known: {', '.join(sorted(PASSES))})")
    module = parse(_norm(before))
    verify(module)
    changed = bool(PASSES[name].fn(module, PassContext(options=dict(options or {}))))
    verify(module)
    if before.lstrip().startswith("module") or "module @" in before.split("{", 1)[0]:
        return print_module(module), changed
    return "\n".join(print_func(f) for f in module.funcs), changed


def check_pass(
    name: str,
    before: str,
    after: str | None = None,
    *,
    changed: bool,
    options: dict[str, Any] | None = None,
    plugin: str | Path | None = None,
) -> None:
    """Assert that pass `name` turns `before` into `after` (default: unchanged) and reports `changed`."""
    got, did_change = run_pass_on_text(name, before, options, plugin)
    want = _norm(after if after is not None else before)
    assert got.strip() == want.strip(), f"pass '{name}' produced:\n{got}\nexpected:\n{want}"
    assert did_change == changed, f"pass '{name}' reported changed={did_change}, expected {changed}"
