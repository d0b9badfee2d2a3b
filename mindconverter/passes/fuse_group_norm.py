"""fuse-group-norm: torch's GroupNorm export (Reshape, InstanceNormalization without weights, Reshape, `* w + b`
per channel) and GroupNormalization with per-channel weights become mc.group_norm (nn.GroupNorm)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern


def _all(v: Value, rw: Rewriter, fill: float) -> bool:
    array = rw.known(v)
    return array is not None and bool(np.all(array == fill))


def _per_channel(w: Value, x: Value, rw: Rewriter) -> bool:
    """Whether `w` is a loaded weight (stored reshaped to (C,)) broadcast along x's axis 1 only: (C, 1, ...),
    (1, C, 1, ...) or one number."""
    rank, dims = x.type.rank, w.type.dims
    if rw.known(w) is None or dims is None or rank is None or len(dims) > rank:
        return False
    if all(d == 1 for d in dims):
        return True
    if len(dims) < rank - 1:  # (C,) is along the last axis
        return False
    aligned = (1,) * (rank - len(dims)) + tuple(dims)
    return aligned[1] in (1, x.type.dims[1]) and all(d == 1 for i, d in enumerate(aligned) if i != 1)


def _identity(w: Value | None, fill: float, rw: Rewriter) -> bool:
    """Whether `w` is no weight, or a constant (not a parameter) that leaves the value as it is (torch's affine=False)."""
    return w is None or (w.op.name == "ir.const" and _all(w, rw, fill))


@register_pattern("fuse-group-norm", root=("onnx.Add", "onnx.Mul", "onnx.Reshape", "onnx.InstanceNormalization"))
class FuseGroupNorm:
    """Replace the normalization of channel groups, and its per-channel scale and shift, by mc.group_norm.

    1. The core: Reshape(InstanceNormalization(Reshape(x, (N, G, -1)), ones, zeros), back to x's shape) with a
       static channel count C divisible by G (the outer reshape gives x's type back); or, once the reshapes
       fold away (G = C), InstanceNormalization(x, ones, zeros) followed by a per-channel Mul.
    2. Mul by a weight broadcast along the channels, then Add of one; without a bias the root is the Mul,
       without either the root is the outer Reshape. Each root declines when its only user fuses with it.
    3. Every intermediate value has only the next op of the pattern as its user.
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name in ("onnx.Reshape", "onnx.InstanceNormalization"):
            reason = self._core(op, m, rw)
            if reason is None and op.name == "onnx.InstanceNormalization":
                return "an InstanceNormalization over whole channels fuses only with a per-channel scale"
            if reason is None and self._affine_user(op, rw):
                return "its per-channel scale fuses with it (matched from the Mul or Add)"
            m.update(scale=None, bias=None)
            return reason
        if op.name == "onnx.Mul":
            reason = self._scaled(op, m, rw)
            if reason is None and self._affine_user(op, rw):
                return "its bias Add fuses with it (matched from the Add)"
            return reason
        for i in (0, 1):
            mul, bias = rw.producer(op.operands[i], "onnx.Mul"), op.operands[1 - i]
            m.clear()
            if mul is not None and rw.only_user(mul.result) is op and self._scaled(mul, m, rw) is None \
                    and _per_channel(bias, m["x"], rw):
                m["bias"] = bias
                m["ops"].append(op)
                return None
        return "no operand is a scaled normalization of channel groups, the other a per-channel weight"

    def _scaled(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        for i in (0, 1):
            inner, scale = op.operands[i], op.operands[1 - i]
            m.clear()
            if inner.op is not None and rw.only_user(inner) is op and self._core(inner.op, m, rw) is None \
                    and _per_channel(scale, m["x"], rw):
                m.update(scale=scale, bias=None)
                m["ops"].append(op)
                return None
        return "no operand is a normalization of channel groups, the other a per-channel weight"

    def _affine_user(self, op: Op, rw: Rewriter) -> bool:
        user = rw.only_user(op.result)
        if user is not None and user.name == "onnx.Mul":
            return self._scaled(user, {}, rw) is None
        return user is not None and user.name == "onnx.Add" and self.check(user, {}, rw) is None

    def _core(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name == "onnx.InstanceNormalization":
            norm, outer = op, None
        elif op.name != "onnx.Reshape":
            return "not a Reshape or InstanceNormalization"
        else:
            norm, outer = rw.producer(op.operands[0], "onnx.InstanceNormalization"), op
        if norm is None or not _all(norm.operands[1], rw, 1.0) or not _all(norm.operands[2], rw, 0.0):
            return "not an InstanceNormalization with unit scale and zero bias"
        inner = rw.producer(norm.operands[0], "onnx.Reshape") if outer is not None else None
        x = inner.operands[0] if inner is not None else norm.operands[0]
        dims, grouped = x.type.dims, norm.operands[0].type.dims
        if dims is None or len(dims) < 3 or not isinstance(dims[1], int) or grouped is None or len(grouped) < 3:
            return "the input is not (N, C, ...) with a static channel count"
        groups = grouped[1] if inner is not None else dims[1]
        if outer is not None and (inner is None or outer.result.type != x.type or len(grouped) != 3
                                  or grouped[0] != dims[0] or not isinstance(groups, int) or dims[1] % groups):
            return "the reshapes do not split the channels into groups of (N, G, -1) and back"
        chain = [o for o in (inner, norm, outer) if o is not None]
        if any(rw.only_user(o.result) is not nxt for o, nxt in itertools.pairwise(chain)):
            return "an intermediate value has other users"
        m.update(x=x, groups=groups, eps=float(norm.attr("epsilon", 1e-5)), ops=chain)
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        channels = m["x"].type.dims[1]
        operands = [m["x"]]
        if _identity(m["scale"], 1.0, rw) and _identity(m["bias"], 0.0, rw):
            m.update(scale=None, bias=None)
        for role in ("scale", "bias"):  # stored as (C,): nn.GroupNorm's gamma and beta
            w = m[role]
            if w is not None and tuple(w.type.dims) != (channels,):
                array = np.array(np.broadcast_to(np.asarray(rw.known(w)).reshape(-1), (channels,)))
                if w.op.name == "ir.param":
                    key = w.op.attrs["key"]
                    w = rw.builder(op).param(array, rw.weights, key, w.op.loc, rw.weights.origin.get(key))
                else:
                    w = rw.builder(op).const(array, rw.weights, w.op.loc)
            operands.append(w)
        while operands[-1] is None and len(operands) > 1:
            operands.pop()
        ordered = in_program_order(m["ops"])
        new = rw.create(op, "mc.group_norm", operands, fused_loc(*ordered), num_groups=m["groups"], epsilon=m["eps"])
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=[o for o in ordered if o is not op])
