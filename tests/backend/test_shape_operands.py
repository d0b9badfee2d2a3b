"""Shape-like operands computed at run time (Reshape's shape, Slice's ends, Pad's pads, ...) become sizes read off tensors.

Each model has dynamic dims and computes its shape operand from `Shape`; it converts once and must
match onnxruntime at two sizes, in PYNATIVE and GRAPH mode, with readable code (no dyn_shape chains).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import MODES, convert_model, onnxruntime_outputs
from onnx import TensorProto, helper, numpy_helper

COVERS = {"mc.dims"}

I64 = TensorProto.INT64


def _model(nodes, inputs, outputs, consts=None, opset=17):
    """A model whose inputs have symbolic dims (strings in the shapes) and int64 constants `consts`."""
    ins = [helper.make_tensor_value_info(n, dt, shape) for n, (dt, shape) in inputs.items()]
    outs = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in outputs]
    inits = [numpy_helper.from_array(v if isinstance(v, np.ndarray) else np.asarray(v, np.int64), n) for n, v in (consts or {}).items()]
    graph = helper.make_graph(nodes, "dyn", ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)  # fills in the output types


def _dim(name, x, axis):
    """Nodes computing `name` = Shape(x)[axis] as a 1-element int64 tensor."""
    return [
        helper.make_node("Shape", [x], [f"{name}_shape"]),
        helper.make_node("Gather", [f"{name}_shape", f"{name}_axis"], [name], axis=0),
    ], {f"{name}_axis": [axis]}


def _check(model, feeds_list, expect=()):
    gen, script, ckpt = convert_model(model)
    assert not gen.unsupported, f"unsupported ops: {gen.unsupported}\n{gen.code}"
    for bad in ("dyn_shape", "ops.gather(ops", "ops.concat(("):
        assert bad not in gen.code, gen.code
    for text in expect:
        assert text in gen.code, gen.code
    from mindconverter.runtime_check.mindspore_run import run_network

    order = [i.name for i in model.graph.input]
    for feeds in feeds_list:
        want = onnxruntime_outputs(model, feeds)
        for mode in MODES:
            got = run_network(script, ckpt, [feeds[n] for n in order], mode)
            for g, w in zip(got, want, strict=True):
                assert g.shape == w.shape, f"{mode} {g.shape} != {w.shape}\n{gen.code}"
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"{mode}\n{gen.code}")
    return gen.code


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


F32 = TensorProto.FLOAT


def test_reshape_by_sizes_of_the_input():
    n0, c0 = _dim("n", "x", 0)
    s0, c1 = _dim("s", "x", 1)
    nodes = [*n0, *s0,
             helper.make_node("Mul", ["n", "s"], ["ns"]),
             helper.make_node("Concat", ["ns", "two", "four"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = _model(nodes, {"x": (F32, ["N", "S", 8])}, ["y"], {**c0, **c1, "two": [2], "four": [4]})
    code = _check(model, [{"x": _x(1, 3, 8)}, {"x": _x(3, 5, 8)}], expect=["ops.reshape(x, (-1, 2, 4))"])
    assert "Shape" not in code


def test_reshape_keeps_each_runtime_size_when_two_are_dynamic():
    n0, c0 = _dim("n", "x", 0)
    s0, c1 = _dim("s", "x", 1)
    nodes = [*n0, *s0,
             helper.make_node("Concat", ["n", "s", "two", "four"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = _model(nodes, {"x": (F32, ["N", "S", 8])}, ["y"], {**c0, **c1, "two": [2], "four": [4]})
    _check(model, [{"x": _x(1, 3, 8)}, {"x": _x(3, 5, 8)}], expect=["ops.reshape(x, (x.shape[0], x.shape[1], 2, 4))"])


def test_slice_end_and_pad_widths_from_sizes():
    s0, c1 = _dim("s", "x", 1)
    nodes = [*s0,
             helper.make_node("Sub", ["s", "one"], ["end"]),
             helper.make_node("Slice", ["x", "one", "end", "one"], ["y"]),
             # pad dim 1 up to a multiple of 4: (4 - s % 4) % 4
             helper.make_node("Mod", ["s", "four"], ["rem"]),
             helper.make_node("Sub", ["four", "rem"], ["short"]),
             helper.make_node("Mod", ["short", "four"], ["extra"]),
             helper.make_node("Concat", ["zeros3", "extra"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["z"])]
    model = _model(nodes, {"x": (F32, ["N", "S"])}, ["y", "z"], {**c1, "one": [1], "four": [4], "zeros3": [0, 0, 0]})
    _check(model, [{"x": _x(2, 5)}, {"x": _x(3, 8)}], expect=["x[:, 1:x.shape[1] - 1]"])


def test_expand_tile_and_constant_of_shape_from_sizes():
    n0, c0 = _dim("n", "x", 0)
    nodes = [*n0,
             helper.make_node("Concat", ["n", "five"], ["eshape"], axis=0),
             helper.make_node("Slice", ["x", "zero", "one", "one"], ["col"]),
             helper.make_node("Expand", ["col", "eshape"], ["e"]),
             helper.make_node("Concat", ["one", "n"], ["reps"], axis=0),
             helper.make_node("Tile", ["x", "reps"], ["t"]),
             helper.make_node("Shape", ["x"], ["xs"]),
             helper.make_node("ConstantOfShape", ["xs"], ["c"], value=helper.make_tensor("v", F32, [1], [2.0]))]
    model = _model(nodes, {"x": (F32, ["N", "S"])}, ["e", "t", "c"], {**c0, "five": [5], "zero": [0], "one": [1]})
    _check(model, [{"x": _x(2, 3)}, {"x": _x(4, 6)}])


def test_range_split_topk_and_onehot_from_sizes():
    s0, c1 = _dim("s", "x", 1)
    nodes = [*s0,
             helper.make_node("Squeeze", ["s", "zero"], ["limit"]),
             helper.make_node("Range", ["zero_s", "limit", "one_s"], ["r"]),
             helper.make_node("Sub", ["s", "one"], ["rest"]),
             helper.make_node("Concat", ["one", "rest"], ["parts"], axis=0),
             helper.make_node("Split", ["x", "parts"], ["a", "b"], axis=1),
             helper.make_node("Div", ["s", "two"], ["k"]),
             helper.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=1),
             helper.make_node("OneHot", ["ids", "limit", "onoff"], ["oh"])]
    consts = {**c1, "zero": [0], "one": [1], "two": [2], "zero_s": np.array(0, np.int64), "one_s": np.array(1, np.int64),
              "onoff": np.array([0.0, 1.0], np.float32)}
    model = _model(nodes, {"x": (F32, ["N", "S"]), "ids": (I64, ["N"])}, ["r", "a", "b", "tv", "ti", "oh"], consts)
    feeds = [{"x": _x(2, 4), "ids": np.array([0, 3], np.int64)}, {"x": _x(3, 7), "ids": np.array([6, 1, 2], np.int64)}]
    _check(model, feeds, expect=["ops.arange(x.shape[1], dtype=ms.int64)"])


@pytest.mark.parametrize("mode", MODES)
def test_position_embedding_keeps_the_whole_table_and_follows_the_sequence(mode, tmp_path):
    """GPT-2 style: wpe[arange(seq)] of a static export (seq 8 of 32 positions) keeps the (32, 4) table."""
    from mindconverter.runtime_check.mindspore_run import run_network

    wpe = _x(32, 4, seed=3)
    s0, c1 = _dim("s", "ids", 1)
    nodes = [*s0,
             helper.make_node("Squeeze", ["s", "zero"], ["limit"]),
             helper.make_node("Range", ["zero_s", "limit", "one_s"], ["pos"]),
             helper.make_node("Gather", ["wpe", "pos"], ["pe"], axis=0),
             helper.make_node("Cast", ["ids"], ["idsf"], to=F32),
             helper.make_node("Unsqueeze", ["idsf", "neg1"], ["idsu"]),
             helper.make_node("Add", ["idsu", "pe"], ["y"])]
    consts = {**c1, "zero": [0], "neg1": [-1], "zero_s": np.array(0, np.int64), "one_s": np.array(1, np.int64), "wpe": wpe}
    model = _model(nodes, {"ids": (I64, [1, 8])}, ["y"], consts)
    gen, script, ckpt = convert_model(model, tmp_path)
    assert not gen.unsupported, gen.code
    assert [e.ref.shape for e in gen.checkpoint] == [(32, 4)], gen.code
    for seq in (8, 5):
        ids = np.arange(seq, dtype=np.int64).reshape(1, seq) % 7
        got = run_network(script, ckpt, [ids], mode)[0]
        np.testing.assert_allclose(got, ids[..., None].astype(np.float32) + wpe[:seq], rtol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_of_dynamic_spatial_dims(mode, tmp_path):
    """torch's interpolate by a whole-number scale and to sizes read off another tensor, at two input sizes."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    class Up(torch.nn.Module):
        def forward(self, x, skip):
            up = F.interpolate(x, scale_factor=2, mode=mode)
            return up, F.interpolate(x, size=skip.shape[2:], mode=mode)

    path = tmp_path / "up.onnx"
    torch.onnx.export(Up(), (torch.randn(1, 2, 3, 4), torch.randn(1, 2, 6, 8)), str(path), input_names=["x", "skip"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "skip": {0: "n", 2: "h2", 3: "w2"}}, dynamo=False, opset_version=17)
    model = onnx.load(str(path))
    _check(model, [{"x": _x(1, 2, 3, 4), "skip": _x(1, 2, 6, 8)}, {"x": _x(2, 2, 5, 3), "skip": _x(2, 2, 7, 9)}],
           expect=["ops.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2)"])


def test_slice_and_pad_by_data_tensors_to_static_shapes():
    """starts/axes/steps and pads/axes fed as graph inputs (data, as ONNX's conformance cases do)."""
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"]),
             helper.make_node("Pad", ["x", "pads", "value", "paxes"], ["z"])]
    inputs = {"x": (F32, [3, 5, 4]), "starts": (I64, [2]), "ends": (I64, [2]), "axes": (I64, [2]), "steps": (I64, [2]),
              "pads": (I64, [2]), "value": (F32, []), "paxes": (I64, [1])}
    model = _model(nodes, inputs, ["y", "z"], opset=18)  # Pad takes axes since opset 18
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", F32, [3, 2, 2]))
    model.graph.output[1].CopyFrom(helper.make_tensor_value_info("z", F32, [3, 5, 7]))
    feeds = {"x": _x(3, 5, 4), "starts": np.array([-1, 1], np.int64), "ends": np.array([-10, 3], np.int64),
             "axes": np.array([2, -2], np.int64), "steps": np.array([-2, 1], np.int64),
             "pads": np.array([1, 2], np.int64), "value": np.array(0.5, np.float32), "paxes": np.array([-1], np.int64)}
    _check(model, [feeds], expect=["RuntimeSlice", "RuntimePad"])
