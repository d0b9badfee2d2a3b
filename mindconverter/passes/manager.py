"""The pass registry and the PassManager: run a named pipeline, verify after each pass, dump the IR.

A pass is a function `(module, ctx) -> bool` ("did it change the IR") registered with
`@register_pass("kebab-name")`. Built-in passes and user plugins use the same decorator.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from mindconverter.errors import ArgumentError, MindConverterError, PassError, VerifyError
from mindconverter.ir.core import Module
from mindconverter.ir.printer import print_module
from mindconverter.ir.verify import verify
from mindconverter.weights_io import save_weights

log = logging.getLogger("mindconverter")

PassFn = Callable[[Module, "PassContext"], bool]
T = TypeVar("T")


@attrs.frozen
class PassSpec:
    """A registered pass: its name, function, first docstring line and its options class (attrs fields)."""

    name: str
    fn: PassFn
    options: type | None = None

    def option_fields(self) -> list[tuple[str, str, Any, str]]:
        """(kebab-case name, type, default, help) of each option, as `--pass-option` and `ctx.option` spell them."""
        if self.options is None:
            return []
        return [(f.name.replace("_", "-"), str(f.type), f.default, f.metadata.get("help", ""))
                for f in attrs.fields(self.options)]

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


PASSES: dict[str, PassSpec] = {}

#: The built-in pipeline. Shape inference runs again after folding, since folding makes shapes known.
DEFAULT_PIPELINE = (
    "restore-dropout", "cleanup", "infer-shapes", "fold-constants", "cleanup", "dce", "infer-shapes",
    "materialize-shapes", "dce", "simplify-reshapes", "fuse-pad", "fuse-embedding", "fuse-dense", "fuse-layer-norm",
    "fuse-group-norm", "fuse-gelu", "fuse-silu", "fuse-mish", "fuse-multihead-attention", "fuse-attention", "fuse-hard-activations", "dce",
    "structure-modules",
)


def register_pass(name: str, options: type | None = None) -> Callable[[PassFn], PassFn]:
    """Register `fn` as the pass `name` (kebab-case), usable in `--passes` and pipelines.

    `options` is an attrs class whose fields are the pass's options (`fold_limit` is the option
    `fold-limit`); the pass reads them typed with `ctx.options_of(OptionsClass)`.
    """

    def register(fn: PassFn) -> PassFn:
        old = PASSES.get(name)
        # Passes of plugins may be replaced by a plugin loaded later (the same file loaded again by a
        # second conversion in one process, or a user's edited copy); built-in passes may not.
        if old is not None and old.fn is not fn and name not in PLUGIN_PASSES:
            raise ValueError(f"pass '{name}' is already registered by {old.fn.__module__}")
        PASSES[name] = PassSpec(name, fn, options)
        return fn

    return register


#: Modules of the passes package that hold the machinery, not passes.
_NOT_PASSES = frozenset({"manager", "pattern", "testing"})


def load_builtin_passes() -> None:
    """Import every module of the passes package (found on disk: adding a pass is adding its file), so their decorators run."""
    import importlib
    import pkgutil

    import mindconverter.passes as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _NOT_PASSES:
            importlib.import_module(f"{package.__name__}.{info.name}")


#: Module names given to plugin files imported by `load_plugin`.
PLUGIN_PREFIX = "mindconverter_plugin_"
#: Names of the passes registered by plugin files.
PLUGIN_PASSES: set[str] = set()


def load_plugin(path: str | Path) -> None:
    """Import a user's pass file by path so its `@register_pass` / `@register_pattern` decorators run.

    Raises ArgumentError naming the file (and the line, when known) if it cannot be imported.
    """
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(f"pass plugin '{path}' does not exist", fix="check the --pass-plugin path")
    if path.suffix != ".py":
        raise ArgumentError(f"pass plugin '{path}' must be a Python file (.py)", fix="give the .py file that registers your passes")
    load_builtin_passes()
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    name = f"{PLUGIN_PREFIX}{stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ArgumentError(f"pass plugin '{path}' cannot be imported", fix="give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    before = dict(PASSES)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise ArgumentError(
            f"pass plugin '{path}' has a syntax error: {exc.msg}",
            where=f"{path}:{exc.lineno}:{exc.offset or 0}",
            fix="fix the syntax at that line",
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        raise ArgumentError(
            f"pass plugin '{path}' failed to import: {type(exc).__name__}: {exc}",
            where=where,
            fix="fix the plugin (rerun with -v for the traceback); see docs/writing_passes.md",
        ) from exc
    finally:
        PLUGIN_PASSES.update(n for n, s in PASSES.items() if before.get(n) is not s)


@attrs.define
class PassContext:
    """What a pass may use besides the module: its options (`ctx.options`) and a logger."""

    options: dict[str, Any] = attrs.field(factory=dict)
    log: logging.Logger = log

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def options_of(self, cls: type[T]) -> T:
        """The options of a pass as its attrs class `cls`: fields from `options` by their kebab-case name, else defaults."""
        given = {f.name: self.options[f.name.replace("_", "-")] for f in attrs.fields(cls)
                 if f.name.replace("_", "-") in self.options}
        return cls(**given)


@attrs.define
class PassRecord:
    """What one pass did: whether it changed the IR and how long it took."""

    name: str
    changed: bool
    seconds: float


class PassManager:
    """Runs passes in order; verifies after each; dumps and prints IR as asked.

    `before_pass(name, module)` and `after_pass(name, module, changed)` are called around every pass
    (the parity checker hooks in here). Printing: `print_after_all`, `print_after` (pass names),
    `print_after_change` (only passes that changed the IR), `print_after_failure` (the IR a failing
    pass left behind). With `dump_dir`, weights created by passes are saved to `dump_dir/weights.npz`
    so any dump can be resumed or run through `mindconverter-opt`.
    """

    def __init__(
        self,
        pipeline: tuple[str, ...] | list[str] = DEFAULT_PIPELINE,
        *,
        options: dict[str, Any] | None = None,
        verify_each: bool = True,
        dump_dir: Path | None = None,
        print_after_all: bool = False,
        print_fn: Callable[[str], None] = print,
        after_pass: Callable[[str, Module, bool], None] | None = None,
        source_name: str = "",
        print_after: tuple[str, ...] | list[str] = (),
        print_after_change: bool = False,
        print_after_failure: bool = False,
        before_pass: Callable[[str, Module], None] | None = None,
        dump_frontend: bool = True,
        dump_weights: dict[str, Any] | None = None,
    ) -> None:
        load_builtin_passes()
        unknown = [p for p in pipeline if p not in PASSES]
        if unknown:
            raise ArgumentError(
                f"unknown pass '{unknown[0]}'",
                fix=f"known passes: {', '.join(sorted(PASSES))} (load your own with --pass-plugin FILE)",
            )
        unknown = [p for p in print_after if p not in PASSES]
        if unknown:
            raise ArgumentError(
                f"--print-ir-after names unknown pass '{unknown[0]}'", fix=f"known passes: {', '.join(sorted(PASSES))}"
            )
        self.print_after = set(print_after)
        self.print_after_change = print_after_change
        self.print_after_failure = print_after_failure
        self.before_pass = before_pass
        self.dump_frontend = dump_frontend
        self._weights_at_start: dict[str, object] = {}
        self._weights_dumped: set[str] = set()
        # Weights not in the source model that dumps need besides what passes make (a resumed dump's own).
        self._dumped_arrays: dict[str, Any] = dict(dump_weights or {})
        self.pipeline = list(pipeline)
        self.ctx = PassContext(options=dict(options or {}))
        self.verify_each = verify_each
        self.dump_dir = dump_dir
        self.print_after_all = print_after_all
        self.print_fn = print_fn
        self.after_pass = after_pass
        self.source_name = source_name
        self.records: list[PassRecord] = []

    def _header(self, stage: str) -> str:
        return f"source: {self.source_name}  after: {stage}" if self.source_name else f"after: {stage}"

    def _dump(self, module: Module, index: int, stage: str, suffix: str = ".ir") -> Path | None:
        if self.dump_dir is None:
            return None
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        path = self.dump_dir / f"{index:02d}-{stage}{suffix}"
        path.write_text(print_module(module, header=self._header(stage)))
        self._dump_weights(module)
        return path

    def _dump_weights(self, module: Module) -> None:
        """Add the weights referenced by `module` that passes created or changed to dump_dir/weights.npz."""
        new = {}
        for op in module.ops():
            key = op.attrs.get("key") if op.name in ("ir.param", "ir.const") else None
            if not isinstance(key, str) or key not in module.weights or key in self._weights_dumped:
                continue
            array = module.weights.get(key)
            if self._weights_at_start.get(key) is not array:
                new[key] = array
        if new:
            self._weights_dumped.update(new)
            self._dumped_arrays.update(new)
            assert self.dump_dir is not None
            save_weights(self.dump_dir / "weights.npz", self._dumped_arrays, module.weights.origin)

    def run(self, module: Module) -> list[PassRecord]:
        """Run the pipeline on `module` in place."""
        if self.dump_dir is not None:
            # Weights as the source gave them: dumps store only what passes add or change.
            self._weights_at_start = {k: module.weights.get(k) for k in module.weights.keys()}
            stale = self.dump_dir / "weights.npz"
            if stale.exists():
                stale.unlink()
            if self._dumped_arrays:
                self.dump_dir.mkdir(parents=True, exist_ok=True)
                save_weights(stale, self._dumped_arrays, module.weights.origin)
        if self.dump_frontend:
            self._dump(module, 0, "frontend")
        if self.verify_each:
            verify(module)
        ran: list[str] = []
        for index, name in enumerate(self.pipeline, start=1):
            spec = PASSES[name]
            if self.before_pass is not None:
                self.before_pass(name, module)
            start = time.perf_counter()
            try:
                changed = bool(spec.fn(module, self.ctx))
                if self.verify_each:
                    verify(module)
            except MindConverterError as exc:
                failed = self._dump(module, index, name, ".failed.ir")
                self._print_failure(module, name)
                where = f"after pass '{name}' (ran: {', '.join(ran) or 'nothing'})"
                if isinstance(exc, VerifyError):
                    raise PassError(
                        f"pass '{name}' produced invalid IR: {exc.what}",
                        where=f"{exc.where or ''} {where}".strip(),
                        fix=f"this is a bug in '{name}'" + (f"; its output is {failed}" if failed else "; rerun with --dump-ir DIR"),
                    ) from exc
                raise
            except Exception as exc:
                failed = self._dump(module, index, name, ".failed.ir")
                self._print_failure(module, name)
                raise PassError(
                    f"pass '{name}' crashed: {type(exc).__name__}: {exc}",
                    where=f"after pass '{name}' (ran: {', '.join(ran) or 'nothing'})",
                    fix=f"this is a bug in '{name}'; rerun with -v for the traceback"
                    + (f"; IR at failure: {failed}" if failed else ", and --dump-ir DIR for the IR"),
                ) from exc
            seconds = time.perf_counter() - start
            self.records.append(PassRecord(name, changed, seconds))
            ran.append(name)
            log.debug("pass %s: changed=%s (%.2fs)", name, changed, seconds)
            self._dump(module, index, name)
            if self.print_after_all or name in self.print_after or (self.print_after_change and changed):
                self.print_fn(print_module(module, header=self._header(name)))
            if self.after_pass is not None:
                self.after_pass(name, module, changed)
        return self.records

    def _print_failure(self, module: Module, name: str) -> None:
        if self.print_after_failure:
            try:
                text = print_module(module, header=self._header(f"{name} (failed)"))
            except Exception as exc:  # noqa: BLE001 - a broken module may not even print
                text = f"// the IR after the failure of '{name}' cannot be printed: {exc}"
            self.print_fn(text)


def run_default_pipeline(module: Module, **kwargs: Any) -> list[PassRecord]:
    """Run DEFAULT_PIPELINE on `module` (used by tests and the API)."""
    return PassManager(DEFAULT_PIPELINE, **kwargs).run(module)
