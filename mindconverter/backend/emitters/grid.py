"""Sampling grids: onnx.AffineGrid -> ops.matmul(theta, constant base grid), reshaped to (N, *spatial, ndim)."""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op


def base_grid(spatial: tuple[int, ...], align_corners: bool) -> np.ndarray:
    """The homogeneous base grid, transposed: shape (ndim + 1, prod(spatial)), rows (x, y[, z], 1).

    Each axis of size n holds the normalized coordinates -1..1: pixel centers (2i + 1) / n - 1, or the
    corners -1 + 2i / (n - 1) with align_corners (-1 for a size-1 axis, as in the ONNX reference).
    Points are in row-major order of `spatial` (D, H, W), matching the reshape of the result.
    """
    axes = []
    for n in spatial:
        if align_corners:
            axes.append(np.linspace(-1.0, 1.0, n) if n > 1 else np.array([-1.0]))
        else:
            axes.append((2.0 * np.arange(n) + 1.0) / n - 1.0)
    mesh = np.meshgrid(*axes, indexing="ij")  # one array per axis of spatial, each of shape spatial
    coords = [m.reshape(-1) for m in reversed(mesh)]  # x (the last axis) first
    return np.stack([*coords, np.ones(int(np.prod(spatial)))])


@emits("onnx.AffineGrid", since=20)
def affine_grid(op: Op, cx: EmitContext) -> str:
    """onnx.AffineGrid -> ops.reshape(ops.transpose(ops.matmul(theta, base), (0, 2, 1)), (N, *spatial, ndim)).

    `base` is a constant (ndim + 1, prod(spatial)) grid of homogeneous coordinates computed with numpy
    from the static output size: the size input when it is a constant, else the declared output shape.
    """
    theta_type = cx.in_type(0)
    if theta_type.rank != 3 or not isinstance(theta_type.dims[1], int) or theta_type.dims[1] not in (2, 3):
        cx.fail(f"AffineGrid theta must be (N, 2, 3) or (N, 3, 4), got {theta_type}")
    ndim = theta_type.dims[1]
    if cx.const(1) is not None:
        size = [int(s) for s in cx.const_list(1, "size")]
        if len(size) != ndim + 2:
            cx.fail(f"AffineGrid size {size} does not match a {ndim}-D theta")
        spatial = tuple(size[2:])
    else:
        out = cx.out_type()
        if out.rank != ndim + 2 or not all(isinstance(d, int) for d in out.dims[1:-1]):
            cx.fail(f"AffineGrid size (input 1) is computed at run time and the output shape {out} is not static")
        spatial = tuple(out.dims[1:-1])
    dtype = cx.in_type(0).dtype
    if not dtype.is_float:
        cx.fail(f"AffineGrid needs a float theta, got {theta_type}")
    base = base_grid(spatial, bool(cx.attr("align_corners", 0))).astype(dtype.to_numpy())
    grid = cx.tensor(base, hint="base_grid")
    points = f"ops.transpose(ops.matmul({cx.arg(0)}, {grid}), (0, 2, 1))"
    return f"ops.reshape({points}, {cx.lit((-1, *spatial, ndim))})"
