"""Run a generated MindSpore script with its checkpoint, in PYNATIVE or GRAPH mode."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np

MODES = ("pynative", "graph")


def import_mindspore():
    """Import mindspore quietly (its C++ log level defaults to noisy warnings)."""
    os.environ.setdefault("GLOG_v", "3")
    global _DEVICE_SET
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mindspore as ms
    if not _DEVICE_SET:
        # The device is fixed once anything runs; choose the CPU before that happens.
        try:
            ms.set_device("CPU")
        except RuntimeError:  # already fixed by the caller (to the CPU: this machine has nothing else)
            pass
        _DEVICE_SET = True
    return ms


_DEVICE_SET = False


def load_script(script: Path):
    """Import a generated script as a fresh module (no caching between conversions)."""
    name = f"mindconverter_generated_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_network(script: Path, checkpoint: Path, class_name: str = "MindSporeModel"):
    """Instantiate the Cell and load the checkpoint (a .ckpt or a folder of segments); returns (net, missing
    keys, unused keys)."""
    ms = import_mindspore()
    module = load_script(script)
    net = getattr(module, class_name)()
    if not net.parameters_dict():
        return net.set_train(False), [], []  # nothing to load (MindSpore refuses empty checkpoints)
    if checkpoint.is_dir():  # a checkpoint past 2 GiB, written as segments (backend/checkpoint.py)
        missing, unused = _load_segments(ms, net, sorted(checkpoint.glob("*.ckpt")))
    else:
        result = ms.load_param_into_net(net, ms.load_checkpoint(str(checkpoint)), strict_load=True)
        missing, unused = (list(result[0]), list(result[1])) if isinstance(result, tuple) else (list(result), [])
    net.set_train(False)
    return net, missing, unused


def _load_segments(ms, net, files: list[Path]) -> tuple[list[str], list[str]]:
    """Load segment after segment into `net`, so that no more than one segment's tensors are held beside
    the network's own (`load_segmented_checkpoints` merges all of them into one dict first)."""
    loaded: set[str] = set()
    unused: list[str] = []
    for f in files:
        params = ms.load_checkpoint(str(f))
        result = ms.load_param_into_net(net, params, strict_load=True)
        unused += list(result[1]) if isinstance(result, tuple) else []
        loaded.update(params)
        del params
    return [n for n in net.parameters_dict() if n not in loaded], unused


def run_network(script: Path, checkpoint: Path, inputs: list[np.ndarray], mode: str = "pynative",
                class_name: str = "MindSporeModel") -> list[np.ndarray]:
    """Run the generated network on numpy inputs in the given mode; returns numpy outputs."""
    return next(run_network_on(script, checkpoint, [inputs], mode, class_name))


def run_network_on(script: Path, checkpoint: Path, inputs: list[list[np.ndarray]], mode: str = "pynative",
                   class_name: str = "MindSporeModel"):
    """Run the generated network on several input lists (one per size), building it once; yields numpy outputs."""
    ms = import_mindspore()
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    net, missing, unused = build_network(script, checkpoint, class_name)
    if missing or unused:
        raise RuntimeError(f"checkpoint does not match the network: missing {missing[:5]}, unused {unused[:5]}")
    for xs in inputs:
        out = net(*[ms.Tensor(x) for x in xs])
        outs = out if isinstance(out, (tuple, list)) else [out]
        yield [o.asnumpy() if hasattr(o, "asnumpy") else np.asarray(o) for o in outs]
