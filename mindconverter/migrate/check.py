"""Run a torch training script and its converted MindSpore script side by side and compare their losses.

`compare_training(torch_dir, ms_dir, steps)` runs `script` of each project (as `__main__`, from a
scratch working folder) for `steps` optimisation steps and returns both loss trajectories. To make
the two runs comparable without editing either script:

1. the first model each project builds (an instance of a class defined in the project) is recorded
   on the torch side right after its `__init__`, and the MindSpore model gets those weights copied in
   by name (`state_dict` names = parameter names; BatchNorm's weight/bias/running_mean/running_var =
   gamma/beta/moving_mean/moving_variance);
2. data order is made deterministic: `DataLoader(shuffle=...)` and `GeneratorDataset(shuffle=...)`
   are forced to False (the dataset itself must be deterministic, e.g. built with a seeded numpy RNG);
3. a loss is recorded at every torch `loss.backward()` and every MindSpore `TrainOneStepCell` call or
   `value_and_grad` function call; after `steps` losses the run stops.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


class _Enough(Exception):
    """Raised inside a training script once the wanted number of steps ran."""


@dataclass
class TrainingComparison:
    """The loss of each step of both runs, and how the weights were matched."""

    torch_losses: list[float]
    ms_losses: list[float]
    copied: list[tuple[str, str]] = field(default_factory=list)  # (MindSpore parameter, torch state_dict key)
    missing: list[str] = field(default_factory=list)  # MindSpore parameters without a torch counterpart

    def first_step_close(self, rtol: float = 1e-4, atol: float = 0.0) -> bool:
        return bool(np.isclose(self.ms_losses[0], self.torch_losses[0], rtol=rtol, atol=atol))

    def summary(self) -> str:
        rows = [
            f"step {i}: torch {t:.6f}  mindspore {m:.6f}"
            for i, (t, m) in enumerate(zip(self.torch_losses, self.ms_losses, strict=False))
        ]
        return "\n".join(rows)


def torch_key(ms_name: str, torch_keys: set[str]) -> str | None:
    """The torch state_dict key holding the weights of a MindSpore parameter name."""
    if ms_name in torch_keys:
        return ms_name
    head, _, last = ms_name.rpartition(".")
    if last in BN_NAMES:
        key = f"{head}.{BN_NAMES[last]}" if head else BN_NAMES[last]
        return key if key in torch_keys else None
    return None


@contextlib.contextmanager
def _project(folder: Path, workdir: Path) -> Iterator[None]:
    """Import the project's modules from `folder` (and no other copy of them), run in `workdir`."""
    names = {p.stem for p in folder.glob("*.py")}
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in names}
    cwd, path = os.getcwd(), list(sys.path)
    sys.path.insert(0, str(folder))
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for n in [n for n in sys.modules if n.split(".")[0] in names]:
            del sys.modules[n]
        sys.modules.update(saved)


def _in_project(cls: type, folder: Path) -> bool:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().parent == folder.resolve()


@contextlib.contextmanager
def _patched(obj, name: str, value) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _run(script: Path, steps: int) -> None:
    try:
        runpy.run_path(str(script), run_name="__main__")
    except _Enough:
        return
    except SystemExit:
        return


