"""Write tests/fixtures/keras_mobilenet_tiny.onnx: a small Keras functional model named like keras.applications.

Needs the `tf` extra (tensorflow-cpu + tf2onnx), which CI does not install: the ONNX file is committed
and the tests read it. Rerun this script after changing the model:

    python tools/make_keras_fixture.py

The model follows MobileNetV2's layer names (`Conv1`, `bn_Conv1`, `block_1_expand`, `block_1_pad`,
`block_2_add`, `predictions`) with random weights and BatchNorm statistics, at 32x32 with 8-24 channels.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras_mobilenet_tiny.onnx"


def build():
    import numpy as np
    import tensorflow as tf
    from tensorflow.keras import layers

    tf.keras.utils.set_random_seed(0)

    def conv_bn(x, filters, kernel, name, stride=1, padding="same", relu=True, depthwise=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False, name=name)(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, name=name)(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_BN")(x)
        return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x

    def block(x, n, filters, stride):
        inputs, channels = x, x.shape[-1]
        x = conv_bn(x, channels * 2, 1, f"block_{n}_expand")
        if stride == 2:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"block_{n}_pad")(x)
        x = conv_bn(x, None, 3, f"block_{n}_depthwise", stride, "valid" if stride == 2 else "same", depthwise=True)
        x = conv_bn(x, filters, 1, f"block_{n}_project", relu=False)
        if stride == 1 and channels == filters:
            x = layers.Add(name=f"block_{n}_add")([inputs, x])
        return x

    image = layers.Input((32, 32, 3), name="input")
    x = layers.Conv2D(8, 3, 2, padding="same", use_bias=False, name="Conv1")(image)
    x = layers.BatchNormalization(epsilon=1e-3, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    x = block(x, 1, 8, 1)
    x = block(x, 2, 8, 1)
    x = block(x, 3, 16, 2)
    x = block(x, 4, 16, 1)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = tf.keras.Model(image, x, name="mobilenet_tiny")
    rng = np.random.default_rng(0)
    for layer in model.layers:  # trained-looking BatchNorm statistics
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.2, 0.2, beta.shape),
                               rng.uniform(-0.2, 0.2, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    return model


def main() -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx

    model = build()
    spec = (tf.TensorSpec((1, 32, 32, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(OUT))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(proto.graph.node)} nodes)")


if __name__ == "__main__":
    main()
