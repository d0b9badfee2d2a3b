"""The onnxruntime reference runs models past protobuf's 2 GiB limit from files (external data) instead of bytes."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mindconverter.runtime_check import reference  # noqa: E402


def _model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_model_over_the_protobuf_limit_runs_from_files_and_is_left_unchanged(monkeypatch):
    model = _model()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    in_memory = reference.run_onnxruntime(model, {"x": x})[0]
    before = model.SerializeToString()
    monkeypatch.setattr(reference, "PROTO_LIMIT", 16)  # every model is "too big" now
    from_files = reference.run_onnxruntime(model, {"x": x})[0]
    np.testing.assert_array_equal(from_files, in_memory)
    np.testing.assert_allclose(in_memory, x @ np.arange(12, dtype=np.float32).reshape(3, 4), rtol=1e-6)
    assert model.SerializeToString() == before  # the weights stay in the caller's model
