"""Checkpoint and weight-map writers for the generated Cell.

The checkpoint is MindSpore's `.ckpt`: the protobuf `Checkpoint { repeated Value value = 1; }` with
`Value { required string tag = 1; TensorProto tensor = 2; }` and
`TensorProto { repeated int64 dims = 1; required string tensor_type = 2; required bytes tensor_content = 3; }`
(mindspore/train/checkpoint_pb2.py). Concatenated serialized messages parse as one message whose
repeated fields are joined, which is how `mindspore.save_checkpoint` itself writes: one `Checkpoint`
record per tensor, a tensor over 512 MiB as several records with the same tag whose contents
`mindspore.load_checkpoint` joins. `write_checkpoint` writes those records itself, tensor by tensor
and straight from the (memory-mapped) arrays, so no more than one tensor is in memory at a time and
MindSpore is not imported.

`load_checkpoint` parses a file as one protobuf message. With the upb runtime (protobuf's default, used
whenever protobuf was imported before MindSpore: by onnx, TensorFlow, or this converter) a message of
2 GiB or more fails ("Wire format was corrupt"), so a checkpoint past SINGLE_FILE_BYTES is written as
segments: a folder `NAME_segments/` of `NAME-00001-of-0000N.ckpt` files of whole tensors, at most
SEGMENT_BYTES each, which `mindspore.load_segmented_checkpoints(folder)` loads as one dict.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mindconverter.backend.generated import CheckpointEntry

# MindSpore's names for the dtypes (`str(ms.Tensor.dtype)`): the checkpoint's tensor_type and the weight map.
_MS_DTYPE_NAMES = {
    "float16": "Float16", "float32": "Float32", "float64": "Float64", "int8": "Int8", "int16": "Int16",
    "int32": "Int32", "int64": "Int64", "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32",
    "uint64": "UInt64", "bool": "Bool", "bfloat16": "BFloat16",
}

#: The most tensor bytes in one record, as `mindspore.save_checkpoint` splits (its SLICE_SIZE, 512 MiB).
SLICE_BYTES = 512 * 1024 * 1024


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: negatives as 10-byte two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload_len: int) -> bytes:
    """The key and length of a length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(payload_len)


def _write_record(f: BinaryIO, tag: bytes, dims: bytes, tensor_type: bytes, content: memoryview) -> None:
    """One `Checkpoint` message holding one `Value`; `content` is written without a copy."""
    tensor_len = len(dims) + len(tensor_type) + len(_field(3, len(content))) + len(content)
    value_len = len(tag) + len(_field(2, tensor_len)) + tensor_len
    f.write(_field(1, value_len) + tag + _field(2, tensor_len) + dims + tensor_type + _field(3, len(content)))
    f.write(content)


def write_tensor(f: BinaryIO, name: str, array: np.ndarray) -> None:
    """Append one tensor to an open .ckpt file, in records of at most SLICE_BYTES."""
    type_name = _MS_DTYPE_NAMES.get(str(array.dtype))
    if type_name is None:
        raise TypeError(f"checkpoint tensor {name!r}: MindSpore checkpoints have no dtype {array.dtype}")
    encoded = name.encode()
    tag = _field(1, len(encoded)) + encoded
    dims = b"".join(_varint(1 << 3) + _varint(int(d)) for d in array.shape)  # proto2: unpacked repeated int64
    type_bytes = type_name.encode()
    tensor_type = _field(2, len(type_bytes)) + type_bytes
    flat = np.ascontiguousarray(array).reshape(-1)  # a view for contiguous (memory-mapped) arrays
    data = memoryview(flat.view(np.uint8)) if flat.size else memoryview(b"")
    for start in range(0, max(len(data), 1), SLICE_BYTES):
        _write_record(f, tag, dims, tensor_type, data[start:start + SLICE_BYTES])
    del data, flat
    _release_pages(array)


def _release_pages(array: np.ndarray) -> None:
    """Unmap the pages a memory-mapped tensor brought in (they stay in the page cache; a later read refaults).

    Reading every weight through its map would otherwise leave the whole model resident in this
    process's RSS, although nothing holds it.
    """
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is not None and not base.closed and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)


