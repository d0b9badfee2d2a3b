"""torch frontend: a live `torch.nn.Module` is exported to ONNX, keeping what the export would lose.

`torch.onnx.export` (TorchScript exporter, `dynamo=False`) with `do_constant_folding=False` keeps
BatchNorm and the state_dict names of the weights, and its node names carry the module path
(`/layer1/layer1.0/conv1/Conv`). What it loses is kept here:

- Dropout: eval-mode exports drop `nn.Dropout` layers and `F.dropout(x, p, self.training)` calls.
  During the export each one goes through an op that is the identity in torch and exports as ONNX
  `Dropout(x, ratio=p, training_mode=False)`, so it reaches the generated code as `nn.Dropout(p=p)`
  at its place (torch_dropout.py; a call's p is the one it gets in training).
- Class names: `module_classes` maps each module path (`layer1.0`) to its class (`Bottleneck`);
  the structure-modules pass names the generated Cells after them.
- Tied weights: a tensor under several state_dict keys is exported once, under one of them; the
  groups of keys go to the ONNX metadata (`TIED_WEIGHTS_KEY`), and the weight map names every key.
- nn.MultiheadAttention's attention dropout: the export gives F.scaled_dot_product_attention p=0 in
  eval, so the module path and `dropout` of every nn.MultiheadAttention go to the ONNX metadata
  (`MHA_DROPOUT_KEY`, see attention_dropouts); fuse-multihead-attention gives the fused block its p.
- Buffers do not train: the names of the parameters that do go to the ONNX metadata (`TRAINABLE_KEY`), and a
  checkpoint Parameter coming from anything else (a positional table, rotary cos/sin, a zero initial state)
  is written with requires_grad=False.

The model is exported in eval mode; its training flag and its layers are restored afterwards.

Dynamic axes: `dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}}` (torch's format; a list of
axes names axis 0 `batch` and axis k `NAME_k`) or `dynamic=True`, which makes axis 0 of every input
`batch`, and axis 1 `sequence` for integer (token) inputs of rank >= 2 and for every rank-3 input
(batch x time x features); image inputs (rank 4) keep their spatial axes static. The export sizes
of the symbols are written to the ONNX metadata (one entry per symbol) so the check tries them.

Outputs: a tensor, a tuple/list/namedtuple, a dict (transformers' `ModelOutput`) or a dataclass of
them, nested or not: they are flattened in order, entries named by their keys or fields
(`last_hidden_state`); `None` entries are skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import keyword
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mindconverter.errors import ArgumentError, ModelLoadError
from mindconverter.frontend.onnx import MHA_DROPOUT_KEY, TRAINABLE_KEY
from mindconverter.frontend.torch_dropout import DropoutCall, kept_dropouts, kept_rates, recording, training_calls

log = logging.getLogger("mindconverter")

#: The ONNX metadata entry holding the tied weights (JSON list of lists of state_dict keys; see tied_weights).
TIED_WEIGHTS_KEY = "mindconverter.tied_weights"

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
    #: The inputs are passed to forward() by these keywords (dict dummy_inputs), else by position (None).
    keywords: list[str] | None = None
    #: Input name -> {axis: symbol} of the axes exported dynamic ({} when all are static).
    dynamic_axes: dict[str, dict[int, str]] = attrs.field(factory=dict)
    #: p of every functional dropout call (`F.dropout(x, p, self.training)`) kept in the export, in call order.
    functional_dropouts: list[float] = attrs.field(factory=list)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ArgumentError(
            "pytorch2mindspore needs torch", fix="install it: pip install 'mindconverter[torch]'"
        ) from exc
    return torch


#: The remedy for forward() arguments that are not tensors (the MindConverter guide's "Rectify parameters
#: of forward function definition").
NON_TENSOR_FIX = (
    "only tensors can be traced: pass torch tensors (or numpy arrays), one per tensor parameter of forward(); "
    "move other parameters out of forward() (fix them in __init__, or wrap the model in a module whose forward "
    "takes only the tensors and passes the rest itself), as the guide's 'Rectify parameters of forward function "
    "definition' shows"
)


def as_tensors(dummy_inputs: Any, model: Any = None) -> tuple[Any, ...]:
    """The model's example inputs as a tuple of torch tensors (a tensor, an array, or a sequence of them)."""
    torch = _torch()
    if isinstance(dummy_inputs, dict):  # keyword inputs: forward(**dummy_inputs)
        items = tuple(dummy_inputs.values())
    else:
        items = dummy_inputs if isinstance(dummy_inputs, (list, tuple)) else (dummy_inputs,)
    if not items:
        raise ArgumentError("dummy_inputs is empty", fix="pass one example tensor per input of forward()")
    params = list(dummy_inputs) if isinstance(dummy_inputs, dict) else _forward_parameters(model) if model is not None else []
    out = []
    for i, item in enumerate(items):
        if isinstance(item, torch.Tensor):
            out.append(item.detach())
        elif isinstance(item, np.ndarray):
            out.append(torch.from_numpy(np.ascontiguousarray(item)))
        else:
            which = f" (forward()'s '{params[i]}')" if i < len(params) else ""
            at = repr(params[i]) if isinstance(dummy_inputs, dict) else i
            raise ArgumentError(f"dummy_inputs[{at}]{which} is a {type(item).__name__}, not a tensor",
                                where=type(model).__name__ if model is not None else None, fix=NON_TENSOR_FIX)
    return tuple(out)