def run_torch(folder: Path, script: str, steps: int, workdir: Path) -> tuple[list[float], dict[str, np.ndarray]]:
    """Run the torch script for `steps` steps: its losses and the first project model's initial weights."""
    import torch
    import torch.utils.data as tud

    losses: list[float] = []
    weights: dict[str, np.ndarray] = {}
    depth = [0]
    original_init = torch.nn.Module.__init__
    original_backward = torch.Tensor.backward
    original_loader = tud.DataLoader.__init__

    def backward(self, *args, **kwargs):
        original_backward(self, *args, **kwargs)
        if self.numel() == 1:
            losses.append(float(self.detach()))
            if len(losses) >= steps:
                raise _Enough

    def loader_init(self, *args, **kwargs):
        if len(args) > 2:
            args = (*args[:2], False, *args[3:])
        else:
            kwargs["shuffle"] = False
        original_loader(self, *args, **kwargs)

    def call_init(cls_init):
        def init(self, *args, **kwargs):
            depth[0] += 1
            try:
                cls_init(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and not weights:
                weights.update({k: v.detach().cpu().numpy().copy() for k, v in self.state_dict().items()})

        return init

    with (
        _project(folder, workdir),
        _patched(torch.Tensor, "backward", backward),
        _patched(tud.DataLoader, "__init__", loader_init),
    ):
        with _class_hook(torch.nn.Module, folder, call_init, original_init):
            _run(folder / script, steps)
    return losses, weights


@contextlib.contextmanager
def _class_hook(base: type, folder: Path, wrap, base_init) -> Iterator[None]:
    """Wrap `__init__` of every subclass of `base` the project defines, as it gets defined."""
    wrapped: list[type] = []
    original_init_subclass = base.__dict__.get("__init_subclass__")

    def init_subclass(cls, **kwargs):
        if original_init_subclass is not None:
            original_init_subclass.__func__(cls, **kwargs)
        if _in_project(cls, folder) and "__init__" in cls.__dict__:
            cls.__init__ = wrap(cls.__dict__["__init__"])
            wrapped.append(cls)

    base.__init_subclass__ = classmethod(init_subclass)
    try:
        yield
    finally:
        if original_init_subclass is None:
            del base.__init_subclass__
        else:
            base.__init_subclass__ = original_init_subclass


def run_mindspore(
    folder: Path, script: str, steps: int, workdir: Path, weights: dict[str, np.ndarray]
) -> tuple[list[float], list[tuple[str, str]], list[str]]:
    """Run the converted script for `steps` steps with the torch weights copied into its first model."""
    import mindspore as ms
    import mindspore.dataset as msds
    from mindspore import nn

    losses: list[float] = []
    copied: list[tuple[str, str]] = []
    missing: list[str] = []
    depth = [0]
    done = [False]

    def record(value) -> None:
        loss = value[0] if isinstance(value, (tuple, list)) else value
        losses.append(float(loss.asnumpy()))
        if len(losses) >= steps:
            raise _Enough

    original_step = nn.TrainOneStepCell.construct

    def step(self, *inputs):
        out = original_step(self, *inputs)
        record(out)
        return out

    original_vg = ms.value_and_grad

    def value_and_grad(fn, grad_position=0, weights=None, has_aux=False, **kwargs):
        grad_fn = original_vg(fn, grad_position, weights, has_aux, **kwargs)

        def recorded(*args, **kw):
            out = grad_fn(*args, **kw)
            record(out[0])
            return out

        return recorded

    original_gd = msds.GeneratorDataset.__init__

    def generator_init(self, *args, **kwargs):
        kwargs["shuffle"] = False
        original_gd(self, *args, **kwargs)

    def call_init(cls_init):
        def init(self, *args, **kwargs):
            depth[0] += 1
            try:
                cls_init(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and not done[0]:
                done[0] = True
                keys = set(weights)
                for name, param in self.parameters_and_names():
                    key = torch_key(name, keys)
                    if key is None or tuple(weights[key].shape) != tuple(param.shape):
                        missing.append(name)
                        continue
                    param.set_data(
                        ms.Tensor(weights[key].astype(np.float32) if weights[key].dtype == np.float64 else weights[key])
                    )
                    copied.append((name, key))

        return init

    with (
        _project(folder, workdir),
        _patched(nn.TrainOneStepCell, "construct", step),
        _patched(ms, "value_and_grad", value_and_grad),
    ):
        with _patched(msds.GeneratorDataset, "__init__", generator_init), _class_hook(nn.Cell, folder, call_init, None):
            _run(folder / script, steps)
    return losses, copied, missing


def compare_training(
    torch_dir: str | Path, ms_dir: str | Path, steps: int = 3, script: str = "train.py"
) -> TrainingComparison:
    """Run `script` of the torch project and of its conversion for `steps` steps from the same weights
    and the same batches; both loss trajectories."""
    torch_dir, ms_dir = Path(torch_dir).resolve(), Path(ms_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="mc-check-") as tmp:
        t_work, m_work = Path(tmp, "torch"), Path(tmp, "mindspore")
        t_work.mkdir()
        m_work.mkdir()
        torch_losses, weights = run_torch(torch_dir, script, steps, t_work)
        ms_losses, copied, missing = run_mindspore(ms_dir, script, steps, m_work, weights)
    return TrainingComparison(torch_losses, ms_losses, copied, missing)
