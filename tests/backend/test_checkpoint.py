"""The streamed .ckpt writer: byte-identical to mindspore.save_checkpoint, loadable, bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import ml_dtypes
import numpy as np
import pytest

from mindconverter.backend import checkpoint
from mindconverter.backend.checkpoint import write_tensors

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "bool", "bfloat16"]


def _array(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(shape) * 50
    if dtype == "bool":
        return values > 0
    if dtype == "bfloat16":
        return values.astype(ml_dtypes.bfloat16)
    return values.astype(dtype)


def _tensors() -> list[tuple[str, np.ndarray]]:
    shapes = [(3, 4), (), (2, 1, 5), (7,)]
    return [(f"block.{i}.{dtype}", _array(dtype, shapes[i % len(shapes)], i))
            for i, dtype in enumerate(DTYPES)]


def _loaded(path) -> dict[str, np.ndarray]:
    import mindspore as ms

    out = {}
    for name, param in ms.load_checkpoint(str(path)).items():
        if param.dtype == ms.bfloat16:  # asnumpy has no bfloat16
            param = ms.ops.cast(param, ms.float32)
        out[name] = param.asnumpy()
    return out


def test_every_dtype_loads_and_equals_save_checkpoint(tmp_path):
    import mindspore as ms

    tensors = _tensors()
    write_tensors(tensors, tmp_path / "streamed.ckpt")
    loaded = _loaded(tmp_path / "streamed.ckpt")
    assert list(loaded) == [n for n, _ in tensors]
    for name, array in tensors:
        assert loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array.astype(np.float32) if array.dtype.name == "bfloat16" else array)
    # byte for byte what MindSpore writes (bfloat16 aside: ms.Tensor takes no ml_dtypes arrays)
    plain = [(n, a) for n, a in tensors if a.dtype.name != "bfloat16"]
    write_tensors(plain, tmp_path / "ours.ckpt")
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in plain], str(tmp_path / "theirs.ckpt"))
    assert (tmp_path / "ours.ckpt").read_bytes() == (tmp_path / "theirs.ckpt").read_bytes()


def test_a_tensor_over_the_slice_size_is_split_and_joined_on_load(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "SLICE_BYTES", 40)  # 512 MiB in MindSpore; a few records here
    big = np.arange(30, dtype=np.float32).reshape(5, 6)
    write_tensors([("a", big), ("b", np.ones(3, np.int64))], tmp_path / "sliced.ckpt")
    data = (tmp_path / "sliced.ckpt").read_bytes()
    assert data.count(b"Float32") == 3  # 120 bytes in records of 40
    loaded = _loaded(tmp_path / "sliced.ckpt")
    np.testing.assert_array_equal(loaded["a"], big)
    np.testing.assert_array_equal(loaded["b"], np.ones(3, np.int64))


def test_memory_mapped_tensors_are_written_without_holding_them(tmp_path):
    """Traced memory while writing N memory-mapped tensors stays under one tensor, whatever N."""
    size = 1 << 20  # 4 MiB of float32 per tensor
    source = tmp_path / "weights.bin"
    with open(source, "wb") as f:
        for i in range(16):
            f.write(np.full(size, i, np.float32).tobytes())

    def peak(count: int) -> int:
        tensors = ((f"w{i}", np.memmap(source, np.float32, "r", offset=4 * size * i, shape=(1024, size // 1024)))
                   for i in range(count))
        tracemalloc.start()
        write_tensors(tensors, tmp_path / f"m{count}.ckpt")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    few, many = peak(2), peak(16)
    assert many < 4 * size  # less than one tensor's bytes: nothing is copied
    assert many < few + 64 * 1024
    assert (tmp_path / "m16.ckpt").stat().st_size > 16 * 4 * size


@pytest.mark.parametrize("dtype", ["complex64", "str"])
def test_a_dtype_mindspore_cannot_hold_is_refused(tmp_path, dtype):
    with pytest.raises(TypeError, match="no dtype"):
        write_tensors([("x", np.zeros(2, dtype))], tmp_path / "x.ckpt")


def test_views_are_written_as_their_values(tmp_path):
    """Emitters hand transposed / expanded views (WeightRef.map keeps views); the writer writes their values."""
    from mindconverter.backend.context import WeightRef

    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    transposed = WeightRef(base, "w", (3, 4), "float32").map(lambda a: a.T)
    assert np.shares_memory(transposed.array, base)  # not copied at emit time
    expanded = WeightRef(base[0], "b", (4,), "float32").map(lambda a: a[:, None, None])
    write_tensors([("t", transposed.array), ("e", expanded.array)], tmp_path / "v.ckpt")
    loaded = _loaded(tmp_path / "v.ckpt")
    np.testing.assert_array_equal(loaded["t"], base.T)
    np.testing.assert_array_equal(loaded["e"], base[0][:, None, None])


def _rss_file_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="reads Linux /proc")
def test_memory_mapped_pages_do_not_stay_resident(tmp_path):
    """Reading a memory-mapped weight to write it maps its pages in; the writer unmaps them after."""
    source = tmp_path / "big.bin"
    np.arange(8 << 20, dtype=np.float32).tofile(source)  # 32 MiB
    weight = np.memmap(source, np.float32, "r", shape=(8 << 10, 1 << 10)).T  # a view, as emitters hand
    before = _rss_file_kb()
    write_tensors([("w", weight)], tmp_path / "big.ckpt")
    assert _rss_file_kb() - before < 8 * 1024  # far below the 32 MiB read


def test_a_checkpoint_past_the_single_file_limit_is_written_as_segments_mindspore_loads(tmp_path, monkeypatch):
    """Past 2 GiB (upb cannot parse it as one message) the checkpoint is a folder of whole-tensor segments;
    the conversion checks parity from them and `load_segmented_checkpoints` gives every weight back."""
    import mindspore as ms
    import onnx
    from onnx import helper

    from mindconverter import api
    from tests.helpers import make_model

    rng = np.random.default_rng(0)
    weights = {f"w{i}": rng.standard_normal((8, 8)).astype(np.float32) for i in range(5)}  # 256 bytes each
    nodes, last = [], "x"
    for i in range(5):
        nodes.append(helper.make_node("MatMul", [last, f"w{i}"], [f"h{i}"]))
        last = f"h{i}"
    path = tmp_path / "chain.onnx"
    onnx.save(make_model(nodes, {"x": (np.float32, (2, 8))}, [last], weights), str(path))
    monkeypatch.setattr(checkpoint, "SINGLE_FILE_BYTES", 1000)
    monkeypatch.setattr(checkpoint, "SEGMENT_BYTES", 600)  # two 256-byte tensors a segment

    result = api.convert(str(path), output=str(tmp_path / "out"), check="end")
    assert result.parity_passed
    folder = tmp_path / "out" / "chain_segments"
    assert result.checkpoint == folder and not (tmp_path / "out" / "chain.ckpt").exists()
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"chain-0000{k}-of-00003.ckpt" for k in (1, 2, 3)]
    loaded = ms.load_segmented_checkpoints(str(folder))
    assert sorted(loaded) == sorted(e["converted_weight"]["name"] for e in json.loads(result.weight_map.read_text())["chain"])
    x = rng.standard_normal((2, 8)).astype(np.float32)
    expected = x
    for i in range(5):
        expected = expected @ weights[f"w{i}"]
    np.testing.assert_allclose(result.load()(ms.Tensor(x)).asnumpy(), expected, rtol=1e-5, atol=1e-5)
    # segments load one after another into the network: a missing one is reported, not ignored
    from mindconverter.runtime_check.mindspore_run import build_network

    spare = tmp_path / "spare"
    spare.mkdir()
    (folder / files[1]).rename(spare / files[1])
    _, missing, unused = build_network(result.script, folder)
    assert len(missing) == 2 and unused == []
    (spare / files[1]).rename(folder / files[1])
    # a second conversion over it (--overwrite) replaces the folder rather than nesting into it
    api.convert(str(path), output=str(tmp_path / "out"), check="off", overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == files
