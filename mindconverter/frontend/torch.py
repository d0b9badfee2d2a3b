"""torch frontend: a live `torch.nn.Module` is exported to ONNX, keeping what the export would lose.

`torch.onnx.export` (TorchScript exporter, `dynamo=False`) with `do_constant_folding=False` keeps
BatchNorm and the state_dict names of the weights, and its node names carry the module path
(`/layer1/layer1.0/conv1/Conv`). Two things it loses are kept here:

- Dropout: eval-mode exports drop `nn.Dropout` layers. During the export each one is replaced by an
  op that is the identity in torch and exports as ONNX `Dropout(x, ratio=p, training_mode=False)`,
  so the layer reaches the generated code as `nn.Dropout(p=p)` at its place.
- Class names: `module_classes` maps each module path (`layer1.0`) to its class (`Bottleneck`);
  the structure-modules pass names the generated Cells after them.

The model is exported in eval mode; its training flag and its layers are restored afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
import keyword
import logging
import os
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter.errors import ArgumentError, ModelLoadError

log = logging.getLogger("mindconverter")

#: The opset torch exports at (the frontend's canonical opset, so nothing is upgraded).
EXPORT_OPSET = 17


@attrs.define
class TorchExport:
    """An exported torch module: where its ONNX file is and what the export knows about the source."""

    path: Path
    input_names: list[str]
    output_names: list[str]
    #: Module path -> class name, for every named sub-module (`layer1.0` -> `Bottleneck`).
    module_classes: dict[str, str]
    #: Module path -> p of every nn.Dropout kept in the export.
    dropouts: dict[str, float]
    #: Dropout-like layers that could not be kept (path -> class name), e.g. nn.Dropout2d.
    lost: dict[str, str]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ArgumentError(
            "pytorch2mindspore needs torch", fix="install it: pip install 'mindconverter[torch]'"
        ) from exc
    return torch


def as_tensors(dummy_inputs: Any) -> tuple[Any, ...]:
    """The model's example inputs as a tuple of torch tensors (a tensor, an array, or a sequence of them)."""
    torch = _torch()
    items = dummy_inputs if isinstance(dummy_inputs, (list, tuple)) else (dummy_inputs,)
    if not items:
        raise ArgumentError("dummy_inputs is empty", fix="pass one example tensor per input of forward()")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, torch.Tensor):
            out.append(item.detach())
        elif isinstance(item, np.ndarray):
            out.append(torch.from_numpy(np.ascontiguousarray(item)))
        else:
            raise ArgumentError(
                f"dummy_inputs[{i}] is a {type(item).__name__}, not a tensor",
                fix="pass torch tensors (or numpy arrays), one per input of forward()",
            )
    return tuple(out)


def input_names(model: Any, count: int) -> list[str]:
    """The names of forward()'s parameters (`x`, `input_ids`), else `input_0`..., for the generated construct()."""
    try:
        params = [
            p for p in inspect.signature(model.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    if len(names) < count or any(not n.isidentifier() or keyword.iskeyword(n) for n in names):
        names = [f"input_{i}" for i in range(count)]
    return names


def _dropout_function(torch: Any) -> Any:
    class KeptDropout(torch.autograd.Function):
        """The identity, exported as ONNX Dropout(x, ratio, training_mode=False)."""

        @staticmethod
        def forward(ctx: Any, x: Any, p: float) -> Any:
            return x.clone()

        @staticmethod
        def symbolic(g: Any, x: Any, p: float) -> Any:
            ratio = g.op("Constant", value_t=torch.tensor(p, dtype=torch.float32))
            training = g.op("Constant", value_t=torch.tensor(False))
            return g.op("Dropout", x, ratio, training)

    return KeptDropout


@contextlib.contextmanager
def _kept_dropouts(model: Any, dropouts: dict[str, float], lost: dict[str, str]) -> Iterator[None]:
    """While exporting, every nn.Dropout of `model` exports as ONNX Dropout; its forward is restored after."""
    torch = _torch()
    kept = _dropout_function(torch)
    patched = []
    for path, module in model.named_modules():
        if type(module) is torch.nn.Dropout:
            p = float(module.p)
            module.forward = types.MethodType(lambda self, x, _p=p: kept.apply(x, _p), module)
            patched.append(module)
            dropouts[path] = p
        elif isinstance(module, torch.nn.modules.dropout._DropoutNd):
            lost[path] = type(module).__name__  # channel/alpha dropout: no exact nn.Dropout counterpart
    try:
        yield
    finally:
        for module in patched:
            del module.forward


def export_module(
    model: Any, dummy_inputs: Any, path: str | os.PathLike[str], *, opset: int = EXPORT_OPSET,
    output_names: Sequence[str] | None = None,
) -> TorchExport:
    """Export `model` on `dummy_inputs` to the ONNX file `path` (eval mode, Dropout layers kept)."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise ArgumentError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args = as_tensors(dummy_inputs)
    names = input_names(model, len(args))
    classes = {p: type(m).__name__ for p, m in model.named_modules() if p}
    dropouts: dict[str, float] = {}
    lost: dict[str, str] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            sample = model(*args)
        outputs = sample if isinstance(sample, (tuple, list)) else (sample,)
        if output_names is None:
            output_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
        with _kept_dropouts(model, dropouts, lost), torch.no_grad():
            torch.onnx.export(
                model, args, str(path), opset_version=opset, dynamo=False, do_constant_folding=False,
                input_names=names, output_names=list(output_names),
            )
    except ArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        raise ModelLoadError(
            f"torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            where=type(model).__name__,
            fix="check that the model runs on dummy_inputs and exports with torch.onnx.export(..., dynamo=False)",
        ) from exc
    finally:
        model.train(was_training)
    for p, cls in lost.items():
        log.warning("%s at '%s' is not kept: only nn.Dropout layers are restored (it is the identity in inference)", cls, p)
    return TorchExport(Path(path), names, list(output_names), classes, dropouts, lost)


def run_module(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run `model` in eval mode on numpy inputs; the reference outputs of pytorch2mindspore's check."""
    torch = _torch()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    finally:
        model.train(was_training)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().numpy() for o in outs]
