"""Small TensorFlow/Keras models frozen to .pb files the two ways the MindConverter guide shows.

- `freeze_tf2(model, path, shape)`: `tf.function` + `convert_variables_to_constants_v2` + `tf.io.write_graph`
  (the guide's TensorFlow 2.x recipe). Returns the input and output node names of the frozen graph.
- `freeze_tf1(build, path)`: a `tf.compat.v1` graph and session, `remove_training_nodes` and
  `convert_variables_to_constants` (the guide's TensorFlow 1.x recipe), for a graph built by `build()`.

Weights are random (seeded) and BatchNorm statistics look trained, so a lost BatchNorm or bias shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf():
    import tensorflow

    return tensorflow


def randomize(model, seed: int = 0) -> None:
    """Random weights everywhere (biases too), and trained-looking BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        name = weight.path if hasattr(weight, "path") else weight.name
        if "variance" in name or "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            value = rng.uniform(-0.3, 0.3, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))
        weight.assign(value.astype(np.float32))


def freeze_tf2(model, path: Path, shape: tuple) -> tuple[list[str], list[str]]:
    """The guide's TF 2.x recipe; writes `path` and returns (input node names, output node names)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    t = tf()
    spec = t.TensorSpec(shape, model.inputs[0].dtype)
    full_model = t.function(lambda x: model(x)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(full_model)
    t.io.write_graph(frozen.graph, logdir=str(path.parent), name=path.name, as_text=False)
    return [i.name for i in frozen.inputs], [o.name for o in frozen.outputs]


def freeze_tf1(build: Callable[[], tuple[object, object]], path: Path, remove_training_nodes: bool = True) -> tuple[list[str], list[str]]:
    """The guide's TF 1.x recipe on a tf.compat.v1 graph; `build()` returns its (input, output) tensors.

    The recipe's `remove_training_nodes` also removes Identity nodes, the only trace of a Keras 2
    Dropout in inference; `remove_training_nodes=False` freezes without that step.
    """
    t = tf()
    graph = t.Graph()
    with graph.as_default():
        t.compat.v1.set_random_seed(0)
        inp, out = build()
        with t.compat.v1.Session(graph=graph) as session:
            session.run(t.compat.v1.global_variables_initializer())
            outputs = [out.op.name]
            graph_inf = graph.as_graph_def()
            if remove_training_nodes:
                graph_inf = t.compat.v1.graph_util.remove_training_nodes(graph_inf)
            frozen = t.compat.v1.graph_util.convert_variables_to_constants(session, graph_inf, outputs)
    t.io.write_graph(frozen, logdir=str(path.parent), name=path.name, as_text=False)
    return [inp.op.name], outputs


def keras_cnn(size: int = 16):
    """Conv/BatchNorm/ReLU/pool twice, global pooling, Dropout, Dense softmax (MindConverter's CNN shape)."""
    from tensorflow.keras import layers

    t = tf()
    t.keras.utils.set_random_seed(0)
    inp = layers.Input((size, size, 3), name="input_1")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(12, 3, padding="same", name="conv2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.Activation("relu", name="relu2")(x)
    x = layers.GlobalAveragePooling2D(name="pool2")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(5, activation="softmax", name="predictions")(x)
    model = t.keras.Model(inp, x, name="tiny_cnn")
    randomize(model)
    return model


def keras_transformer(seq: int = 6, dim: int = 16):
    """Dense, LayerNormalization and MultiHeadAttention on a (batch, seq, dim) input."""
    from tensorflow.keras import layers

    t = tf()
    t.keras.utils.set_random_seed(0)
    inp = layers.Input((seq, dim), name="tokens")
    x = layers.Dense(dim, name="embed")(inp)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=8, name="attention")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm1")(layers.Add(name="residual1")([x, a]))
    h = layers.Dense(2 * dim, activation="gelu", name="ffn_in")(x)
    h = layers.Dropout(0.1, name="dropout")(h)
    h = layers.Dense(dim, name="ffn_out")(h)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm2")(layers.Add(name="residual2")([x, h]))
    x = layers.Dense(3, name="logits")(x)
    model = t.keras.Model(inp, x, name="tiny_transformer")
    randomize(model)
    return model


def keras_mlp(features: int = 10):
    """Dense, BatchNormalization on the 2-D Dense output, ReLU, Dense."""
    from tensorflow.keras import layers

    t = tf()
    t.keras.utils.set_random_seed(0)
    inp = layers.Input((features,), name="features")
    x = layers.Dense(12, name="hidden")(inp)
    x = layers.BatchNormalization(name="hidden_bn")(x)
    x = layers.ReLU(name="hidden_relu")(x)
    x = layers.Dense(3, name="scores")(x)
    model = t.keras.Model(inp, x, name="tiny_mlp")
    randomize(model)
    return model


def tf1_cnn(size: int = 12) -> tuple[object, object]:
    """A TF1-style graph: variables, conv2d, fused batch norm in inference, and a Keras 2 Dropout's Identity."""
    t = tf()
    v1 = t.compat.v1
    rng = np.random.default_rng(1)
    x = v1.placeholder(t.float32, (None, size, size, 3), name="input_1")
    with v1.variable_scope("conv1"):
        w = v1.get_variable("kernel", initializer=rng.standard_normal((3, 3, 3, 6)).astype(np.float32) / 4)
        b = v1.get_variable("bias", initializer=rng.uniform(-0.3, 0.3, 6).astype(np.float32))
        y = t.nn.bias_add(t.nn.conv2d(x, w, 1, "SAME"), b)
    with v1.variable_scope("batch_normalization"):
        stats = [rng.uniform(0.5, 1.5, 6), rng.uniform(-0.3, 0.3, 6), rng.uniform(-0.3, 0.3, 6), rng.uniform(0.5, 1.5, 6)]
        gamma, beta, mean, var = (v1.get_variable(n, initializer=s.astype(np.float32))
                                  for n, s in zip(("gamma", "beta", "moving_mean", "moving_variance"), stats, strict=True))
        y, _, _ = v1.nn.fused_batch_norm(y, gamma, beta, mean, var, epsilon=1e-3, is_training=False)
    y = t.nn.relu(y, name="relu/Relu")
    y = t.nn.max_pool2d(y, 2, 2, "VALID", name="max_pooling2d/MaxPool")
    y = t.reduce_mean(y, axis=[1, 2], name="global_average_pooling2d/Mean")
    y = t.identity(y, name="dropout/Identity")  # a Keras 2 Dropout in inference (learning phase 0)
    with v1.variable_scope("dense"):
        w = v1.get_variable("kernel", initializer=rng.standard_normal((6, 4)).astype(np.float32))
        b = v1.get_variable("bias", initializer=rng.uniform(-0.3, 0.3, 4).astype(np.float32))
        y = t.nn.bias_add(t.matmul(y, w), b)
    out = t.nn.softmax(y, name="predictions/Softmax")
    return x, out
