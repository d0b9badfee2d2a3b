"""ONNX frontend: loading, opset upgrade, weights, input shapes, output cuts, and IR round trips."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import EXAMPLE, LIGHT_MODELS, light_model_path, make_model
from onnx import helper

from mindconverter.errors import ArgumentError, ModelLoadError
from mindconverter.frontend.onnx import load_onnx, parse_shape
from mindconverter.ir import Sym, parse, print_module, verify
from mindconverter.passes.manager import run_default_pipeline


def test_example_becomes_onnx_ops_with_params_and_locations():
    source = load_onnx(EXAMPLE)
    module = source.module
    verify(module)
    assert source.source_opset == 13 and source.opset == 17 and module.attrs == {"source": "onnx", "opset": 17}
    assert [a.name for a in module.main.args] == ["input"] and module.main.output_names == ["probs"]
    conv = next(op for op in module.ops() if op.name == "onnx.Conv")
    assert conv.loc == ("/conv1/Conv",)
    assert conv.operands[1].op.name == "ir.param" and conv.operands[1].op.attrs["key"] == "conv1.weight"
    assert module.weights.get("conv1.weight").shape == (8, 3, 3, 3)
    assert str(module.main.outputs[0].type) == "tensor<1x10xf32>"


def test_symbolic_input_dims_are_kept_and_shape_fixes_them(tmp_path):
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, ("batch", 4))}, ["y"]
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    arg = load_onnx(path).module.main.args[0]
    assert arg.type.dims == (Sym("batch"), 4)
    fixed = load_onnx(path, shapes={"x": (3, 4)}).module
    assert str(fixed.main.args[0].type) == "tensor<3x4xf32>"
    with pytest.raises(ArgumentError, match="input node 'nope' is not an input of the model"):
        load_onnx(path, shapes={"nope": (3, 4)})
    with pytest.raises(ArgumentError, match="has rank 3 but the model's input has rank 2"):
        load_onnx(path, shapes={"x": (3, 4, 5)})
    with pytest.raises(ArgumentError, match="sets dim 1 to 5, but the model fixes it to 4"):
        load_onnx(path, shapes={"x": (3, 5)})


def test_output_nodes_cut_the_graph(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(
        make_model(
            [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]), helper.make_node("Exp", ["b"], ["c"])],
            {"x": (np.float32, (2,))},
            ["c"],
        ),
        path,
    )
    source = load_onnx(path, outputs=["a"])
    assert [op.name for op in source.module.ops()] == ["onnx.Relu", "ir.return"]
    assert source.output_names == ["a"] and [o.name for o in source.source_model.graph.output] == ["a"]
    with pytest.raises(ArgumentError, match="output node 'zzz' is not a tensor of the model"):
        load_onnx(path, outputs=["zzz"])


def test_external_data_is_memory_mapped(tmp_path):
    w = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (np.float32, (1, 64))}, ["y"], {"w": w}
    )
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="m.data", size_threshold=0)
    module = load_onnx(tmp_path / "m.onnx").module
    loaded = module.weights.get("w")
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, w)


def test_missing_external_data_is_a_clear_error(tmp_path):
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (np.float32, (1, 8))}, ["y"], {"w": np.ones((8, 8), np.float32)}
    )
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="m.data", size_threshold=0)
    (tmp_path / "m.data").unlink()
    with pytest.raises(ModelLoadError, match="external data file 'm.data' of initializer 'w' is missing"):
        load_onnx(tmp_path / "m.onnx")


def test_unreadable_and_missing_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf \x00\xff")
    with pytest.raises(ModelLoadError, match="cannot parse 'bad.onnx' as an ONNX model"):
        load_onnx(bad)
    with pytest.raises(ArgumentError, match="does not exist"):
        load_onnx(tmp_path / "missing.onnx")


def test_the_torch_frontends_attention_dropouts_become_a_module_attribute_that_prints_and_parses(tmp_path):
    from mindconverter.frontend.onnx import MHA_DROPOUT_KEY

    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, (2, 4))}, ["y"])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert "multihead_attention_dropout" not in load_onnx(path).module.attrs  # no metadata: nothing recorded
    model.metadata_props.add(key=MHA_DROPOUT_KEY, value='{"encoder.layers.0.self_attn": 0.1, "": 0.2}')
    onnx.save(model, path)
    module = load_onnx(path).module
    assert module.attrs["multihead_attention_dropout"] == [["encoder.layers.0.self_attn", 0.1], ["", 0.2]]
    assert parse(print_module(module)).attrs == module.attrs
    model.metadata_props[0].value = "[0.1]"
    onnx.save(model, path)
    with pytest.raises(ModelLoadError, match="is not a JSON object of module path -> p"):
        load_onnx(path)


def test_parse_shape():
    assert parse_shape("1,3,224,224") == (1, 3, 224, 224)
    assert parse_shape("[2, 5]") == (2, 5)
    with pytest.raises(ArgumentError, match="not a comma-separated list of integers"):
        parse_shape("1,x,3")
    with pytest.raises(ArgumentError, match="must list positive sizes"):
        parse_shape("1,0")


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_load_fold_and_round_trip(name):
    """Every light model: upgrade to opset 17, fold its ConstantOfShape weights, print/parse/print."""
    module = load_onnx(light_model_path(name)).module
    assert print_module(parse(print_module(module))) == print_module(module)
    run_default_pipeline(module)
    ops = {op.name for op in module.ops()}
    assert "onnx.ConstantOfShape" not in ops, "generated weights must fold into parameters"
    text = print_module(module)
    assert print_module(parse(text)) == text
    convs = [op for op in module.ops() if op.name == "onnx.Conv"]
    assert convs and all(op.operands[1].op.name == "ir.param" for op in convs)
    assert all(op.results[0].type.is_static for op in module.ops() if op.results)


@pytest.mark.parametrize("opset", [13, 17])
def test_torch_exports_round_trip(tmp_path, opset):
    pytest.importorskip("torch")
    import torch_models
    for build in (torch_models.resnet_style, torch_models.mlp):
        model, shape = build()
        path = torch_models.export(model, shape, tmp_path / f"{build.__name__}.onnx", opset)
        module = load_onnx(path).module
        run_default_pipeline(module)
        text = print_module(module)
        assert print_module(parse(text)) == text


def test_control_flow_subgraphs_become_regions(tmp_path):
    """If's branches are op regions; they see outer values, print, parse back and verify."""
    then_graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [2])]
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, [2])]
    )
    model = make_model(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        {"c": (np.bool_, ()), "x": (np.float32, (2,))},
        ["y"],
    )
    onnx.save(model, tmp_path / "if.onnx")
    module = load_onnx(tmp_path / "if.onnx").module
    verify(module)
    if_op = next(op for op in module.ops() if op.name == "onnx.If")
    assert [[o.name for o in r.ops] for r in if_op.regions] == [["onnx.Add", "ir.yield"], ["onnx.Neg", "ir.yield"]]
    text = print_module(module)
    assert print_module(parse(text)) == text
    run_default_pipeline(module)  # passes leave regions valid
    verify(module)


def test_the_torch_frontends_trainable_weights_become_a_module_attribute_that_prints_and_parses(tmp_path):
    from mindconverter.frontend.onnx import TRAINABLE_KEY

    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, (2, 4))}, ["y"])
    model.metadata_props.add(key=TRAINABLE_KEY, value='["fc.weight", "fc.bias"]')
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    module = load_onnx(path).module
    assert module.attrs["trainable_weights"] == ["fc.weight", "fc.bias"]
    assert parse(print_module(module)).attrs == module.attrs
    model.metadata_props[0].value = '{"fc.weight": true}'
    onnx.save(model, path)
    with pytest.raises(ModelLoadError, match="is not a JSON list of weight names"):
        load_onnx(path)
