"""Typed errors with stable codes. Every failure a user can see is one of these.

Codes are grouped like MindConverter's: 0xxxxxx arguments, 1xxxxxx model loading, 2xxxxxx file
writing, 3xxxxxx code generation, 4xxxxxx passes and IR, 5xxxxxx parity. docs/error_codes.md lists them.
"""

from __future__ import annotations


class MindConverterError(Exception):
    """Base class: `what` failed, `where`, and what to do (`fix`)."""

    code = 9000000
    #: For docs/error_codes.md (tools/gen_error_codes.py): what the code means and the usual fix.
    meaning = "an unexpected exception: a bug"
    typical_fix = "rerun with `-v` and report the traceback"

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
    meaning = "a flag or API argument is missing, malformed or inconsistent (`--shape` count vs `--input_nodes`, unknown input or output name, unknown pass)"
    typical_fix = "the message lists valid values"


class InputDataError(ArgumentError):
    """--input_data is not a usable .npz for this model."""

    code = 2
    meaning = "`--input_data` is not an `.npz` file, lacks an input, or an array has the wrong shape"
    typical_fix = "save one array per model input with `numpy.savez(path, name=array, ...)`; the message lists the expected shapes"


class ResourceLimitError(ArgumentError):
    """A shape (from --shape or declared by the model) is too large to allocate; refused before allocating."""

    code = 3
    meaning = "a `--shape`, or a model input's declared shape, needs more memory than the limit; refused before allocating"
    typical_fix = "a smaller `--shape`; `--check off` converts without making test data"


class ModelLoadError(MindConverterError):
    """The model file cannot be read, parsed or upgraded."""

    code = 1000001
    meaning = "the model cannot be read: not ONNX, truncated, external data missing, unsupported element type (float8, int4, complex)"
    typical_fix = "re-export the model; keep external data files beside the `.onnx`"


class InvalidModelError(ModelLoadError):
    """The model breaks a rule of the ONNX format (checked at the door, before conversion)."""

    code = 1000003
    meaning = "the model breaks an ONNX rule: no graph (empty file, bare GraphProto), a value produced twice, an output listed twice, a cycle, an input nobody produces, an initializer whose data does not match its dims"
    typical_fix = "re-export the model; `onnx.checker.check_model` shows the same problem"


class UnsupportedVersionError(ModelLoadError):
    """The model's IR version or opset is outside the range this converter reads."""

    code = 1000004
    meaning = "the model's IR version or opset is outside the supported range (the message gives the range)"
    typical_fix = "re-export with an opset in the range, or upgrade with `onnx.version_converter`"


class InvalidAttributeError(ModelLoadError):
    """An attribute has the wrong type for its op, or a value the op cannot run with."""

    code = 1000005
    meaning = "a node's attribute has the wrong type for the op's ONNX schema, or a value the op cannot run with (zero stride, a group that does not divide the channels, a kernel larger than the padded input); the message names the node and the rule"
    typical_fix = "fix the exporter's attribute; the message gives the allowed values"


class ExternalDataError(ModelLoadError):
    """An external data reference is unsafe (outside the model's folder) or does not fit its file."""

    code = 1000006
    meaning = "an initializer's external data location leaves the model's folder (absolute path, `..`, a symlink out) or its offset/length do not fit the file; nothing outside the folder is read"
    typical_fix = "keep external data files inside the model's folder, with relative locations"


class ScriptParseError(ModelLoadError):
    """A script given to --in_file is not valid Python; the message has file:line:column."""

    code = 1000002
    meaning = "a script given to `--in_file` is not valid Python (`file:line:column` given)"
    typical_fix = "fix the syntax error; the script must run under torch first"


class FileWriteError(MindConverterError):
    """An output cannot be written (exists without --overwrite, no permission, disk full)."""

    code = 2000001
    meaning = "an output file exists (and `--overwrite` was not given) or cannot be written"
    typical_fix = "another `--output`/`--report` folder, or `--overwrite`"


class OutputPathError(FileWriteError):
    """An output location is unusable: a file where a folder is needed, or a folder that cannot be written."""

    code = 2000002
    meaning = "`--output`, `--report` or `--dump-ir` names a file, a path under a file, or a folder that cannot be written; checked before converting"
    typical_fix = "name a folder you can write to"


class InterruptedConversion(FileWriteError):
    """The conversion was stopped by SIGINT/SIGTERM; the outputs were left as they were."""

    code = 2000003
    meaning = "the conversion was interrupted (Ctrl-C, SIGTERM); the staged files were removed and the output folders are as they were"
    typical_fix = "rerun the command"


class ConversionError(MindConverterError):
    """Code generation failed for a reason other than unsupported ops."""

    code = 3000001
    meaning = "code generation failed for another reason"
    typical_fix = "report it with `-v` output"


class UnsupportedOpsError(ConversionError):
    """Some ops have no emitter; all of them are listed."""

    code = 3000002
    meaning = "some ops have no MindSpore mapping; **all** are listed, the script has placeholder Cells for them, and everything was written"
    typical_fix = "implement the placeholders, or `--allow-unsupported`"


class PassError(MindConverterError):
    """A pass failed or broke an invariant (a bug in that pass)."""

    code = 4000001
    meaning = "a pass crashed or produced invalid IR (a bug in that pass); its output is dumped as `NN-pass.failed.ir` with `--dump-ir`"
    typical_fix = "`--passes` without it; report the bug"


class VerifyError(MindConverterError):
    """The IR is malformed: broken SSA, wrong types, or an op that contradicts its schema."""

    code = 4000002
    meaning = "the IR is malformed (broken SSA, wrong types, op contradicting its ONNX schema)"
    typical_fix = "if you edited a dump: the message points at the op"


class IRSyntaxError(MindConverterError):
    """IR text does not parse; the message has line:column and a caret."""

    code = 4000003
    meaning = "IR text does not parse; the message shows `line:column` and a caret"
    typical_fix = "fix the text at the caret"


class ParityError(MindConverterError):
    """The converted network does not compute the same numbers as the source."""

    code = 5000001
    meaning = "the converted network's outputs differ from the source beyond `--rtol/--atol`; outputs were written"
    typical_fix = "report the model; `-v`, `--dump-ir`"


class RuntimeCheckError(MindConverterError):
    """The reference or the converted network could not be executed for the parity check."""

    code = 5000002
    meaning = "the reference (onnxruntime) or the generated network could not run"
    typical_fix = "`--check off` keeps the conversion; report it"


def internal_error_message(exc: BaseException) -> str:
    """What the commands print for an unexpected exception (a bug): no traceback without -v."""
    return (
        f"error[9000000]: internal error: {type(exc).__name__}: {exc}\n"
        "  fix: this is a bug in mindconverter; rerun with -v and report the traceback"
    )
