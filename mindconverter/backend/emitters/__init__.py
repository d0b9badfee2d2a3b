"""Emitter families; importing this package registers every emitter."""

from mindconverter.backend.emitters import activation, conv  # noqa: F401
