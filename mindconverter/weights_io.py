"""Weights saved beside IR dumps (`weights.npz`) and loaded back to resume from an edited dump.

The file holds one array per weight-store key plus `__origins__`, a JSON map of key -> source
tensor name (the weight map uses it). Keys that the source model provides unchanged are not
saved: resuming reads the model's initializers first, then this file on top.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

ORIGINS_KEY = "__origins__"


def save_weights(path: Path, arrays: Mapping[str, np.ndarray], origins: Mapping[str, str] | None = None) -> None:
    """Write `arrays` (and their origins) to `path` atomically."""
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[ORIGINS_KEY] = np.array(json.dumps({k: origins[k] for k in arrays if origins and k in origins}))
    fd, tmp = tempfile.mkstemp(prefix=".weights.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_weights(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and origins of a weights.npz (or any .npz: then origins are empty)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != ORIGINS_KEY}
        origins = json.loads(str(data[ORIGINS_KEY])) if ORIGINS_KEY in data.files else {}
    return arrays, origins
