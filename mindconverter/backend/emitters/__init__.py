"""Emitter families; importing this package registers every emitter."""

from mindconverter.backend.emitters import (  # noqa: F401
    activation,
    conv,
    dropout,
    math,
    norm,
    pool,
    resize,
    shape,
    tensor,
)
