"""The commands' console log: the `mindconverter` logger, plain messages on stderr."""

from __future__ import annotations

import logging
import sys

from mindconverter.errors import MindConverterError


class ConsoleHandler(logging.StreamHandler):
    """A StreamHandler that lets our own errors raised while it writes through.

    A Ctrl-C/SIGTERM becomes InterruptedConversion in whatever code runs at that moment (see
    staging.interrupts_as_errors). `logging` catches every Exception of a handler, prints it and goes
    on: a signal landing while a progress line was written would be swallowed and the conversion
    finished as if nothing happened.
    """

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, MindConverterError):
            raise error
        super().handleError(record)


def console_logger(level: int = logging.INFO) -> logging.Logger:
    """Send the `mindconverter` logger's messages (no level prefix) to stderr, replacing earlier handlers."""
    handler = ConsoleHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("mindconverter")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return logger
