"""Reference runners: the source model executed by its own framework (onnxruntime for ONNX)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx

from mindconverter.errors import RuntimeCheckError

#: protobuf cannot serialize a message of 2 GiB or more; a bigger model goes to onnxruntime as files.
PROTO_LIMIT = 2**31 - 1


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray], base_dir: str | None = None) -> list[np.ndarray]:
    """Run `model` in onnxruntime on CPU; returns the graph outputs in order."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures are reported as errors of ours, not printed by onnxruntime
    try:
        if model.ByteSize() < PROTO_LIMIT:
            return _run(ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]), feeds)
        with tempfile.TemporaryDirectory(prefix="mindconverter-reference-") as tmp:
            path = os.path.join(tmp, "model.onnx")
            copy = onnx.ModelProto()
            copy.CopyFrom(model)  # saving with external data moves the tensors out of the model it is given
            onnx.save_model(copy, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin")
            del copy
            return _run(ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]), feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise RuntimeCheckError(
            f"onnxruntime cannot run the source model: {str(exc).splitlines()[0]}",
            fix="check the model with onnxruntime yourself, or rerun with --check off",
        ) from exc


def _run(session, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x) for x in session.run(None, feeds)]
