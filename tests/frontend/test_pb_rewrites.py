"""The GraphDef rewrites before tf2onnx: each keeps what TensorFlow computes (run in TF before and after)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from mindconverter.frontend.tf_rewrites import (  # noqa: E402
    bias_before_tensordot_reshape,
    read_variables_directly,
    restore_batchnorms,
    rewrite_erfc,
)
from mindconverter.runtime_check.tf_reference import graph_def_runner  # noqa: E402


def _graph(build) -> tuple[object, dict[str, int]]:
    """The GraphDef of `build()` in a fresh graph, and the ranks of its tensors."""
    graph = tf.Graph()
    with graph.as_default():
        build()
    ranks = {t.name: t.shape.rank for op in graph.get_operations() for t in op.outputs if t.shape.rank is not None}
    return graph.as_graph_def(), ranks


def _same(before, after, feeds: dict[str, np.ndarray], output: str) -> None:
    names = list(feeds)
    want = graph_def_runner(before, names, [output])(list(feeds.values()))
    got = graph_def_runner(after, names, [output])(list(feeds.values()))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)


def _copy(graph_def):
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    return out


def _keras3_batchnorm(x, scope: str, channels: int):
    """tf.nn.batch_normalization over constants, as Keras 3 writes an inference BatchNormalization."""
    rng = np.random.default_rng(0)
    with tf.name_scope(scope):
        mean = tf.identity(tf.constant(rng.uniform(-0.3, 0.3, channels).astype(np.float32)), name="Cast/ReadVariableOp")
        var = tf.identity(tf.constant(rng.uniform(0.5, 1.5, channels).astype(np.float32)), name="Cast_1/ReadVariableOp")
        gamma = tf.identity(tf.constant(rng.uniform(0.5, 1.5, channels).astype(np.float32)), name="Cast_2/ReadVariableOp")
        beta = tf.identity(tf.constant(rng.uniform(-0.3, 0.3, channels).astype(np.float32)), name="Cast_3/ReadVariableOp")
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)


def test_keras3_batchnorm_on_nhwc_becomes_fused_batchnorm_over_the_same_constants():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (2, 4, 4, 3), name="x")
        tf.nn.relu(_keras3_batchnorm(x, "bn", 3), name="out")

    before, ranks = _graph(build)
    after = _copy(before)
    assert restore_batchnorms(after, ranks) == ["bn"]
    (fused,) = [n for n in after.node if n.op == "FusedBatchNormV3"]
    assert list(fused.input) == ["x", "bn/Cast_2/ReadVariableOp:0", "bn/Cast_3/ReadVariableOp:0", "bn/Cast/ReadVariableOp:0",
                                 "bn/Cast_1/ReadVariableOp:0"]
    assert fused.attr["epsilon"].f == pytest.approx(1e-3) and not fused.attr["is_training"].b
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3)).astype(np.float32)
    _same(before, after, {"x:0": x}, "out:0")


def test_keras3_batchnorm_on_a_dense_output_is_cut_out_with_its_statistics():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (2, 5), name="x")
        h = tf.matmul(x, tf.constant(np.ones((5, 3), np.float32)), name="dense/MatMul")
        tf.nn.relu(_keras3_batchnorm(h, "bn", 3), name="out")

    graph_def, ranks = _graph(build)
    flat: list[dict] = []
    assert restore_batchnorms(graph_def, ranks, flat) == ["bn"]
    (bn,) = flat
    assert bn["x"] == "dense/MatMul:0" and bn["eps"] == pytest.approx(1e-3)
    assert bn["var"][0] == "bn/Cast_1/ReadVariableOp:0" and bn["var"][1].shape == (3,)
    relu = next(n for n in graph_def.node if n.name == "out")
    assert list(relu.input) == ["dense/MatMul"]  # the BatchNorm is put back after tf2onnx (insert_batchnorms)


def test_erfc_of_a_negated_argument_becomes_one_plus_erf():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (3, 4), name="x")
        tf.multiply(0.5 * x, tf.math.erfc(-x * 0.70710677), name="out")

    before, _ = _graph(build)
    after = _copy(before)
    assert rewrite_erfc(after) == 1
    erfc = next(n for n in after.node if n.name == "Erfc")
    assert erfc.op == "AddV2" and not any(n.op == "Erfc" for n in after.node)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    _same(before, after, {"x:0": x}, "out:0")


def test_erfc_of_any_argument_becomes_one_minus_erf():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (3, 4), name="x")
        tf.math.erfc(x * 2.0, name="out")

    before, _ = _graph(build)
    after = _copy(before)
    assert rewrite_erfc(after) == 1
    assert next(n for n in after.node if n.name == "out").op == "Sub"
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    _same(before, after, {"x:0": x}, "out:0")


def test_tensordot_bias_moves_before_the_output_reshape():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (2, 3, 4), name="x")
        with tf.name_scope("dense"):
            w = tf.constant(np.random.default_rng(4).standard_normal((4, 5)).astype(np.float32))
            b = tf.constant(np.arange(5, dtype=np.float32))
            y = tf.tensordot(x, w, axes=[[2], [0]], name="Tensordot")
            tf.nn.bias_add(y, b, name="BiasAdd")
        tf.nn.relu(tf.compat.v1.get_default_graph().get_tensor_by_name("dense/BiasAdd:0"), name="out")

    before, _ = _graph(build)
    after = _copy(before)
    assert bias_before_tensordot_reshape(after, set()) == 1
    nodes = {n.name: n for n in after.node}
    assert nodes["dense/BiasAdd"].input[0] == "dense/Tensordot/MatMul"
    assert nodes["dense/Tensordot"].input[0] == "dense/BiasAdd" and list(nodes["out"].input) == ["dense/Tensordot"]
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    _same(before, after, {"x:0": x}, "out:0")


def test_weights_read_through_identity_take_the_variables_name():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, (2, 3), name="x")
        kernel = tf.constant(np.ones((3, 2), np.float32), name="dense/kernel")
        captured = tf.constant(np.ones((2,), np.float32), name="dense/bias/ReadVariableOp/resource")
        k = tf.identity(kernel, name="dense/MatMul/ReadVariableOp")
        b = tf.identity(captured, name="dense/BiasAdd/ReadVariableOp")
        tf.nn.bias_add(tf.matmul(x, k, name="dense/MatMul"), b, name="out")

    graph_def, _ = _graph(build)
    assert read_variables_directly(graph_def, {"out"}) == 1
    nodes = {n.name: n for n in graph_def.node}
    assert list(nodes["dense/MatMul"].input) == ["x", "dense/kernel"]  # TF1 freezing: the variable's name
    assert list(nodes["out"].input)[1] == "dense/BiasAdd/ReadVariableOp"  # TF2 capture: the reader's name is better