def check_binding(model: Any, count: int, keywords: list[str] | None) -> None:
    """Refuse dummy inputs that forward() cannot take: too many, or a parameter without default left out."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**dict.fromkeys(keywords)) if keywords else signature.bind(*range(count))
    except TypeError as exc:
        params = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        given = set(keywords) if keywords else {p.name for p in params[:count]}
        needed = [p.name for p in params if p.default is p.empty and p.name not in given]
        fix = (f"give a tensor for {', '.join(repr(n) for n in needed)} as well; " + NON_TENSOR_FIX if needed
               else "pass one tensor per parameter of forward()")
        raise ArgumentError(f"dummy_inputs do not fit {type(model).__name__}.forward{signature}: {exc}",
                            where=type(model).__name__, fix=fix) from exc


def _forward_parameters(model: Any) -> list[str]:
    try:
        return [p.name for p in inspect.signature(model.forward).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


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


def _entries(out: Any) -> list[tuple[str, Any]] | None:
    """The named entries of a container output (None for a leaf)."""
    if isinstance(out, dict):  # transformers' ModelOutput is an OrderedDict of its non-None fields
        return [(str(k), v) for k, v in out.items()]
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # a namedtuple
        return list(zip(out._fields, out, strict=True))
    if isinstance(out, (tuple, list)):
        return [(str(i), v) for i, v in enumerate(out)]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [(f.name, getattr(out, f.name)) for f in dataclasses.fields(out)]
    return None


def flatten_outputs(out: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(name, tensor) of every tensor of a forward() result, in order: keys or field names name them, positions
    otherwise; dicts, dataclasses, (named)tuples and lists nest, `None` entries are skipped."""
    items = _entries(out)
    if items is None:
        return [(prefix, out)]
    flat = []
    for key, value in items:
        if value is not None:
            flat.extend(flatten_outputs(value, f"{prefix}_{key}" if prefix else key))
    return flat


def _output_names(flat: list[tuple[str, Any]]) -> list[str]:
    """ONNX output names: the dict keys (made identifiers), else `output` / `output_I`."""
    if len(flat) == 1 and not flat[0][0]:
        return ["output"]
    names = []
    for name, _ in flat:
        clean = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
        names.append(clean if clean.isidentifier() and not clean[0].isdigit() else f"output_{clean}")
    return names


def dynamic_axes_of(args: Sequence[Any], names: Sequence[str], dynamic_axes: Any, dynamic: bool) -> dict[str, dict[int, str]]:
    """Input name -> {axis: symbol}: the user's `dynamic_axes`, or the `dynamic=True` rule (see the module docstring)."""
    torch = _torch()
    if dynamic_axes is None:
        if not dynamic:
            return {}
        out: dict[str, dict[int, str]] = {}
        for name, x in zip(names, args, strict=True):
            axes = {0: "batch"} if x.dim() >= 1 else {}
            token = not torch.is_floating_point(x) and not torch.is_complex(x) and x.dim() >= 2
            if token or x.dim() == 3:
                axes[1] = "sequence"
            if axes:
                out[name] = axes
        return out
    if not isinstance(dynamic_axes, dict):
        raise ArgumentError(f"dynamic_axes must be a dict of input name -> axes, got {type(dynamic_axes).__name__}",
                            fix='e.g. dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}}')
    ranks = {n: x.dim() for n, x in zip(names, args, strict=True)}
    out = {}
    for name, axes in dynamic_axes.items():
        if name not in ranks:
            raise ArgumentError(f"dynamic_axes names '{name}', which is not an input of forward()",
                                fix=f"use the inputs' names: {', '.join(names)} (outputs follow the inputs)")
        pairs = axes.items() if isinstance(axes, dict) else ((a, None) for a in axes)
        named = {}
        for given, symbol in pairs:
            if not -ranks[name] <= int(given) < ranks[name]:
                raise ArgumentError(f"dynamic_axes: input '{name}' has rank {ranks[name]}, no axis {given}")
            axis = int(given) % ranks[name]
            symbol = symbol if symbol is not None else "batch" if axis == 0 else f"{name}_{axis}"
            if not str(symbol).isidentifier():
                raise ArgumentError(f"dynamic_axes: symbol '{symbol}' of '{name}' must be an identifier")
            named[axis] = str(symbol)
        out[name] = named
    return out


