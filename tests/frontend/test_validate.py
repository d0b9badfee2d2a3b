"""Validation at the door: malformed or hostile models get one coded error naming the node and the rule."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import TensorProto, helper, numpy_helper

from mindconverter.errors import (
    ExternalDataError,
    InvalidAttributeError,
    InvalidModelError,
    ModelLoadError,
    UnsupportedVersionError,
)
from mindconverter.frontend import validate
from mindconverter.frontend.onnx import load_onnx


def _raw(nodes, inputs, outputs, inits=(), opset=17, ir_version=8) -> onnx.ModelProto:
    """A model built without checks, so it can break the rules on purpose."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs], list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def _load(tmp_path, model: onnx.ModelProto | bytes):
    path = tmp_path / "m.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return load_onnx(path)


def _relu(x="x", y="y", name="r"):
    return helper.make_node("Relu", [x], [y], name=name)


# -- the file -------------------------------------------------------------------------------


def test_empty_file_bare_graph_and_other_protobufs_are_refused(tmp_path):
    with pytest.raises(InvalidModelError, match=r"'m.onnx' is empty \(0 bytes\)") as exc:
        _load(tmp_path, b"")
    assert exc.value.code == 1000003
    graph = _raw([_relu()], [("x", [1, 4])], ["y"]).graph
    with pytest.raises(InvalidModelError, match="is a bare GraphProto") as exc:
        _load(tmp_path, graph.SerializeToString())
    assert "make_model" in exc.value.fix
    tensor = numpy_helper.from_array(np.ones((3, 3), np.float32), "t")
    with pytest.raises(ModelLoadError):
        _load(tmp_path, tensor.SerializeToString())


def test_ir_version_and_opset_out_of_range(tmp_path):
    with pytest.raises(UnsupportedVersionError, match="IR version 0; mindconverter reads IR versions 3 to"):
        _load(tmp_path, _raw([_relu()], [("x", [1, 4])], ["y"], ir_version=0))
    with pytest.raises(UnsupportedVersionError, match="uses ONNX opset 99; mindconverter reads opsets 1 to"):
        _load(tmp_path, _raw([_relu()], [("x", [1, 4])], ["y"], opset=99))
    model = _raw([_relu()], [("x", [1, 4])], ["y"])
    del model.opset_import[:]
    with pytest.raises(InvalidModelError, match="no opset import for the default ONNX domain"):
        _load(tmp_path, model)


# -- the graph ------------------------------------------------------------------------------


def test_value_produced_twice_and_output_listed_twice(tmp_path):
    nodes = [_relu("x", "y", "a"), helper.make_node("Sigmoid", ["x"], ["y"], name="b")]
    with pytest.raises(InvalidModelError, match=r"value 'y' is produced twice: by node 'a' \(Relu\) and by node 'b'"):
        _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"]))
    model = _raw([_relu()], [("x", [1, 4])], ["y", "y"])
    with pytest.raises(InvalidModelError, match="output 'y' is listed twice"):
        _load(tmp_path, model)
    with pytest.raises(InvalidModelError, match="value 'x' is produced twice"):
        _load(tmp_path, _raw([_relu()], [("x", [1, 4]), ("x", [1, 4])], ["y"]))


def test_dangling_input_and_cycle_are_named(tmp_path):
    with pytest.raises(InvalidModelError, match=r"node 'r' \(Relu\) reads 'ghost', which no node, input or initializer produces"):
        _load(tmp_path, _raw([_relu("ghost")], [("x", [1, 4])], ["y"]))
    cycle = [helper.make_node("Add", ["x", "b"], ["a"], name="p"), helper.make_node("Relu", ["a"], ["b"], name="q")]
    with pytest.raises(InvalidModelError, match=r"the graph has a cycle through node 'p' \(Add\) and 1 other node"):
        _load(tmp_path, _raw(cycle, [("x", [1, 4])], ["b"]))
    with pytest.raises(InvalidModelError, match="reads its own output"):
        _load(tmp_path, _raw([helper.make_node("Add", ["x", "y"], ["y"], name="s")], [("x", [1, 4])], ["y"]))
    with pytest.raises(InvalidModelError, match="output 'z' is produced by no node"):
        _load(tmp_path, _raw([_relu()], [("x", [1, 4])], ["z"]))


