"""`--mindir`: export the generated network with its weights as NAME.mindir (`mindspore.export`), and verify it.

Symbolic input dims (`?batch`) become dynamic MINDIR inputs: the network is exported on
`Tensor(shape=[None, ...], dtype=...)` placeholders after `net.set_inputs(...)` (MindSpore 2.10 on
CPU exports and loads them). When that export fails, or an input's rank is unknown, the network is
exported at the first test sizes and the report says so. The file is then loaded back with
`nn.GraphCell(mindspore.load(path))`, run on the check's first inputs and compared with the
network itself: the report's `mindir` entry gives the file, its input shapes and that error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mindconverter.ir.core import Value
from mindconverter.ir.types import Sym

log = logging.getLogger("mindconverter")


def _dim_label(d: Any) -> Any:
    return d if isinstance(d, int) else f"?{d.name}" if isinstance(d, Sym) else "?"


def export_mindir(script: Path, checkpoint: Path, args: list[Value], path: Path,
                  inputs: list[np.ndarray] | None, class_name: str = "MindSporeModel") -> dict[str, Any]:
    """Export the network of `script` + `checkpoint` to `path` (a .mindir file); returns the report's `mindir` entry.

    `inputs` (the check's first test inputs, or None when the check was off) fix the shapes of a
    static fallback export and are what the loaded file is verified on.
    """
    from mindconverter.runtime_check.mindspore_run import build_network, import_mindspore

    ms = import_mindspore()
    net, _, _ = build_network(script, checkpoint, class_name)
    names = [a.name for a in args]
    dtypes = [ms.Tensor(np.zeros((), a.type.dtype.to_numpy())).dtype for a in args]
    entry: dict[str, Any] = {"file": path.name}
    dynamic = any(a.type.dims is None or not a.type.is_static for a in args)
    note = ""
    exported = False
    if dynamic and all(a.type.dims is not None for a in args):
        specs = [ms.Tensor(shape=[d if isinstance(d, int) else None for d in a.type.dims], dtype=t)
                 for a, t in zip(args, dtypes, strict=True)]
        try:
            net.set_inputs(*specs)
            ms.export(net, *specs, file_name=str(path.with_suffix("")), file_format="MINDIR")
            exported = True
            entry["inputs"] = [{"name": n, "shape": [_dim_label(d) for d in a.type.dims]} for n, a in zip(names, args, strict=True)]
        except Exception as exc:  # noqa: BLE001 - MindSpore raises many types; the static export follows
            note = f"dynamic export failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            net, _, _ = build_network(script, checkpoint, class_name)  # set_inputs cannot be undone
    elif dynamic:
        note = "an input's rank is unknown; "
    if not exported:
        if dynamic and inputs is None:
            return dict(entry, file=None, error=note + "no test inputs to fix the sizes (the check was off)")
        feed = inputs if inputs is not None else [np.zeros(a.type.shape, a.type.dtype.to_numpy()) for a in args]
        ms.export(net, *[ms.Tensor(x) for x in feed], file_name=str(path.with_suffix("")), file_format="MINDIR")
        entry["inputs"] = [{"name": n, "shape": list(np.shape(x))} for n, x in zip(names, feed, strict=True)]
        if dynamic:
            note += "exported at the first test sizes: the MINDIR inputs are static"
    entry["dynamic"] = exported
    if note:
        entry["note"] = note
        log.warning("--mindir: %s", note)
    if inputs is not None:
        entry["max_abs_err"] = _verify(ms, net, path, inputs)
    return entry


def _verify(ms: Any, net: Any, path: Path, inputs: list[np.ndarray]) -> float:
    """Load `path` with nn.GraphCell, run it and the network on `inputs`; the max abs difference of the outputs."""
    from mindspore import nn

    graph = nn.GraphCell(ms.load(str(path)))
    tensors = [ms.Tensor(x) for x in inputs]
    got, want = graph(*tensors), net(*tensors)
    got = got if isinstance(got, (tuple, list)) else [got]
    want = want if isinstance(want, (tuple, list)) else [want]
    if len(got) != len(want):
        raise RuntimeError(f"the MINDIR returns {len(got)} outputs, the network {len(want)}")
    return max((float(np.abs(g.asnumpy().astype(np.float64) - w.asnumpy()).max(initial=0.0))
                for g, w in zip(got, want, strict=True)), default=0.0)
