"""Dropout through the torch export: nn.Dropout layers and functional dropout calls become ONNX Dropout nodes.

An eval-mode export drops every dropout (it is the identity in inference). While exporting, each
one is routed through an op that is the identity in torch, so the traced values stay those of eval,
and exports as `Dropout(x, ratio=p, training_mode=False)`: the converter writes `nn.Dropout(p=p)`
at its place.

- Layers: every `nn.Dropout` module (any p). Channel and alpha dropouts (`nn.Dropout2d`,
  `nn.AlphaDropout`, `F.dropout2d`, ...) have no exact nn.Dropout counterpart; they are listed as lost.
- Calls: `F.dropout(x, p, self.training)` / `nn.functional.dropout` / `torch.dropout` in any
  forward (names bound before the export, `from torch.nn.functional import dropout`, are not
  reached). Their p is the one the call gets in **training**: transformers' attention passes
  `p=0.0 if not self.training else self.dropout`, so the eval p would lose it. One forward in training mode (buffers restored, the RNG state kept,
  every dropout the identity) records the (p, training, call site) of each call; each eval call is
  paired with the training call of the same site and rank, and kept with its p when that one was
  made with training=True and 0 < p < 1. When that forward fails, or an eval call has no partner, a
  call is kept with its eval p when it passes training=False (a warning says so).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import attrs

log = logging.getLogger("mindconverter")


@attrs.frozen
class DropoutCall:
    """One functional dropout call: its p, its training flag and where it is made (file, line of the caller)."""

    p: float
    training: bool
    site: tuple[str, int] = ("", 0)

    @property
    def drops(self) -> bool:
        return self.training and 0.0 < self.p < 1.0


def _kept_function(torch: Any) -> Any:
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
def _kept_layers(model: Any, dropouts: dict[str, float], lost: dict[str, str]) -> Iterator[None]:
    """Every nn.Dropout of `model` exports as ONNX Dropout (recorded in `dropouts`); its forward is restored after."""
    import torch

    kept = _kept_function(torch)
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


#: A handler gets (x, p, training, site) of a functional dropout call and returns its result, or None for torch's.
Handler = Callable[[Any, float, bool, tuple[str, int]], Any]


def _site() -> tuple[str, int]:
    """The file and line calling the patched function (two frames up: the wrapper's caller)."""
    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


@contextlib.contextmanager
def _functional(handler: Handler) -> Iterator[None]:
    """`torch.nn.functional.dropout` and `torch.dropout` go through `handler` (module attributes, restored after)."""
    import torch

    functional, original_functional, original_torch = torch.nn.functional, torch.nn.functional.dropout, torch.dropout

    def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
        out = handler(input, p, training, _site())
        return original_functional(input, p, training, inplace) if out is None else out

    def torch_dropout(input: Any, p: float, train: bool) -> Any:  # noqa: A002 - torch's parameter names
        out = handler(input, p, train, _site())
        return original_torch(input, p, train) if out is None else out

    functional.dropout, torch.dropout = dropout, torch_dropout
    try:
        yield
    finally:
        functional.dropout, torch.dropout = original_functional, original_torch


#: Functional dropouts with no nn.Dropout counterpart (whole channels, or SELU-preserving alpha dropout).
_LOST_FUNCTIONS = ("dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")


@contextlib.contextmanager
def _lost_functional(model: Any, lost_calls: list[str]) -> Iterator[None]:
    """Calls of `F.dropout2d` & co. with p > 0 append `F.dropout2d(p=0.2)` to `lost_calls`, except the calls the
    channel-dropout layers make themselves (those layers are listed by path)."""
    import torch

    functional = torch.nn.functional
    inside = [0]
    hooks = []
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and type(module) is not torch.nn.Dropout:
            hooks.append(module.register_forward_pre_hook(lambda *_: inside.__setitem__(0, inside[0] + 1)))
            hooks.append(module.register_forward_hook(lambda *_: inside.__setitem__(0, inside[0] - 1)))
    originals = {name: getattr(functional, name) for name in _LOST_FUNCTIONS}

    def watched(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            p = float(kwargs.get("p", args[1] if len(args) > 1 else 0.5))
            if not inside[0] and p > 0:
                lost_calls.append(f"F.{name}(p={p:g})")
            return original(*args, **kwargs)

        return call

    for name, original in originals.items():
        setattr(functional, name, watched(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(functional, name, original)
        for hook in hooks:
            hook.remove()


@contextlib.contextmanager
def recording(model: Any, calls: list[DropoutCall], identity: bool, lost_calls: list[str] | None = None) -> Iterator[None]:
    """Functional dropout calls append their DropoutCall to `calls`; they return x itself when `identity`, else run.

    nn.Dropout layers are the identity meanwhile, as in the export, so they are not counted as calls.
    Channel and alpha dropout calls, which cannot be kept, are listed in `lost_calls` when given.
    """

    def record(x: Any, p: float, training: bool, site: tuple[str, int]) -> Any:
        calls.append(DropoutCall(float(p), bool(training), site))
        return x if identity else None

    with contextlib.ExitStack() as stack:
        stack.enter_context(_kept_layers(model, {}, {}))
        stack.enter_context(_functional(record))
        if lost_calls is not None:
            stack.enter_context(_lost_functional(model, lost_calls))
        yield


def training_calls(model: Any, forward: Callable[[], Any]) -> list[DropoutCall] | None:
    """The functional dropout calls of one `forward()` with `model` in training mode (None when it fails).

    Nothing of the model changes: buffers (BatchNorm statistics) are restored, the training flags
    too, and torch's RNG state is kept; every dropout is the identity, so nothing random runs.
    """
    import torch

    flags = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    calls: list[DropoutCall] = []
    try:
        model.train()
        with torch.random.fork_rng(devices=[]), torch.no_grad(), recording(model, calls, True):
            forward()
    except Exception as exc:  # noqa: BLE001 - a model may not run in training mode; eval p's are used then
        log.info("the training-mode forward failed (%s: %s): functional dropouts keep their eval p",
                 type(exc).__name__, exc)
        return None
    finally:
        for module, training in flags:
            module.training = training
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    return calls


def kept_rates(train: list[DropoutCall] | None, eval_calls: list[DropoutCall]) -> list[float | None]:
    """The p each functional call of the eval forward exports with (None: not a dropout, stays the identity).

    The calls of both forwards are paired per call site, in order: the k-th eval call at a line takes
    the k-th training call there (a call made only in training, `if self.training: ...`, pairs with
    nothing). An eval call without a partner keeps its eval p if it passes training=False.
    """
    by_site: dict[tuple[str, int], list[DropoutCall]] = {}
    for call in train or []:
        by_site.setdefault(call.site, []).append(call)
    seen: dict[tuple[str, int], int] = {}
    rates: list[float | None] = []
    unpaired = 0
    for call in eval_calls:
        k = seen[call.site] = seen.get(call.site, -1) + 1
        partners = by_site.get(call.site, [])
        if k < len(partners):
            rates.append(partners[k].p if partners[k].drops else None)
            continue
        unpaired += 1
        rates.append(call.p if not call.training and 0.0 < call.p < 1.0 else None)
    if train is not None and unpaired:
        log.warning("%d functional dropout call(s) of the eval forward are not made in training: they are kept "
                    "with the p they get in eval (calls with training=False)", unpaired)
    return rates


@contextlib.contextmanager
def kept_dropouts(model: Any, rates: list[float | None], dropouts: dict[str, float], lost: dict[str, str],
                  kept_calls: list[float]) -> Iterator[None]:
    """While exporting: nn.Dropout layers and the functional calls with a rate in `rates` export as ONNX Dropout.

    The i-th functional call uses `rates[i]`; the p of each one kept is appended to `kept_calls`.
    """
    import torch

    kept = _kept_function(torch)
    index = iter(range(len(rates)))

    def keep(x: Any, p: float, training: bool, site: tuple[str, int]) -> Any:
        i = next(index, None)
        rate = rates[i] if i is not None else None
        if rate is None or not isinstance(x, torch.Tensor):
            return None
        kept_calls.append(rate)
        return kept.apply(x, rate)

    with _kept_layers(model, dropouts, lost), _functional(keep):
        yield