def test_nodes_out_of_order_are_sorted(tmp_path):
    nodes = [helper.make_node("Sigmoid", ["a"], ["y"], name="second"), _relu("x", "a", "first")]
    module = _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"])).module
    assert [op.name for op in module.main.body.ops][:2] == ["onnx.Relu", "onnx.Sigmoid"]


# -- tensors --------------------------------------------------------------------------------


def test_initializer_data_must_match_its_dims(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    short = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    short.raw_data = short.raw_data[:-4]
    with pytest.raises(InvalidModelError, match=r"tensor dims \[4, 4\] need 64 bytes of raw data, it has 60") as exc:
        _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"], [short]))
    assert exc.value.where == "initializer 'w'"
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4], float_data=[1.0] * 15)
    with pytest.raises(InvalidModelError, match="need 16 entries in float_data, it has 15"):
        _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"], [typed]))
    negative = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, -4])
    with pytest.raises(InvalidModelError, match="negative"):
        _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"], [negative]))
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**40, 2**40])
    with pytest.raises(InvalidModelError, match="need"):
        _load(tmp_path, _raw(nodes, [("x", [1, 4])], ["y"], [huge]))


# -- attributes -----------------------------------------------------------------------------


def _conv_model(x_shape, w_shape, **attrs):
    w = numpy_helper.from_array(np.ones(w_shape, np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **attrs)
    return _raw([node], [("x", list(x_shape))], ["y"], [w])


def test_attribute_of_the_wrong_type_is_refused(tmp_path):
    model = _conv_model((1, 4, 8, 8), (4, 4, 3, 3))
    model.graph.node[0].attribute.append(helper.make_attribute("group", 1.5))
    with pytest.raises(InvalidAttributeError, match=r"attribute 'group' of node 'conv1' \(Conv\) is FLOAT, but Conv \(opset 17\) takes INT") as exc:
        _load(tmp_path, model)
    assert exc.value.code == 1000005


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "attrs", "rule"),
    [
        ((1, 4, 8, 8), (4, 2, 3, 3), {"group": 3}, "group 3 does not divide the 4 input channels"),
        ((1, 6, 8, 8), (4, 2, 3, 3), {"group": 3}, r"group 3 does not divide the 4 output channels"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"group": 0}, "group 0 must be >= 1"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"strides": [0, 1]}, r"strides \[0, 1\] must be positive"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"strides": [-2, 1]}, "must be positive"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"dilations": [1, 0]}, "dilations"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"pads": [0, -1, 0, 0]}, "are negative"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"strides": [1, 1, 1]}, "has 3 entries for 2 spatial dim"),
        ((1, 4, 2, 2), (4, 4, 3, 3), {}, r"kernel \[3, 3\] .* is larger than the padded input"),
        ((1, 4, 8, 8), (4, 4, 3, 3), {"dilations": [4, 4]}, "larger than the padded input"),
        ((1, 4, 8, 8), (4, 3, 3, 3), {}, "W .* expects 3 input channels, the input has 4"),
    ],
)
def test_conv_attribute_values_the_op_cannot_run_with(tmp_path, x_shape, w_shape, attrs, rule):
    with pytest.raises(InvalidAttributeError, match=rule) as exc:
        _load(tmp_path, _conv_model(x_shape, w_shape, **attrs))
    assert exc.value.where == "node 'conv1' (Conv)"


