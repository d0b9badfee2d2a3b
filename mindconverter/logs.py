"""The commands' console log: the `mindconverter` logger, plain messages on stderr."""

from __future__ import annotations

import logging
import sys


def console_logger(level: int = logging.INFO) -> logging.Logger:
    """Send the `mindconverter` logger's messages (no level prefix) to stderr, replacing earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("mindconverter")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return logger
