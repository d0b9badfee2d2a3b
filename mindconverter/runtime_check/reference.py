"""Reference runners: the source model executed by its own framework (onnxruntime for ONNX)."""

from __future__ import annotations

import numpy as np
import onnx

from mindconverter.errors import RuntimeCheckError


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray], base_dir: str | None = None) -> list[np.ndarray]:
    """Run `model` in onnxruntime on CPU; returns the graph outputs in order."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures are reported as errors of ours, not printed by onnxruntime
    try:
        data = model.SerializeToString()
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return [np.asarray(x) for x in session.run(None, feeds)]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise RuntimeCheckError(
            f"onnxruntime cannot run the source model: {str(exc).splitlines()[0]}",
            fix="check the model with onnxruntime yourself, or rerun with --check off",
        ) from exc