def test_unknown_attributes_and_input_counts_are_refused_at_the_door(tmp_path):
    relu = helper.make_node("Relu", ["x"], ["y"], name="r", axis=1)
    with pytest.raises(InvalidAttributeError, match=r"node 'r' \(Relu\) has attribute 'axis', which Relu \(opset 17\) does not have"):
        _load(tmp_path, _raw([relu], [("x", [1, 4])], ["y"]))
    matmul = helper.make_node("MatMul", ["x", "x", "x"], ["y"], name="mm")
    with pytest.raises(InvalidModelError, match=r"node 'mm' \(MatMul\) has 3 inputs; MatMul \(opset 17\) takes 2"):
        _load(tmp_path, _raw([matmul], [("x", [4, 4])], ["y"]))
    add = helper.make_node("Add", [], ["y"], name="a")
    with pytest.raises(InvalidModelError, match="has 0 inputs; Add .* takes 2"):
        _load(tmp_path, _raw([add], [("x", [4, 4])], ["y"]))


def test_other_attribute_values(tmp_path):
    x = [("x", [1, 4, 8, 8])]
    cases = [
        (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3, 3], strides=[0, 0]), "strides"),
        (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[16, 16]), "larger than the padded input"),
        (helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 0, 1, 2]), "is not a permutation"),
        (helper.make_node("Softmax", ["x"], ["y"], name="s", axis=4), "axis 4 is out of range for an input of rank 4"),
        (helper.make_node("DepthToSpace", ["x"], ["y"], name="d", blocksize=0), "blocksize 0"),
    ]
    for node, rule in cases:
        with pytest.raises(InvalidAttributeError, match=rule):
            _load(tmp_path, _raw([node], x, ["y"]))


def test_valid_models_pass_the_door():
    from helpers import EXAMPLE, light_model_path

    from mindconverter.frontend import validate, validate_nodes

    for path in (EXAMPLE, light_model_path("squeezenet"), light_model_path("inception_v1")):
        model = validate.read_model(path)
        validate.validate_model(model, path)
        validate_nodes.check_attribute_values(onnx.shape_inference.infer_shapes(model))


# -- external data --------------------------------------------------------------------------


@pytest.fixture
def opened_paths():
    """Every path the process opens while the test runs (audit hooks see open, os.open and mmap)."""
    seen: list[str] = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            seen.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    yield seen
    active[0] = False


def _external_model(tmp_path, location: str) -> onnx.ModelProto:
    model_dir = tmp_path / "model"
    model_dir.mkdir(exist_ok=True)
    w = np.ones((4, 4), np.float32)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (np.float32, (1, 4))}, ["y"], {"w": w})
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = init.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, model_dir / "m.onnx")
    return model_dir / "m.onnx"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_external_data_outside_the_folder_is_refused_unread(tmp_path, opened_paths, how):
    canary = tmp_path / "canary.bin"
    canary.write_bytes(np.full(16, 7, np.float32).tobytes())
    location = {"dotdot": "../canary.bin", "absolute": str(canary), "symlink": "link.bin"}[how]
    path = _external_model(tmp_path, location)
    if how == "symlink":
        (path.parent / "link.bin").symlink_to(canary)
    opened_paths.clear()  # from here on, the canary must not be opened
    with pytest.raises(ExternalDataError, match="outside the model's folder|leaves the model's folder|absolute path") as exc:
        load_onnx(path)
    assert exc.value.code == 1000006 and exc.value.where == "initializer 'w'"
    assert not [p for p in opened_paths if os.path.basename(p) in ("canary.bin", "link.bin")]


def test_external_data_must_fit_its_file(tmp_path):
    path = _external_model(tmp_path, "w.bin")
    (path.parent / "w.bin").write_bytes(b"\0" * 60)
    with pytest.raises(ExternalDataError, match=r"needs bytes 0..64 of 'w.bin', which has 60"):
        load_onnx(path)
    (path.parent / "w.bin").write_bytes(b"\0" * 64)
    module = load_onnx(path).module
    assert isinstance(module.weights.get("w"), np.memmap)


