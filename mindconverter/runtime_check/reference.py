"""Reference runners: the source model executed by its own framework (onnxruntime for ONNX).

A model past protobuf's 2 GiB limit exists only with external data. It goes to onnxruntime as it is
(its initializers still refer to their files) with the model's folder as the place to read them from,
so the weights are read by onnxruntime itself and never copied into a message protobuf cannot write.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from mindconverter.errors import RuntimeCheckError

#: onnxruntime's session option naming the folder external initializers are read from when the
#: model is given as bytes (locations stay relative and confined to that folder).
EXTERNAL_FOLDER_KEY = "session.model_external_initializers_file_folder_path"


def session(model: onnx.ModelProto, base_dir: str | os.PathLike[str] | None = None, options=None):
    """An onnxruntime CPU session for `model`, reading its external data (if any) from `base_dir`."""
    import onnxruntime as ort

    if options is None:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures are reported as errors of ours, not printed by onnxruntime
    if base_dir is not None:
        options.add_session_config_entry(EXTERNAL_FOLDER_KEY, os.path.abspath(base_dir))
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                    base_dir: str | os.PathLike[str] | None = None) -> list[np.ndarray]:
    """Run `model` in onnxruntime on CPU (external data read from `base_dir`); the graph outputs in order."""
    try:
        return [np.asarray(x) for x in session(model, base_dir).run(None, feeds)]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise RuntimeCheckError(
            f"onnxruntime cannot run the source model: {str(exc).splitlines()[0]}",
            fix="check the model with onnxruntime yourself, or rerun with --check off",
        ) from exc
