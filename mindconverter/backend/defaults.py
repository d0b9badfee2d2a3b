"""What MindSpore layers take: positional parameter names and keyword defaults (MindSpore 2.10).

A generated call never restates a default (`nn.BatchNorm2d(64)`, not `nn.BatchNorm2d(64, momentum=0.9)`).
Careful: some defaults differ from torch's (`nn.LayerNorm` epsilon is 1e-7, `nn.Conv2d` pad_mode is
"same"), so only what is listed here is left out.
"""

from __future__ import annotations

#: Positional parameter names of the layers emitters declare (to name lifted constructor arguments).
POSITIONAL: dict[str, tuple[str, ...]] = {
    **{f"nn.Conv{n}d": ("in_channels", "out_channels", "kernel_size") for n in (1, 2, 3)},
    **{f"nn.Conv{n}dTranspose": ("in_channels", "out_channels", "kernel_size") for n in (1, 2, 3)},
    **{f"nn.BatchNorm{n}d": ("num_features",) for n in (1, 2, 3)},
    "nn.Dense": ("in_channels", "out_channels"),
    "nn.LayerNorm": ("normalized_shape",),
    "nn.MultiheadAttention": ("embed_dim", "num_heads"),
    **{f"nn.{k}Pool{n}d": ("kernel_size",) for k in ("Max", "Avg") for n in (1, 2, 3)},
}
_CONV_DEFAULTS = {"stride": 1, "pad_mode": "same", "padding": 0, "dilation": 1, "group": 1, "has_bias": False}
_POOL_DEFAULTS = {"stride": 1, "pad_mode": "valid", "padding": 0}
#: MindSpore's defaults of keyword arguments: `EmitContext.layer` leaves out arguments equal to them, and lifting
#: fills them back in to compare instances.
DEFAULTS: dict[str, dict[str, object]] = {
    **{f"nn.Conv{n}d": _CONV_DEFAULTS for n in (1, 2, 3)},
    **{f"nn.BatchNorm{n}d": {"eps": 1e-5, "momentum": 0.9} for n in (1, 2, 3)},
    "nn.Dense": {"has_bias": True},
    **{f"nn.{k}Pool{n}d": _POOL_DEFAULTS for k in ("Max", "Avg") for n in (1, 2)},
    "nn.Dropout": {"p": 0.5},
    "nn.MultiheadAttention": {"dropout": 0.0, "has_bias": True, "kdim": None, "vdim": None, "batch_first": False},
}
