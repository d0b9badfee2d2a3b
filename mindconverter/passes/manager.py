"""The pass registry and the PassManager: run a named pipeline, verify after each pass, dump the IR.

A pass is a function `(module, ctx) -> bool` ("did it change the IR") registered with
`@register_pass("kebab-name")`. Built-in passes and user plugins use the same decorator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from mindconverter.errors import ArgumentError, MindConverterError, PassError, VerifyError
from mindconverter.ir.core import Module
from mindconverter.ir.printer import print_module
from mindconverter.ir.verify import verify

log = logging.getLogger("mindconverter")

PassFn = Callable[[Module, "PassContext"], bool]


@attrs.frozen
class PassSpec:
    """A registered pass: its name, function and first docstring line."""

    name: str
    fn: PassFn

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


PASSES: dict[str, PassSpec] = {}

#: The built-in pipeline. Shape inference runs again after folding, since folding makes shapes known.
DEFAULT_PIPELINE = ("cleanup", "infer-shapes", "fold-constants", "cleanup", "dce", "infer-shapes")


def register_pass(name: str) -> Callable[[PassFn], PassFn]:
    """Register `fn` as the pass `name` (kebab-case), usable in `--passes` and pipelines."""

    def register(fn: PassFn) -> PassFn:
        if name in PASSES and PASSES[name].fn is not fn:
            raise ValueError(f"pass '{name}' is already registered by {PASSES[name].fn.__module__}")
        PASSES[name] = PassSpec(name, fn)
        return fn

    return register


def load_builtin_passes() -> None:
    """Import the built-in pass modules so their decorators run."""
    from mindconverter.passes import cleanup, dce, fold_constants, infer_shapes  # noqa: F401


@attrs.define
class PassContext:
    """What a pass may use besides the module: its options (`ctx.options`) and a logger."""

    options: dict[str, Any] = attrs.field(factory=dict)
    log: logging.Logger = log

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


@attrs.define
class PassRecord:
    """What one pass did: whether it changed the IR and how long it took."""

    name: str
    changed: bool
    seconds: float


class PassManager:
    """Runs passes in order; verifies after each; dumps and prints IR as asked.

    `after_pass(name, module, changed)` is called after every pass (the parity checker hooks in here).
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
    ) -> None:
        load_builtin_passes()
        unknown = [p for p in pipeline if p not in PASSES]
        if unknown:
            raise ArgumentError(
                f"unknown pass '{unknown[0]}'",
                fix=f"known passes: {', '.join(sorted(PASSES))} (load your own with --pass-plugin FILE)",
            )
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
        return path

    def run(self, module: Module) -> list[PassRecord]:
        """Run the pipeline on `module` in place."""
        self._dump(module, 0, "frontend")
        if self.verify_each:
            verify(module)
        ran: list[str] = []
        for index, name in enumerate(self.pipeline, start=1):
            spec = PASSES[name]
            start = time.perf_counter()
            try:
                changed = bool(spec.fn(module, self.ctx))
                if self.verify_each:
                    verify(module)
            except MindConverterError as exc:
                failed = self._dump(module, index, name, ".failed.ir")
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
            if self.print_after_all:
                self.print_fn(print_module(module, header=self._header(name)))
            if self.after_pass is not None:
                self.after_pass(name, module, changed)
        return self.records


def run_default_pipeline(module: Module, **kwargs: Any) -> list[PassRecord]:
    """Run DEFAULT_PIPELINE on `module` (used by tests and the API)."""
    return PassManager(DEFAULT_PIPELINE, **kwargs).run(module)