def test_external_data_in_the_cli_is_a_coded_error(tmp_path, capsys):
    from mindconverter.cli import main

    (tmp_path / "canary.bin").write_bytes(b"\0" * 64)
    path = _external_model(tmp_path, "../canary.bin")
    assert main(["--model_file", str(path), "--output", str(tmp_path / "out"), "--check", "off"]) == 1
    err = capsys.readouterr().err
    assert "error[1000006]: external data location '../canary.bin' leaves the model's folder" in err
    assert not (tmp_path / "out").exists()


def test_the_reference_reads_external_data_from_the_model_folder_not_the_working_directory(tmp_path, monkeypatch):
    from mindconverter.runtime_check.reference import run_onnxruntime

    path = _external_model(tmp_path, "w.bin")
    (path.parent / "w.bin").write_bytes(np.eye(4, dtype=np.float32).tobytes())
    decoy = tmp_path / "cwd"
    decoy.mkdir()
    (decoy / "w.bin").write_bytes(np.full(16, 5.0, np.float32).tobytes())
    monkeypatch.chdir(decoy)
    source = load_onnx(path)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_array_equal(run_onnxruntime(source.source_model, {"x": x}, source.base_dir)[0], x)
    assert isinstance(source.module.weights.get("w"), np.memmap)  # the IR still maps the file


def test_a_declared_type_that_contradicts_its_op_is_the_models_error(tmp_path):
    graph = helper.make_graph([_relu()], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [0, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(InvalidModelError, match=r"a declared type contradicts its op: .*Relu.*differ in dimension 0: \(4\) vs \(0\)"):
        _load(tmp_path, model)


def test_shape_inference_gets_the_weights_types_not_their_data(tmp_path, monkeypatch):
    """onnx's inference serializes the model it is given (twice over): large weights go as typed inputs."""
    seen = []
    infer = onnx.shape_inference.infer_shapes

    def recording(model, *args, **kwargs):
        seen.append(model.ByteSize())
        return infer(model, *args, **kwargs)

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", recording)
    w = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)  # 1 MiB
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Reshape", ["h", "to"], ["y"], name="reshape")]  # its target is read by value
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 512])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([4, -1]), "to")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    typed = validate.infer_types(model, tmp_path / "m.onnx")
    assert seen and max(seen) < 10_000, seen
    assert [d.dim_value for d in typed.graph.output[0].type.tensor_type.shape.dim] == [4, 256]
    assert [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in typed.graph.value_info] == [("h", [2, 512])]
    assert [t.name for t in typed.graph.initializer] == ["w", "to"] and [i.name for i in typed.graph.input] == ["x"]
    np.testing.assert_array_equal(numpy_helper.to_array(typed.graph.initializer[0]), w)


def test_unknown_default_domain_ops_and_missing_required_attributes(tmp_path):
    bogus = helper.make_node("Frobnicate", ["x"], ["y"], name="f")
    with pytest.raises(InvalidModelError, match=r"node 'f' \(Frobnicate\): 'Frobnicate' is not an ONNX operator at opset 17"):
        _load(tmp_path, _raw([bogus], [("x", [1, 4])], ["y"]))
    gelu = helper.make_node("Gelu", ["x"], ["y"], name="g")
    with pytest.raises(InvalidModelError, match="is not an ONNX operator at opset 17 \\(it was added later\\)"):
        _load(tmp_path, _raw([gelu], [("x", [1, 4])], ["y"]))
    concat = helper.make_node("Concat", ["x", "x"], ["y"], name="c")
    with pytest.raises(InvalidAttributeError, match="node 'c' \\(Concat\\) lacks the required attribute 'axis'"):
        _load(tmp_path, _raw([concat], [("x", [1, 4])], ["y"]))


def test_strings_that_are_not_utf8_are_refused(tmp_path):
    data = _raw([_relu(name="NODENAME")], [("x", [1, 4])], ["y"]).SerializeToString()
    with pytest.raises(InvalidModelError, match=r"NodeProto.name is not valid UTF-8: b'NODE\\xcf\\xffME'"):
        _load(tmp_path, data.replace(b"NODENAME", b"NODE\xcf\xffME"))
