"""Checkpoint and weight-map writers for the generated Cell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mindconverter.backend.generated import CheckpointEntry

# MindConverter's weight map spells converted dtypes like MindSpore's repr (`Float32`).
_MS_DTYPE_NAMES = {
    "float16": "Float16", "float32": "Float32", "float64": "Float64", "int8": "Int8", "int16": "Int16",
    "int32": "Int32", "int64": "Int64", "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32",
    "uint64": "UInt64", "bool": "Bool", "bfloat16": "BFloat16",
}


def write_checkpoint(entries: list[CheckpointEntry], path: Path) -> None:
    """Save the entries as a MindSpore .ckpt whose keys are the Cell's parameter names."""
    import mindspore as ms

    records = []
    for e in entries:
        array = np.ascontiguousarray(e.ref.array)
        records.append({"name": e.name, "data": ms.Tensor(array)})
    ms.save_checkpoint(records, str(path))


def weight_map(model_name: str, entries: list[CheckpointEntry]) -> dict:
    """MindConverter's weight map: converted weight -> source weight (name, shape, data_type)."""
    rows = []
    for e in entries:
        array = e.ref.array
        rows.append(
            {
                "converted_weight": {
                    "name": e.name,
                    "shape": [int(d) for d in array.shape],
                    "data_type": _MS_DTYPE_NAMES.get(str(array.dtype), str(array.dtype)),
                },
                "source_weight": {
                    "name": e.ref.source or "",
                    "shape": [int(d) for d in e.ref.source_shape],
                    "data_type": e.ref.source_dtype,
                },
            }
        )
    return {model_name: rows}


def write_weight_map(model_name: str, entries: list[CheckpointEntry], path: Path) -> None:
    path.write_text(json.dumps(weight_map(model_name, entries), indent=2) + "\n")
