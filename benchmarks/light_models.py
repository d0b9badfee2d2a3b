"""Convert the nine light models of the ONNX package and report time, parity and speed ratios.

    .venv/bin/python benchmarks/light_models.py [--models squeezenet vgg19] [--mode pynative|graph|both]

Prints one row per model: conversion stages (s), parity max abs error, and MindSpore inference
time as a ratio of onnxruntime's on the same input (one run each after a warm-up; this machine's
CPU convolution in MindSpore is much slower than onnxruntime's, so read ratios, not seconds).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
          "shufflenet", "squeezenet", "vgg19", "zfnet512")


def light_path(name: str) -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"


def timed(fn, *args, repeat: int = 1) -> float:
    """Mean seconds of fn(*args) after one warm-up call (graph compilation, session creation)."""
    fn(*args)
    start = time.perf_counter()
    for _ in range(repeat):
        fn(*args)
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--mode", default="pynative", choices=("pynative", "graph", "both"))
    args = parser.parse_args()

    import onnxruntime as ort

    from mindconverter.api import convert
    from mindconverter.runtime_check.mindspore_run import build_network, import_mindspore

    ms = import_mindspore()
    print(f"{'model':14} {'frontend':>8} {'passes':>7} {'backend':>7} {'check':>7} {'max abs err':>11} {'ms/ort':>7}")
    for name in args.models:
        out = Path(tempfile.mkdtemp(prefix=f"bench_{name}_"))
        result = convert(light_path(name), output=out, check_mode=args.mode)
        t = result.report["timings_s"]
        err = max(p["max_abs_err"] for p in result.parity)
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        session = ort.InferenceSession(str(light_path(name)), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        t_ort = timed(session.run, None, feed, repeat=3)
        ms.set_context(mode=ms.PYNATIVE_MODE)
        net, _, _ = build_network(result.script, result.checkpoint)
        tensor = ms.Tensor(x)
        t_ms = timed(lambda n, t: n(t).asnumpy(), net, tensor)
        print(f"{name:14} {t['frontend']:8.2f} {t['passes']:7.2f} {t['backend']:7.2f} {t.get('check', 0):7.2f} "
              f"{err:11.2e} {t_ms / t_ort:7.1f}", flush=True)


if __name__ == "__main__":
    main()
