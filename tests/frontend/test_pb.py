"""The TensorFlow frontend: node names, the errors that list candidates, Keras BatchNorm kept, TF names kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import tf_models  # noqa: E402

from mindconverter.errors import ArgumentError  # noqa: E402
from mindconverter.frontend.pb import load_pb, read_graph_def, resolve_nodes, split_node_names, tensor_name  # noqa: E402
from mindconverter.ir.types import Sym  # noqa: E402


@pytest.fixture(scope="module")
def cnn_pb(tmp_path_factory):
    path = tmp_path_factory.mktemp("pb") / "cnn.pb"
    ins, outs = tf_models.freeze_tf2(tf_models.keras_cnn(), path, (None, 16, 16, 3))
    return path, ins, outs


def test_node_names_with_and_without_port_and_separated_by_spaces():
    assert split_node_names(["input_1:0 mask", "ids,extra"]) == ["input_1:0", "mask", "ids", "extra"]
    assert [tensor_name(n) for n in ("input_1", "input_1:0", "split:1", "^ctrl")] == ["input_1:0", "input_1:0", "split:1", "ctrl:0"]


def test_missing_input_nodes_lists_the_placeholders_and_likely_outputs(cnn_pb):
    path, _, _ = cnn_pb
    graph_def = read_graph_def(path)
    with pytest.raises(ArgumentError, match="needs --input_nodes") as err:
        resolve_nodes(graph_def, None, ["Identity"], path)
    assert "placeholders: x:0 (float32, [None, 16, 16, 3])" in err.value.where
    assert "likely outputs (consumed by nothing): Identity:0" in err.value.where
    assert err.value.fix == "name them, e.g. --input_nodes x"


def test_wrong_output_node_lists_the_candidates(cnn_pb):
    path, _, _ = cnn_pb
    graph_def = read_graph_def(path)
    with pytest.raises(ArgumentError, match="--output_nodes names 'predictions/Softmax:0', which is not a node") as err:
        resolve_nodes(graph_def, ["x"], ["predictions/Softmax:0"], path)
    assert "x:0 (float32, [None, 16, 16, 3])" in err.value.where and "Identity:0" in err.value.where
    assert resolve_nodes(graph_def, ["x:0"], ["Identity"], path) == (["x:0"], ["Identity:0"])


def test_keras_batchnorm_is_kept_with_tf_names_and_a_symbolic_batch(cnn_pb):
    path, ins, outs = cnn_pb
    source = load_pb(path, None, ins, outs)
    module = source.onnx.module
    assert source.batchnorms == ["tiny_cnn_1/bn1_1", "tiny_cnn_1/bn2_1"]
    bns = [op for op in module.ops() if op.name == "onnx.BatchNormalization"]
    assert [op.loc_name for op in bns] == ["tiny_cnn_1/bn1_1/FusedBatchNormV3", "tiny_cnn_1/bn2_1/FusedBatchNormV3"]
    # The statistics are the TF constants, by name (the moving variance is Keras' `Cast_1`).
    stats = [v.op.attrs["key"] for v in bns[0].operands[1:]]
    assert all(k.startswith("tiny_cnn_1/bn1_1/") for k in stats), stats
    origins = set(module.weights.origin.values())
    assert {"tiny_cnn_1/conv1_1/convolution/ReadVariableOp:0", "tiny_cnn_1/bn1_1/Cast_1/ReadVariableOp:0",
            "tiny_cnn_1/predictions_1/Cast/ReadVariableOp:0"} <= origins, origins
    (arg,) = module.main.args
    assert arg.name == "x" and arg.type.dims[0] == Sym("batch") and arg.type.dims[1:] == (16, 16, 3)
    assert module.main.output_names == ["Identity"]
    assert module.attrs["source"] == "pb"


def test_shape_fixes_the_batch_and_must_agree_with_the_graph(cnn_pb):
    path, ins, outs = cnn_pb
    source = load_pb(path, ["2,16,16,3"], ins, outs)
    assert source.onnx.module.main.args[0].type.dims == (2, 16, 16, 3)
    with pytest.raises(ArgumentError, match="sets dim 1 to 8, but the graph fixes it to 16"):
        load_pb(path, ["2,8,16,3"], ins, outs)


def test_without_tensorflow_the_error_names_the_extra(monkeypatch):
    from mindconverter.frontend.pb import import_tf

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ArgumentError, match="needs tensorflow and tf2onnx") as err:
        import_tf()
    assert "mindconverter[tf]" in err.value.fix


def test_onnx_conversion_and_help_never_import_tensorflow():
    code = (
        "import sys\n"
        "from mindconverter import api, cli\n"
        "from mindconverter.frontend.onnx import load_onnx\n"
        "load_onnx('examples/tiny_convnet.onnx')\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'tf2onnx' not in sys.modules, 'tensorflow was imported'\n"
    )
    from helpers import ROOT

    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_command_line_error_for_a_wrong_input_node_lists_the_placeholders(cnn_pb, tmp_path, capsys):
    from mindconverter.cli import main

    path, _, _ = cnn_pb
    code = main(["--model_file", str(path), "--input_nodes", "input_1:0", "--output_nodes", "Identity:0",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and not (tmp_path / "out").exists()
    assert "error[0000001]: --input_nodes names 'input_1:0', which is not a node of the graph" in err, err
    assert "placeholders: x:0 (float32, [None, 16, 16, 3]); likely outputs (consumed by nothing): Identity:0" in err, err


def test_sink_transposes_alone_moves_the_body_to_nchw(cnn_pb):
    """Without tf2onnx's own transpose optimizer every conv, pool and norm is wrapped; the passes cancel the pairs."""
    import numpy as np

    from mindconverter.passes.manager import PassManager
    from mindconverter.runtime_check.evaluate import run_ir
    from mindconverter.runtime_check.tf_reference import graph_def_runner

    path, ins, outs = cnn_pb
    source = load_pb(path, ["2,16,16,3"], ins, outs, skip_tf2onnx_optimizers=("optimize_transpose", "remove_back_to_back"))
    module = source.onnx.module

    def transposes():
        return [op for op in module.ops() if op.name == "onnx.Transpose"]

    assert len(transposes()) >= 8  # in and out of each conv, pool and norm
    PassManager(("cleanup", "infer-shapes", "fold-constants", "cleanup", "dce", "infer-shapes", "sink-transposes", "dce")).run(module)
    (left,) = transposes()
    assert left.operands[0] is module.main.args[0] and list(left.attrs["perm"]) == [0, 3, 1, 2]  # NHWC in, one transpose
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype(np.float32)
    (want,) = graph_def_runner(source.graph_def, source.input_tensors, source.output_tensors)([x])
    (got,) = run_ir(module, [x]).outputs
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
