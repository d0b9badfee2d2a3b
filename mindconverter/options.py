"""The options of a conversion, grouped by the stage that reads them (`convert()` builds them from its keywords)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from mindconverter.errors import ArgumentError

CHECK_CHOICES = ("off", "end", "each")
MODE_CHOICES = ("pynative", "graph", "both")


def _one_of(choices: tuple[str, ...], flag: str) -> Callable[[Any, Any, str], None]:
    def check(_instance: Any, _attribute: Any, value: str) -> None:
        if value not in choices:
            raise ArgumentError(f"{flag} must be one of {', '.join(choices)}, got '{value}'")

    return check


def _seed(value: int) -> None:
    if not 0 <= int(value) < 2**63:
        raise ArgumentError(f"--seed must be a non-negative integer below 2**63, got {value}", fix="e.g. --seed 0")


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.define
class CheckOptions:
    """The parity check: when it runs (`off`/`end`/`each`), in which MindSpore mode(s), tolerances and inputs."""

    check: str = attrs.field(default="end", validator=_one_of(CHECK_CHOICES, "--check"))
    mode: str = attrs.field(default="pynative", validator=_one_of(MODE_CHOICES, "--check-mode"))
    rtol: float | None = None
    atol: float | None = None
    input_data: Path | None = attrs.field(default=None, converter=_path)
    seed: int = attrs.field(default=0, validator=lambda _i, _a, v: _seed(v))
    #: Test sizes of symbolic input dims (`{"batch": [1, 3]}`); runtime_check/sizes.py chooses them when None.
    sizes: dict[str, Any] | Sequence[str] | None = None


@attrs.define
class PassOptions:
    """The pipeline: pass names or functions (default pipeline when None), plugins, skipped passes, options."""

    passes: Sequence[str | Callable[..., bool]] | None = None
    plugins: Sequence[str | os.PathLike[str]] = ()
    skip: Sequence[str] = ()
    options: dict[str, Any] | None = None
    fold_batchnorm: bool = False
    resume_ir: Path | None = attrs.field(default=None, converter=_path)


@attrs.define
class DebugOptions:
    """IR dumps and printing, and pattern explanations (`--dump-ir`, `--print-ir-after*`, `--explain-pattern`)."""

    dump_ir: Path | None = attrs.field(default=None, converter=_path)
    print_after_all: bool = False
    print_after: Sequence[str] = ()
    print_after_change: bool = False
    print_after_failure: bool = False
    explain_patterns: Sequence[str] = ()


@attrs.define
class OutputOptions:
    """Where the outputs go (MindConverter's `--output`/`--report`) and what is accepted."""

    output: Path = attrs.field(default=Path("output"), converter=Path)
    report: Path | None = attrs.field(default=None, converter=_path)
    overwrite: bool = False
    allow_unsupported: bool = False
    #: Also export NAME.mindir (the network with its weights; backend/mindir.py) after a successful conversion.
    mindir: bool = False

    @property
    def report_dir(self) -> Path:
        return self.report if self.report is not None else self.output


@attrs.define
class Options:
    """All the options of one conversion."""

    check: CheckOptions = attrs.field(factory=CheckOptions)
    passes: PassOptions = attrs.field(factory=PassOptions)
    debug: DebugOptions = attrs.field(factory=DebugOptions)
    output: OutputOptions = attrs.field(factory=OutputOptions)
