"""Outputs appear whole or not at all, even when the conversion is killed.

- `check_output_dirs` refuses unusable output locations before any work: a file where a folder is
  needed, a path under a file, a folder that cannot be written.
- `stage_dir` makes the staging folder in the nearest folder that already exists, so an
  interrupted conversion creates nothing (not even the --output folder); the driver removes it in
  a `finally`.
- `publish` moves the staged files into place with SIGINT/SIGTERM deferred, so a signal never
  leaves half of the files published.
- `interrupts_as_errors` (used by the command) turns SIGINT/SIGTERM into `InterruptedConversion`,
  raised where the conversion is, so the `finally` clauses clean up and the exit is one coded error.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from mindconverter.errors import FileWriteError, InterruptedConversion, OutputPathError

STAGE_PREFIX = ".mindconverter-staging-"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def check_output_dirs(folders: dict[str, Path | None]) -> None:
    """Each named folder (flag -> path) is a folder, or can be created in a writable folder."""
    for flag, folder in folders.items():
        if folder is None:
            continue
        folder = Path(folder)
        base = _existing_ancestor(folder)
        if base == Path(os.path.abspath(folder)) and not base.is_dir():
            raise OutputPathError(
                f"{flag} '{folder}' is a file, not a folder", where=str(folder),
                fix=f"{flag} names a folder; choose another path or move the file away",
            )
        if not base.is_dir():
            raise OutputPathError(
                f"{flag} '{folder}' is under '{base}', which is a file", where=str(folder),
                fix=f"{flag} names a folder; choose a path whose parents are folders",
            )
        if not os.access(base, os.W_OK | os.X_OK):
            what = "folder" if base == Path(os.path.abspath(folder)) else f"parent folder '{base}' of"
            raise OutputPathError(
                f"cannot write in the {what} {flag} '{folder}' (permission denied)", where=str(base),
                fix=f"choose a {flag} folder you can write to",
            )


def stage_dir(output: Path, name: str) -> Path:
    """A fresh staging folder next to where the outputs go; the caller removes it."""
    base = _existing_ancestor(output)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{name}-", dir=base))
    except OSError as exc:
        raise OutputPathError(
            f"cannot create a staging folder in '{base}': {exc.strerror or exc}", where=str(base),
            fix="choose an --output folder you can write to",
        ) from exc


_deferred: list[int] | None = None  # signals received while publishing, or None when not publishing


def publish(staged: dict[str, Path], final: dict[str, Path], overwrite: bool) -> None:
    """Move staged files into place; refuses to replace files that appeared meanwhile (unless overwrite).

    SIGINT/SIGTERM are deferred meanwhile: once the first file moved, all of them do.
    """
    global _deferred
    if _raised is not None:  # a signal whose error was swallowed on its way (see logs.ConsoleHandler)
        raise _interrupted(_raised)
    for dest in final.values():
        if dest.exists() and not overwrite:
            raise FileWriteError(f"output file '{dest}' appeared during the conversion", fix="rerun with --overwrite")
    _deferred = []
    try:
        for dest in final.values():
            dest.parent.mkdir(parents=True, exist_ok=True)
        for key, dest in final.items():
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)  # a checkpoint's segments (overwrite): os.replace cannot replace a full folder
            try:
                os.replace(staged[key], dest)
            except OSError:
                shutil.move(str(staged[key]), str(dest))  # across file systems
    finally:
        _deferred = None


def _interrupted(signum: int) -> InterruptedConversion:
    return InterruptedConversion(
        f"interrupted by {signal.Signals(signum).name}; nothing was written",
        fix="the output folders are as they were; rerun the command",
    )


def _on_signal(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    global _raised
    if _deferred is not None:
        _deferred.append(signum)  # publishing: finish it; the outputs are complete
        return
    if _raised is not None:
        return  # a second Ctrl-C must not break the clean-up of the first
    _raised = signum
    raise _interrupted(signum)


_raised: int | None = None  # the signal that interrupted the conversion


def interruption() -> InterruptedConversion | None:
    """The error to report if a signal interrupted the conversion.

    Raised inside C code (an extension module being imported), the error may surface as another
    exception (ImportError: initialization failed); the command reports this one instead.
    """
    return _interrupted(_raised) if _raised is not None else None


def interrupts_as_errors() -> Callable[[], None]:
    """SIGINT/SIGTERM raise InterruptedConversion in the main thread; returns what restores the old handlers."""
    global _raised
    _raised = None
    try:
        previous = {s: signal.signal(s, _on_signal) for s in _SIGNALS}
    except ValueError:  # not the main thread: signals stay as they are
        return lambda: None

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore


def remove_stage(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "STAGE_PREFIX", "check_output_dirs", "interruption", "interrupts_as_errors", "publish", "remove_stage", "stage_dir",
]