def write_tensors(tensors: Iterable[tuple[str, np.ndarray]], path: Path) -> None:
    """Write (name, array) pairs as a MindSpore .ckpt, streaming: one tensor in memory at a time."""
    with open(path, "wb") as f:
        for name, array in tensors:
            write_tensor(f, name, array)


#: The largest checkpoint written as one file: protobuf's message limit (upb cannot parse 2 GiB).
SINGLE_FILE_BYTES = 2**31 - 1
#: The most tensor bytes in one segment of a bigger checkpoint (a bigger tensor is a segment of its own).
SEGMENT_BYTES = 2**30


def checkpoint_path(path: Path, entries: list[CheckpointEntry]) -> Path:
    """Where `write_checkpoint(entries, path)` writes: `path`, or the folder of segments beside it."""
    if _record_bytes(entries) <= SINGLE_FILE_BYTES:
        return path
    return path.with_name(f"{path.stem}_segments")


def write_checkpoint(entries: list[CheckpointEntry], path: Path) -> Path:
    """Save the entries as a MindSpore .ckpt whose keys are the Cell's parameter names (as segments past
    SINGLE_FILE_BYTES, see the module docstring); returns the file or folder written."""
    target = checkpoint_path(path, entries)
    if target == path:
        write_tensors(((e.name, e.ref.array) for e in entries), path)
        return path
    groups: list[list[CheckpointEntry]] = [[]]
    size = 0
    for e in entries:
        if groups[-1] and size + e.ref.array.nbytes > SEGMENT_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(e)
        size += e.ref.array.nbytes
    target.mkdir()
    for k, group in enumerate(groups, 1):
        write_tensors(((e.name, e.ref.array) for e in group), target / f"{path.stem}-{k:05d}-of-{len(groups):05d}.ckpt")
    return target


def _record_bytes(entries: list[CheckpointEntry]) -> int:
    """An upper bound of the checkpoint's size: the tensors' bytes and each record's tag, dims and keys."""
    return sum(e.ref.array.nbytes + 64 + len(e.name.encode()) + 11 * e.ref.array.ndim for e in entries)


def _row(e: CheckpointEntry, source: str | None = None, tied: list[str] | None = None) -> dict:
    array = e.ref.array
    row = {
        "converted_weight": {
            "name": e.name,
            "shape": [int(d) for d in array.shape],
            "data_type": _MS_DTYPE_NAMES.get(str(array.dtype), str(array.dtype)),
        },
        "source_weight": {
            "name": source or e.ref.source or "",
            "shape": [int(d) for d in e.ref.source_shape],
            "data_type": e.ref.source_dtype,
        },
    }
    if tied:
        row["source_weight"]["tied"] = tied
    return row


def _module_path(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def weight_map(model_name: str, entries: list[CheckpointEntry], tied: Sequence[Sequence[str]] = ()) -> dict:
    """MindConverter's weight map: converted weight -> source weight (name, shape, data_type).

    `tied` lists groups of source names of one shared tensor (GPT-2's `transformer.wte.weight` and
    `lm_head.weight`); the source model file holds it under one of them. Every name of a group is in
    the map, each row with `"tied"`: the group's other names. A converted weight from the shared tensor
    takes the name of the group whose module path is its own (`lm_head.weight` for `lm_head.weight`);
    a name no converted weight took gets a row of its own, pointing to the first one.
    """
    groups = {name: list(group) for group in tied for name in group}
    rows, named, first = [], set(), {}
    for e in entries:
        group = groups.get(e.ref.source or "")
        if group is None:
            rows.append(_row(e))
            continue
        source = next((n for n in group if _module_path(n) == _module_path(e.name) and n not in named), e.ref.source)
        named.add(source)
        first.setdefault(tuple(group), e)
        rows.append(_row(e, source, [n for n in group if n != source]))
    for group, e in first.items():
        rows.extend(_row(e, name, [n for n in group if n != name]) for name in group if name not in named)
    return {model_name: rows}


def write_weight_map(model_name: str, entries: list[CheckpointEntry], path: Path,
                     tied: Sequence[Sequence[str]] = ()) -> None:
    path.write_text(json.dumps(weight_map(model_name, entries, tied), indent=2) + "\n")
