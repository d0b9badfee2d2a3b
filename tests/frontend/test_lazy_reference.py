"""The onnxruntime reference (external data read in) is built only when asked for."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mindconverter.frontend.onnx import load_onnx


def test_external_weights_are_read_only_for_the_reference(tmp_path):
    w = np.arange(64, dtype=np.float32).reshape(8, 8)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0)

    source = load_onnx(tmp_path / "m.onnx")
    assert source._reference is None  # a --check off conversion stops here
    [init] = source.source_model.graph.initializer
    assert init.data_location == TensorProto.EXTERNAL
    [ref_init] = source.reference.graph.initializer
    assert ref_init.data_location != TensorProto.EXTERNAL
    np.testing.assert_array_equal(numpy_helper.to_array(ref_init), w)
    assert source.reference is source.reference  # read once
