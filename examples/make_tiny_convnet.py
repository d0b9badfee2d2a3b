"""Build examples/tiny_convnet.onnx: a small CNN with seeded random weights (no download needed).

conv-bn-relu -> maxpool -> conv-relu -> global average pool -> flatten -> gemm -> softmax, opset 13,
with node names in torch's export style so the generated code has readable member names.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(2024)

    def w(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    inits = {
        "conv1.weight": w(8, 3, 3, 3),
        "bn1.weight": (1 + w(8)).astype(np.float32),
        "bn1.bias": w(8),
        "bn1.running_mean": w(8),
        "bn1.running_var": (1 + np.abs(w(8))).astype(np.float32),
        "conv2.weight": w(16, 8, 3, 3),
        "conv2.bias": w(16),
        "fc.weight": w(10, 16),
        "fc.bias": w(10),
    }
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight"], ["c1"], "/conv1/Conv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node(
            "BatchNormalization",
            ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
            ["b1"],
            "/bn1/BatchNormalization",
            epsilon=1e-5,
        ),
        helper.make_node("Relu", ["b1"], ["r1"], "/relu/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], "/maxpool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], "/conv2/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], "/relu_1/Relu"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], "/avgpool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], "/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], "/fc/Gemm", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], "/softmax/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_convnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mindconverter-examples")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(__file__).with_name("tiny_convnet.onnx")
    onnx.save(build(), out)
    print(f"wrote {out}")
