"""infer-shapes against onnxruntime: every symbolic dim, evaluated at concrete sizes, is the size onnxruntime computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mindconverter.frontend.onnx import load_onnx
from mindconverter.ir.symbolic import evaluate
from mindconverter.ir.types import Unknown
from mindconverter.passes.manager import PASSES, PassContext, load_builtin_passes

ort = pytest.importorskip("onnxruntime")


def _i64(name: str, values: list[int] | int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _attention_and_window_model() -> onnx.ModelProto:
    """Head split by Shape/Gather/Concat, attention scores, a pad of h to a multiple of 7, a strided conv and pool."""
    n = helper.make_node
    nodes = [
        # x: (b, s, 32) -> (b, s, 4, 8) -> (b, 4, s, 8); scores (b, 4, s, s)
        n("Shape", ["x"], ["xs"]),
        n("Gather", ["xs", "i01"], ["bs"], axis=0),
        n("Concat", ["bs", "heads"], ["target"], axis=0),
        n("Reshape", ["x", "target"], ["xh"]),
        n("Transpose", ["xh"], ["q"], perm=[0, 2, 1, 3]),
        n("Transpose", ["xh"], ["kt"], perm=[0, 2, 3, 1]),
        n("MatMul", ["q", "kt"], ["scores"]),
        n("Slice", ["scores", "one", "big", "minus1"], ["tail"]),
        n("Concat", ["scores", "tail"], ["joined"], axis=-1),
        # img: (b, 3, h, w): pad h to a multiple of 7 with (7 - h % 7) % 7, conv stride 2, ceil-mode pool
        n("Shape", ["img"], ["is"]),
        n("Gather", ["is", "two"], ["h"], axis=0),
        n("Mod", ["h", "seven"], ["hm"]),
        n("Sub", ["seven", "hm"], ["hp0"]),
        n("Mod", ["hp0", "seven"], ["hp"]),
        n("Concat", ["zeros6", "hp", "zero1"], ["pads"], axis=0),
        n("Pad", ["img", "pads"], ["padded"]),
        n("Conv", ["padded", "w"], ["conv"], pads=[1, 1, 1, 1], strides=[2, 2]),
        n("MaxPool", ["conv"], ["pool"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        n("Flatten", ["pool"], ["flat"], axis=2),
    ]
    inits = [
        _i64("i01", [0, 1]), _i64("heads", [4, 8]), _i64("one", [1]), _i64("big", [2**63 - 1]), _i64("minus1", [-1]),
        _i64("two", [2]), _i64("seven", [7]), _i64("zeros6", [0] * 6), _i64("zero1", [0]),
        numpy_helper.from_array(np.random.default_rng(0).standard_normal((5, 3, 3, 3)).astype(np.float32), "w"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 32]),
         helper.make_tensor_value_info("img", TensorProto.FLOAT, ["b", 3, "h", "w"])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("joined", "flat")],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_symbolic_dims_evaluate_to_onnxruntimes_sizes(tmp_path):
    model = _attention_and_window_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    load_builtin_passes()
    module = load_onnx(path).module
    PASSES["infer-shapes"].fn(module, PassContext())
    values = {r.name: r for op in module.ops() for r in op.results if r.name and r.type.dtype.is_float}
    assert all(v.type.dims is not None and not any(isinstance(d, Unknown) for d in v.type.dims)
               for v in values.values()), {n: str(v.type) for n, v in values.items()}
    del model.graph.output[:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in values)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for env in ({"b": 1, "s": 5, "h": 10, "w": 9}, {"b": 3, "s": 16, "h": 14, "w": 20}, {"b": 2, "s": 1, "h": 29, "w": 8}):
        feeds = {"x": rng.random((env["b"], env["s"], 32), dtype=np.float32),
                 "img": rng.random((env["b"], 3, env["h"], env["w"]), dtype=np.float32)}
        for name, array in zip(values, session.run(None, feeds), strict=True):
            want = tuple(evaluate(d, env) for d in values[name].type.dims)
            assert want == array.shape, f"{name}: {values[name].type} at {env} is {want}, onnxruntime gives {array.shape}"
