"""onnx.DFT -> a DFT Cell: the transform as a matmul with cosine/sine matrices computed at conversion time.

The signal length is static, so the (padded or truncated) DFT along `axis` is a product with two
real matrices A and B: Re(Y) = Re(x) A + Im(x) B and Im(Y) = Im(x) A - Re(x) B (forward: A = cos,
B = sin; inverse: A = cos / n, B = -sin / n; a one-sided inverse folds the Hermitian half in).
This is exact, runs on every backend and needs no complex dtype.
"""

from __future__ import annotations

import numpy as np

from mindconverter.backend.context import EmitContext, WeightRef
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_DFT = '''class DFT(nn.Cell):
    """ONNX DFT along one axis of a (..., 1 | 2) real/complex signal, as matmuls with fixed matrices a and b."""

    def __init__(self, perm, inverse_perm, n_in, n_out, real_output=False):
        super().__init__()
        self.perm = perm
        self.inverse_perm = inverse_perm
        self.real_output = real_output
        self.a = Parameter(ops.zeros((n_in, n_out), ms.float32), requires_grad=False)
        self.b = Parameter(ops.zeros((n_in, n_out), ms.float32), requires_grad=False)

    def construct(self, x):
        x = ops.transpose(x, self.perm)  # the transformed axis last but one, before (re, im)
        re = x[..., 0]
        a, b = ops.cast(self.a, x.dtype), ops.cast(self.b, x.dtype)
        if x.shape[-1] == 2:
            im = x[..., 1]
            y_re = ops.matmul(re, a) + ops.matmul(im, b)
            y_im = ops.matmul(im, a) - ops.matmul(re, b)
        else:
            y_re = ops.matmul(re, a)
            y_im = -ops.matmul(re, b)
        y = ops.expand_dims(y_re, -1) if self.real_output else ops.stack((y_re, y_im), -1)
        return ops.transpose(y, self.inverse_perm)'''


def dft_matrices(length: int, n: int, inverse: bool, onesided: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """(A, B, real_output) for a signal of `length` samples transformed with n points."""
    if inverse and onesided:  # irfft: bins 0..n//2 of a Hermitian spectrum -> n real samples
        k = np.arange(length)[:, None]
        t = np.arange(n)[None, :]
        weight = np.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), 1.0, 2.0)
        weight = np.where(k <= n // 2, weight, 0.0)
        angle = 2 * np.pi * k * t / n
        return weight * np.cos(angle) / n, -weight * np.sin(angle) / n, True
    bins = n // 2 + 1 if onesided else n
    j = np.arange(length)[:, None]
    k = np.arange(bins)[None, :]
    used = (j < n).astype(np.float64)  # samples beyond n are truncated; missing ones are zero padding
    angle = 2 * np.pi * ((j * k) % n) / n
    if inverse:
        return used * np.cos(angle) / n, -used * np.sin(angle) / n, False
    return used * np.cos(angle), used * np.sin(angle), False


def _dft(cx: EmitContext, axis: int) -> str:
    shape = cx.in_shape(0)
    rank = len(shape)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank - 1:
        cx.fail(f"DFT axis {axis} is outside the signal dims of a rank-{rank} input")
    if shape[-1] not in (1, 2):
        cx.fail(f"DFT input must end in a (real) or (real, imaginary) dim, got {shape[-1]}")
    inverse, onesided = bool(cx.attr("inverse", 0)), bool(cx.attr("onesided", 0))
    length = shape[axis]
    n = length if not (inverse and onesided) else 2 * (length - 1)
    if cx.has(1):
        value = cx.const(1)
        if value is None or value.size != 1:
            cx.fail("dft_length must be a constant")
        n = int(value.reshape(-1)[0])
    a, b, real_output = dft_matrices(length, n, inverse, onesided)
    perm = [d for d in range(rank - 1) if d != axis] + [axis, rank - 1]
    inverse_perm = tuple(int(i) for i in np.argsort(perm))
    # Stored as float32 (the Cell casts them to x's dtype): float64 signals lose ~1e-7 relative accuracy.
    weights = {"a": WeightRef(a.astype(np.float32)), "b": WeightRef(b.astype(np.float32))}
    kwargs = {"real_output": True} if real_output else {}
    cls = cx.support_class("DFT", _DFT)
    layer = cx.layer(cls, tuple(perm), inverse_perm, a.shape[0], a.shape[1], weights=weights, hint="dft", **kwargs)
    return f"{layer}({cx.arg(0)})"


@emits("onnx.DFT", since=17, until=19)
def dft_attr_axis(op: Op, cx: EmitContext) -> str:
    """onnx.DFT (opset 17-19, axis attribute) -> DFT(...)(x): matmuls with cosine/sine matrices."""
    return _dft(cx, cx.attr("axis", 1))


@emits("onnx.DFT", since=20)
def dft(op: Op, cx: EmitContext) -> str:
    """onnx.DFT (opset >= 20, axis input) -> DFT(...)(x): matmuls with cosine/sine matrices."""
    if not cx.has(2):
        return _dft(cx, -2)
    axis = cx.const(2)
    if axis is None:
        cx.fail("the DFT axis (input 2) must be a constant: the transform matrices depend on it")
    return _dft(cx, int(axis.reshape(-1)[0]))
