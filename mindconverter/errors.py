"""Typed errors with stable codes. Every failure a user can see is one of these.

Codes are grouped like MindConverter's: 0xxxxxx arguments, 1xxxxxx model loading, 2xxxxxx file
writing, 3xxxxxx code generation, 4xxxxxx passes and IR, 5xxxxxx parity. docs/error_codes.md lists them.
"""

from __future__ import annotations


class MindConverterError(Exception):
    """Base class: `what` failed, `where`, and what to do (`fix`)."""

    code = 9000000

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        super().__init__(what)
        self.what, self.where, self.fix = what, where, fix

    def render(self) -> str:
        lines = [f"error[{self.code:07d}]: {self.what}"]
        if self.where:
            lines.append(f"  where: {self.where}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class ArgumentError(MindConverterError):
    """A command-line or API argument is missing, malformed or inconsistent."""

    code = 1


class ModelLoadError(MindConverterError):
    """The model file cannot be read, parsed or upgraded."""

    code = 1000001


class ScriptParseError(ModelLoadError):
    """A script given to --in_file is not valid Python; the message has file:line:column."""

    code = 1000002


class FileWriteError(MindConverterError):
    """An output cannot be written (exists without --overwrite, no permission, disk full)."""

    code = 2000001


class ConversionError(MindConverterError):
    """Code generation failed for a reason other than unsupported ops."""

    code = 3000001


class UnsupportedOpsError(ConversionError):
    """Some ops have no emitter; all of them are listed."""

    code = 3000002


class PassError(MindConverterError):
    """A pass failed or broke an invariant (a bug in that pass)."""

    code = 4000001


class VerifyError(MindConverterError):
    """The IR is malformed: broken SSA, wrong types, or an op that contradicts its schema."""

    code = 4000002


class IRSyntaxError(MindConverterError):
    """IR text does not parse; the message has line:column and a caret."""

    code = 4000003


class ParityError(MindConverterError):
    """The converted network does not compute the same numbers as the source."""

    code = 5000001


class RuntimeCheckError(MindConverterError):
    """The reference or the converted network could not be executed for the parity check."""

    code = 5000002


def internal_error_message(exc: BaseException) -> str:
    """What the commands print for an unexpected exception (a bug): no traceback without -v."""
    return (
        f"error[9000000]: internal error: {type(exc).__name__}: {exc}\n"
        "  fix: this is a bug in mindconverter; rerun with -v and report the traceback"
    )