def _export_sizes(args: Sequence[Any], names: Sequence[str], axes: dict[str, dict[int, str]]) -> dict[str, int]:
    """Symbol -> its size in the dummy inputs (the export size the check tries); one symbol must have one size."""
    sizes: dict[str, int] = {}
    for name, x in zip(names, args, strict=True):
        for axis, symbol in axes.get(name, {}).items():
            size = int(x.shape[axis])
            if sizes.setdefault(symbol, size) != size:
                raise ArgumentError(
                    f"dynamic axis '{symbol}' is {sizes[symbol]} in one input and {size} in '{name}' (axis {axis})",
                    fix="give the dummy inputs equal sizes on axes of the same name, or name the axes differently",
                )
    return sizes


@contextlib.contextmanager
def _no_fused_attention_path() -> Iterator[None]:
    """While exporting, nn.TransformerEncoderLayer / nn.MultiheadAttention run their composite path.

    In eval mode under no_grad torch takes a fused "fast path" (`aten::_transformer_encoder_layer_fwd`,
    `aten::_native_multi_head_attention`) that has no ONNX export; the composite path exports.
    """
    torch = _torch()
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    was = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(was)


@contextlib.contextmanager
def _positional_forward(model: Any, keywords: list[str] | None = None) -> Iterator[None]:
    """While exporting, forward takes only the given inputs (passed on by `keywords` when given) and returns
    its outputs flattened (flatten_outputs).

    The TorchScript exporter fills every parameter of forward() it was not given with its default
    (None), and passes them all by position; transformers' forward wrappers then also pass config
    defaults (`use_cache`) by keyword, and the call fails. A `forward(*inputs)` signature leaves
    nothing to fill.
    """
    own = vars(model).get("forward")
    bound = model.forward

    def forward(*inputs: Any) -> Any:
        out = bound(**dict(zip(keywords, inputs, strict=True))) if keywords else bound(*inputs)
        return tuple(value for _, value in flatten_outputs(out))  # the exporter takes no dataclass

    model.forward = forward
    try:
        yield
    finally:
        if own is None:
            del model.forward
        else:
            model.forward = own


#: The newest opset torch's TorchScript exporter writes (torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET).
MAX_EXPORT_OPSET = 20


def _export(torch: Any, model: Any, args: tuple, path: str, opset: int, **kwargs: Any) -> None:
    """torch.onnx.export at `opset`; where an operator needs a newer one (`aten::affine_grid_generator`: "Support for
    this operator was added in version 20"), again at the opset it names (up to MAX_EXPORT_OPSET).

    The frontend reads newer opsets as they are (nothing is downgraded), so only models that need them get them.
    """
    try:
        torch.onnx.export(
            model, args, path, opset_version=opset, dynamo=False, do_constant_folding=False,
            # Keeps initializers with equal values apart (BatchNorm weights of ones, zero biases), so every
            # state_dict key keeps its name in the weight map; the frontend reads them as initializers, not inputs.
            keep_initializers_as_inputs=True, **kwargs,
        )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        needed = re.search(r"added in (?:opset )?version (\d+)", str(exc))
        if needed is None or not opset < int(needed.group(1)) <= MAX_EXPORT_OPSET:
            raise
        log.info("torch.onnx.export: %s; exporting at opset %s", str(exc).splitlines()[0], needed.group(1))
        _export(torch, model, args, path, int(needed.group(1)), **kwargs)


