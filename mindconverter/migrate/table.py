"""The declarative torch -> MindSpore API table: TOML files in `api_table/`, one entry per torch API.

An entry is keyed by the torch qualified name (`"torch.nn.Conv2d"`, `"torch.Tensor.view"` for a
Tensor method, `"torch.float32"` for a plain attribute) and says, as data:

    ms          classic target (`nn.Conv2d`, `ops.sum`, `.view` = same-receiver method, `ms.float32`)
    mint        target for `--target mint` when it differs (absent: `ms` is used)
    params      the torch signature as Python parameters: "input, dim=None, keepdim=False, *, out=None"
    rename      torch parameter -> MindSpore keyword ({ dim = "axis", bias = "has_bias" })
    drop        torch parameters left out (device, inplace, dtype where harmless)
    convert     value templates ({ momentum = "1 - {}" }: `{}` is the argument's source code)
    add         MindSpore keywords always added ({ pad_mode = "'pad'" })
    explicit    torch parameters passed even when omitted, because MindSpore's default differs
    unsupported torch parameter -> reason; a call passing it (not equal to torch's default) stays unconverted
    positional  how many leading MindSpore arguments are written positionally (default: torch's required ones)
    split       { betas = ["beta1", "beta2"] }: one torch tuple argument becomes several keywords
    default_from  { stride = "kernel_size" }: when the torch argument is absent (or None) write the other's value
    spread      torch's *varargs stay spread in the MindSpore call (default: packed into one tuple)
    template    a whole-expression template instead of a call ("{input}.shape[{dim}]"), `{name}` = argument
    special     name of a special rewrite (mindconverter/migrate/special/) for what data cannot say
    returns     "tensor" (default for torch functions and Tensor methods), "module", "other"
    kind        "call" (default) or "attribute" (a reference such as `torch.float32`, mapped where read)
    note        shown in docs/api_mapping.md and the report (e.g. a different weight initialisation)
    test        the per-API test: { args = {param = value}, forward = [...], compare = "value"|"shape", rtol }
    untested    why there is no per-API test (instead of `test`)

`[NAME.mint]` overrides any field for `--target mint`. Loading needs no torch or MindSpore.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLE_DIR = Path(__file__).resolve().parent / "api_table"
TARGETS = ("classic", "mint")
_FIELDS = (
    "ms", "mint", "params", "rename", "drop", "convert", "add", "explicit", "unsupported", "positional",
    "template", "special", "returns", "note", "test", "untested", "kind", "spread", "default_from", "split",
)


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None = None  # source text of torch's default; None = required
    kind: str = "normal"  # "normal", "kwonly" (after `*`), "varargs" (`*size`)

    @property
    def required(self) -> bool:
        return self.default is None and self.kind != "varargs"


@dataclass(frozen=True)
class ApiEntry:
    """One torch API and how it becomes MindSpore (see the module docstring for the fields)."""

    name: str
    ms: str = ""
    params: tuple[Param, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    convert: dict[str, str] = field(default_factory=dict)
    add: dict[str, str] = field(default_factory=dict)
    explicit: tuple[str, ...] = ()
    unsupported: dict[str, str] = field(default_factory=dict)
    positional: int | None = None
    template: str = ""
    special: str = ""
    returns: str = ""
    note: str = ""
    test: dict[str, Any] | None = None
    untested: str = ""
    source: str = ""  # the TOML file it came from
    mint_override: dict[str, Any] = field(default_factory=dict)
    default_from: dict[str, str] = field(default_factory=dict)  # absent/None torch arg -> another's value
    split: dict[str, list[str]] = field(default_factory=dict)  # betas -> [beta1, beta2]  # absent/None torch arg -> another's value
    spread: bool = False  # *varargs stay spread (f(a, b)) instead of packed into a tuple (f((a, b)))
    kind: str = "call"  # "call", or "attribute": a reference mapped wherever it is read (torch.float32)

    @property
    def is_method(self) -> bool:
        return self.name.startswith("torch.Tensor.")

    @property
    def method_name(self) -> str:
        return self.name.rsplit(".", 1)[1]

    @property
    def is_attribute(self) -> bool:
        """A non-call reference (dtype, constant): mapped wherever it is read, e.g. torch.float32."""
        return self.kind == "attribute"

    @property
    def returns_kind(self) -> str:
        if self.returns:
            return self.returns
        if self.is_method:
            return "tensor"
        last = self.name.rsplit(".", 1)[1]
        if self.name.startswith(("torch.nn.functional.", "torch.linalg.", "torch.fft.")):
            return "tensor"
        if self.name.startswith("torch.nn.") and last[:1].isupper():
            return "module"
        if self.name.startswith("torch.") and self.name.count(".") == 1 and last[:1].islower():
            return "tensor"
        return "other"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def for_target(self, target: str) -> ApiEntry:
        """The entry as `--target` sees it: `[NAME.mint]` fields override for mint."""
        if target == "mint" and self.mint_override:
            return replace(self, **_coerce(self.mint_override), mint_override={})
        return self

    @property
    def has_target(self) -> bool:
        return bool(self.ms or self.template or self.special)


def parse_params(text: str) -> tuple[Param, ...]:
    """'input, dim=None, *, out=None' -> Params (parsed as a Python parameter list)."""
    if not text.strip():
        return ()
    fn = ast.parse(f"def f({text}): pass").body[0]
    a = fn.args
    out: list[Param] = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, dflt in zip(positional, defaults, strict=True):
        out.append(Param(arg.arg, None if dflt is None else ast.unparse(dflt)))
    if a.vararg:
        out.append(Param(a.vararg.arg, None, "varargs"))
    for arg, dflt in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        out.append(Param(arg.arg, None if dflt is None else ast.unparse(dflt), "kwonly"))
    return tuple(out)


def _coerce(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    if "params" in out and isinstance(out["params"], str):
        out["params"] = parse_params(out["params"])
    for key in ("drop", "explicit"):
        if key in out:
            out[key] = tuple(out[key])
    if "mint" in out:  # the target name for mint: becomes `ms` of the mint view
        mint = out.pop("mint")
        if isinstance(mint, str):
            out.setdefault("mint_override", {})["ms"] = mint
        else:
            out.setdefault("mint_override", {}).update(mint)
    return out


_OUT_REASON = "MindSpore functions return a new tensor: assign the result instead of passing out="


class TableError(ValueError):
    """A malformed table entry (a bug in the table, caught by the table tests)."""


def _entry(name: str, raw: dict[str, Any], source: str) -> ApiEntry:
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise TableError(f"{source}: entry {name!r} has unknown fields {sorted(unknown)}; known: {', '.join(_FIELDS)}")
    data = _coerce(raw)
    entry = ApiEntry(name=name, source=source, **data)
    if entry.param("out") is not None and "out" not in entry.unsupported:  # implied for every entry
        entry = replace(entry, unsupported={**entry.unsupported, "out": _OUT_REASON})
    names = {p.name for p in entry.params}
    for key in ("rename", "convert", "unsupported", "default_from", "split"):
        for p in getattr(entry, key):
            if p not in names:
                raise TableError(f"{source}: entry {name!r}: {key} names {p!r}, not a parameter of {entry.params}")
    for p in (*entry.drop, *entry.explicit):
        if p not in names:
            raise TableError(f"{source}: entry {name!r}: {p!r} is not a parameter")
    mint = entry.for_target("mint")
    if not (entry.ms or entry.template or entry.special or mint.ms or mint.template or mint.special):
        raise TableError(f"{source}: entry {name!r} has no target (ms, template or special)")
    if entry.test is None and not entry.untested:
        raise TableError(f"{source}: entry {name!r} needs a test or an `untested` reason")
    return entry


class ApiTable:
    """All entries by torch name, and Tensor methods by method name."""

    def __init__(self, entries: dict[str, ApiEntry]) -> None:
        self.entries = entries
        self.methods: dict[str, ApiEntry] = {e.method_name: e for e in entries.values() if e.is_method}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> ApiEntry | None:
        return self.entries.get(name)

    def method(self, name: str) -> ApiEntry | None:
        return self.methods.get(name)


def load_table_files(files: list[Path]) -> ApiTable:
    entries: dict[str, ApiEntry] = {}
    for path in files:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        for name, raw in data.items():
            if name in entries:
                raise TableError(f"{path.name}: entry {name!r} is also in {entries[name].source}")
            entries[name] = _entry(name, raw, path.name)
    return ApiTable(entries)


@functools.cache
def load_table() -> ApiTable:
    """The table shipped in mindconverter/migrate/api_table/*.toml (cached)."""
    return load_table_files(sorted(TABLE_DIR.glob("*.toml")))
