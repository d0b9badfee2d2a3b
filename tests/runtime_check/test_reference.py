"""The onnxruntime reference reads external data from the model's folder: the weights are never read
into the message (protobuf cannot hold 2 GiB; a 700M-parameter model failed with 'Failed to serialize proto')."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mindconverter.frontend.onnx import load_onnx  # noqa: E402
from mindconverter.runtime_check import reference  # noqa: E402
from mindconverter.runtime_check.divergence import reference_values  # noqa: E402

W = np.arange(64, dtype=np.float32).reshape(8, 8)


def _save(folder) -> str:
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
                              [numpy_helper.from_array(W, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folder.mkdir()
    path = folder / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="m.data", size_threshold=0)
    return path


def test_external_weights_stay_in_their_file_and_onnxruntime_reads_them_there(tmp_path, monkeypatch):
    path = _save(tmp_path / "model")
    monkeypatch.chdir(tmp_path)  # not the model's folder: locations resolve against base_dir, not the cwd
    source = load_onnx(path)
    [init] = source.source_model.graph.initializer
    assert init.data_location == TensorProto.EXTERNAL and not init.raw_data  # never copied in
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    [y] = reference.run_onnxruntime(source.source_model, {"x": x}, source.base_dir)
    np.testing.assert_allclose(y, np.maximum(x @ W, 0), rtol=1e-6)
    values = reference_values(source.source_model, {"x": x}, source.base_dir)  # --check each's localisation
    np.testing.assert_allclose(values["h"], x @ W, rtol=1e-6)
    assert init.data_location == TensorProto.EXTERNAL


def test_without_the_folder_onnxruntime_reports_a_coded_error(tmp_path, monkeypatch):
    path = _save(tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    source = load_onnx(path)
    with pytest.raises(reference.RuntimeCheckError, match="onnxruntime cannot run the source model"):
        reference.run_onnxruntime(source.source_model, {"x": np.zeros((2, 8), np.float32)})