def export_module(
    model: Any, dummy_inputs: Any, path: str | os.PathLike[str], *, opset: int = EXPORT_OPSET,
    output_names: Sequence[str] | None = None, dynamic_axes: Any = None, dynamic: bool = False,
) -> TorchExport:
    """Export `model` on `dummy_inputs` to the ONNX file `path` (eval mode, Dropout layers kept, dynamic axes)."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise ArgumentError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args = as_tensors(dummy_inputs, model)
    keywords = _keywords(model, dummy_inputs) if isinstance(dummy_inputs, dict) else None
    check_binding(model, len(args), keywords)
    names = keywords or input_names(model, len(args))
    axes = dynamic_axes_of(args, names, dynamic_axes, dynamic)
    export_sizes = _export_sizes(args, names, axes)
    classes = {p: type(m).__name__ for p, m in model.named_modules() if p}
    dropouts: dict[str, float] = {}
    lost: dict[str, str] = {}
    functional: list[float] = []

    def forward() -> Any:
        return model(**dict(zip(keywords, args, strict=True))) if keywords else model(*args)

    was_training = model.training
    model.eval()
    try:
        eval_calls: list[DropoutCall] = []
        lost_calls: list[str] = []
        with torch.no_grad(), _no_fused_attention_path(), recording(model, eval_calls, False, lost_calls):
            sample = forward()
        flat = flatten_outputs(sample)
        if not flat:
            raise ArgumentError(f"{type(model).__name__}.forward returns no tensor")
        other = next(((n, v) for n, v in flat if not isinstance(v, torch.Tensor)), None)
        if other is not None:
            raise ArgumentError(
                f"{type(model).__name__}.forward returns a {type(other[1]).__name__}"
                + (f" as '{other[0]}'" if other[0] else "") + ", not a tensor",
                fix="return only tensors (tuples/dicts of them are fine); compute the rest outside forward(), "
                "as the guide's 'Rectify parameters of forward function definition' shows for a loss",
            )
        if output_names is None:
            output_names = _output_names(flat)
        rates = kept_rates(training_calls(model, forward) if eval_calls else None, eval_calls)
        with kept_dropouts(model, rates, dropouts, lost, functional), _positional_forward(model, keywords), \
                _no_fused_attention_path(), torch.no_grad():
            _export(
                torch, model, args, str(path), opset, input_names=names, output_names=list(output_names),
                dynamic_axes=axes or None,
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
    _warn_lost(lost, lost_calls)
    tied, attention = tied_weights(model), attention_dropouts(model)
    _write_metadata(Path(path), {**{k: str(v) for k, v in export_sizes.items()},
                                 **({TIED_WEIGHTS_KEY: json.dumps(tied)} if tied else {}),
                                 **({MHA_DROPOUT_KEY: json.dumps(attention)} if attention else {}),
                                 TRAINABLE_KEY: json.dumps(trainable_weights(model))})
    log.debug("functional dropouts kept: %s", functional)
    return TorchExport(Path(path), names, list(output_names), classes, dropouts, lost, keywords, axes, functional)


def _warn_lost(lost: dict[str, str], lost_calls: list[str]) -> None:
    """Warn about the dropouts that could not be kept (layers by path, functional calls by name and p)."""
    for p, cls in lost.items():
        log.warning("%s at '%s' is not kept: only nn.Dropout layers are restored (it is the identity in inference)", cls, p)
    if lost_calls:
        log.warning("%d functional channel/alpha dropout call(s) are not kept (%s): only element-wise dropout has an "
                    "nn.Dropout counterpart (they are the identity in inference)", len(lost_calls),
                    ", ".join(sorted(set(lost_calls))))


def _write_metadata(path: Path, entries: dict[str, str]) -> None:
    """Add entries to the model's metadata: each dynamic axis's export size (runtime_check/sizes.py reads them),
    the tied weights (the driver passes them to the weight map) and the attention dropouts (the ONNX frontend
    reads them)."""
    import onnx

    model = onnx.load(str(path))
    present = {p.key for p in model.metadata_props}
    for key, value in entries.items():
        if key not in present:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def attention_dropouts(model: Any) -> dict[str, float]:
    """Module path -> `dropout` of every nn.MultiheadAttention (`""` for the model itself), the path as the
    export's node names give it (`/encoder/layers.0/self_attn/MatMul` for `encoder.layers.0.self_attn`)."""
    mha = _torch().nn.MultiheadAttention
    return {path: float(m.dropout) for path, m in model.named_modules() if isinstance(m, mha)}


def trainable_weights(model: Any) -> list[str]:
    """The names of the parameters that train (requires_grad), every name of a tied one; buffers are not parameters."""
    return [name for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad]


def tied_weights(model: Any) -> list[list[str]]:
    """The state_dict keys that name one shared tensor, a list per tensor (GPT-2: transformer.wte.weight, lm_head.weight).

    The export keeps such a tensor once, under its first name; the weight map lists the others too.
    """
    keys = set(model.state_dict())
    groups: dict[int, list[str]] = {}
    named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        if name in keys:
            groups.setdefault(id(tensor), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _keywords(model: Any, dummy_inputs: dict[str, Any]) -> list[str]:
    """The keywords of dict dummy_inputs, checked against forward()'s signature."""
    names = [str(k) for k in dummy_inputs]
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return names
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ArgumentError(f"dummy_inputs key '{name}' is not a valid parameter name")
        if name not in params and not takes_any:
            raise ArgumentError(f"dummy_inputs key '{name}' is not a parameter of {type(model).__name__}.forward()",
                                fix=f"use forward()'s parameter names: {', '.join(params)}")
    return names


def run_module(model: Any, inputs: list[np.ndarray], keywords: list[str] | None = None) -> list[np.ndarray]:
    """Run `model` in eval mode on numpy inputs; the reference outputs of pytorch2mindspore's check."""
    torch = _torch()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
            out = model(**dict(zip(keywords, tensors, strict=True))) if keywords else model(*tensors)
    finally:
        model.train(was_training)
    return [o.detach().cpu().numpy() for _, o in flatten_outputs(out)]
