"""fuse-layer-norm: onnx.LayerNormalization with weights, and the decomposed mean/variance pattern, become mc.layer_norm (nn.LayerNorm)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mindconverter.ir.core import Op, Value
from mindconverter.passes.fusion_helpers import known_axes, near, split_const
from mindconverter.passes.pattern import Rewriter, fused_loc, in_program_order, register_pattern


def _mean_axes(op: Op, rw: Rewriter) -> list[int] | None:
    """The axes of a ReduceMean with keepdims (attribute before opset 18, input after), or a GlobalAveragePool's.

    tf2onnx writes a mean over the last axis of a 3-D tensor as GlobalAveragePool (axes 2...).
    """
    rank = op.operands[0].type.rank if op.operands else None
    if op.name == "onnx.GlobalAveragePool" and rank is not None and rank >= 3:
        return list(range(2, rank))
    if op.name != "onnx.ReduceMean" or not op.attr("keepdims", 1):
        return None
    return known_axes(op, rw)


def _trailing(axes: list[int], rank: int | None) -> int | None:
    """The first axis when `axes` are the last dims of a rank-`rank` tensor, else None."""
    if rank is None:
        return None
    norm = sorted(a % rank for a in axes)
    return norm[0] if norm == list(range(norm[0], rank)) else None


def _param_shape_ok(v: Value | None, x: Value, axis: int, rw: Rewriter) -> bool:
    if v is None:
        return True
    return rw.is_known(v) and x.type.dims is not None and v.type.dims == x.type.dims[axis:]


@register_pattern("fuse-layer-norm", root=("onnx.Add", "onnx.Mul", "onnx.LayerNormalization"))
class FuseLayerNorm:
    """Replace (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * scale + bias, and LayerNormalization, by mc.layer_norm.

    1. Both means reduce the same trailing axes with keepdims; the square is Pow(d, 2) or Mul(d, d).
    2. scale (and bias) must be weights of the normalized shape; without a bias the root is the Mul.
    3. LayerNormalization fuses only with weights and when its Mean/InvStdDev outputs are not used.
    4. Every intermediate value has only the users of the pattern (d is used twice).
    """

    def check(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if op.name == "onnx.LayerNormalization":
            return self._check_native(op, m, rw)
        if op.name == "onnx.Add":
            for i in (0, 1):
                mul = rw.producer(op.operands[i], "onnx.Mul")
                if mul is not None and rw.only_user(mul.result) is op:
                    reason = self._check_scaled(mul, m, rw)
                    if reason is None:
                        bias = op.operands[1 - i]
                        if not _param_shape_ok(bias, m["x"], m["axis"], rw):
                            return "the added operand is not a weight of the normalized shape"
                        m["bias"] = bias
                        m["ops"].append(op)
                        return None
            return self._check_affine(op, m, rw) and "no operand is a scaled normalization or x * inv + shift"
        # A Mul root: fuse without bias, unless its only user is a bias Add (matched from the Add).
        reason = self._check_scaled(op, m, rw)
        if reason:
            return reason
        user = rw.only_user(op.result)
        if user is not None and user.name == "onnx.Add" and self.check(user, {}, rw) is None:
            return "its bias Add fuses with it (matched from the Add)"
        m["bias"] = None
        return None

    def _check_affine(self, add: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        """x * inv + (beta - mean * inv) with inv = [scale *] 1 / sqrt(var + eps): tf.nn.batch_normalization
        over trailing axes, as Keras 3's LayerNormalization writes it (the shift may be
        `Neg(mean) * inv + beta`, `beta - mean * inv` or, without beta, `Neg(mean) * inv`)."""
        for i in (0, 1):
            xs = rw.producer(add.operands[i], "onnx.Mul")
            shift = add.operands[1 - i].op
            if xs is None or shift is None:
                continue
            for j in (0, 1):
                x, inv = xs.operands[j], xs.operands[1 - j]
                found = self._inverse_std(inv, rw)
                if found is None:
                    continue
                scale, std_ops, var, eps = found
                bias, mean, shift_ops = self._shift(shift, inv, rw)
                if mean is None or mean.op is None or mean.op.operands[0] is not x:
                    continue
                axes = _mean_axes(mean.op, rw)
                axis = _trailing(axes or [], x.type.rank)
                if axes is None or axis is None or _mean_axes(var, rw) != axes:
                    continue
                sq = var.operands[0].op
                d = sq.operands[0] if sq is not None else None
                if sq is None or d.op is None or d.op.name != "onnx.Sub" or list(d.op.operands) != [x, mean]:
                    continue
                square = split_const(sq, rw) if sq.name == "onnx.Pow" else None
                if not (sq.name == "onnx.Mul" and list(sq.operands) == [d, d]) and not (square and near(square[1], 2.0)):
                    continue
                ops = [mean.op, d.op, sq, var, *std_ops, xs, *shift_ops, add]
                matched = {id(o) for o in ops}
                if any(id(u) not in matched for o in ops[:-1] for u in rw.users(o.result)):
                    return "an intermediate value of x * inv + shift has other users"
                rank = x.type.rank
                shape = tuple(x.type.dims[axis:])
                for w in (scale, bias):
                    if w is not None and (not rw.is_known(w) or w.type.dims is None
                                          or tuple(d for d in w.type.dims if d != 1) != tuple(d for d in shape if d != 1)
                                          or len(w.type.dims) > rank):
                        return "the scale and shift are not weights of the normalized shape"
                    if w is not None and tuple(w.type.dims) != shape and rw.known(w) is None:
                        return "the scale or shift must be reshaped, but its data is not loaded"
                m.update(x=x, axis=axis - rank, eps=eps, ops=ops, scale=scale, bias=bias, shape=shape)
                return None
        return "no operand is x * inv with inv = scale / sqrt(var + eps)"

    def _inverse_std(self, inv: Value, rw: Rewriter) -> tuple[Value | None, list[Op], Op, float] | None:
        """(scale, ops, variance op, eps) of `[scale *] Reciprocal(Sqrt(var + eps))`."""
        scale = None
        mul = rw.producer(inv, "onnx.Mul")
        rec = rw.producer(inv, "onnx.Reciprocal")
        ops: list[Op] = []
        if mul is not None:
            for k in (0, 1):
                rec = rw.producer(mul.operands[k], "onnx.Reciprocal")
                if rec is not None:
                    scale = mul.operands[1 - k]
                    break
            ops.append(mul)
        if rec is None:
            return None
        sqrt = rw.producer(rec.operands[0], "onnx.Sqrt")
        add = rw.producer(sqrt.operands[0], "onnx.Add") if sqrt is not None else None
        found = split_const(add, rw) if add is not None else None
        if found is None or found[0].op is None or _mean_axes(found[0].op, rw) is None:
            return None
        return scale, [add, sqrt, rec, *ops], found[0].op, found[1]

    def _shift(self, shift: Op, inv: Value, rw: Rewriter) -> tuple[Value | None, Value | None, list[Op]]:
        """(beta, mean, ops) of the shift term; mean is None when it is not one."""
        def mean_times_inv(v: Value) -> tuple[Value | None, list[Op]]:
            mul = rw.producer(v, "onnx.Mul")
            if mul is None or inv not in mul.operands:
                return None, []
            other = mul.operands[1] if mul.operands[0] is inv else mul.operands[0]
            return other, [mul]

        if shift.name == "onnx.Sub":  # beta - mean * inv
            mean, ops = mean_times_inv(shift.operands[1])
            return shift.operands[0], mean, [*ops, shift]
        beta, term, ops = None, shift.result, [shift]
        if shift.name == "onnx.Add":
            for k in (0, 1):
                if rw.producer(shift.operands[k], "onnx.Mul") is not None:
                    term, beta = shift.operands[k], shift.operands[1 - k]
                    break
        else:
            ops = []
        neg_mean, mul_ops = mean_times_inv(term)
        neg = rw.producer(neg_mean, "onnx.Neg") if neg_mean is not None else None
        if neg is None:
            return None, None, []
        return beta, neg.operands[0], [neg, *mul_ops, *ops]

    def _check_native(self, op: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        if len(op.results) > 1 and any(rw.users(r) for r in op.results[1:]):
            return "its Mean/InvStdDev outputs are used"
        x, scale = op.operands[0], op.operands[1]
        bias = op.operands[2] if len(op.operands) > 2 else None
        rank = x.type.rank
        if rank is None:
            return "the input rank is unknown"
        axis = op.attr("axis", -1) % rank
        if not _param_shape_ok(scale, x, axis, rw) or not _param_shape_ok(bias, x, axis, rw):
            return "scale and bias must be weights of the normalized shape"
        m.update(x=x, scale=scale, bias=bias, axis=axis - rank, eps=float(op.attr("epsilon", 1e-5)), ops=[op])
        return None

    def _check_scaled(self, mul: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        for i in (0, 1):
            div = rw.producer(mul.operands[i], "onnx.Div")
            if div is None or rw.only_user(div.result) is not mul:
                continue
            reason = self._check_normalized(div, m, rw)
            if reason:
                return reason
            scale = mul.operands[1 - i]
            if not _param_shape_ok(scale, m["x"], m["axis"], rw):
                return "the scale is not a weight of the normalized shape"
            m["scale"] = scale
            m["ops"] += [mul]
            return None
        return "no operand is a single-use (x - mean) / std"

    def _check_normalized(self, div: Op, m: dict[str, Any], rw: Rewriter) -> str | None:
        sub = rw.producer(div.operands[0], "onnx.Sub")
        sqrt = rw.producer(div.operands[1], "onnx.Sqrt")
        if sub is None or sqrt is None:
            return "not (x - mean) / sqrt(...)"
        x, mean = sub.operands
        if mean.op is None or mean.op.operands[0] is not x:
            return "the subtracted value is not a mean of x"
        axes = _mean_axes(mean.op, rw)
        axis = _trailing(axes or [], x.type.rank)
        if axes is None or axis is None:
            return "the mean does not reduce trailing axes with keepdims"
        d = sub.result
        add = rw.producer(sqrt.operands[0], "onnx.Add")
        if add is None:
            return "the square root is not of var + eps"
        found = split_const(add, rw)
        if found is None or found[0].op is None:
            return "no constant epsilon is added to the variance"
        var, eps = found[0].op, found[1]
        if _mean_axes(var, rw) != axes:
            return "the variance reduces other axes"
        sq = var.operands[0].op
        if sq is None:
            return "the variance is not a mean of squares"
        if sq.name == "onnx.Pow":
            ok = sq.operands[0] is d and near(split_const(sq, rw)[1] if split_const(sq, rw) else None, 2.0)
        else:
            ok = sq.name == "onnx.Mul" and list(sq.operands) == [d, d]
        if not ok:
            return "the variance is not a mean of (x - mean)^2"
        users_d = rw.users(d)
        if sorted(map(id, users_d)) != sorted(map(id, [sq, div])):
            return "x - mean has other users"
        for v, user in ((mean, sub), (sq.result, var), (var.result, add), (add.result, sqrt), (sqrt.result, div)):
            if rw.only_user(v) is not user:
                return "an intermediate value has other users"
        rank = x.type.rank
        m.update(x=x, axis=axis - rank, eps=eps, ops=[mean.op, sub, sq, var, add, sqrt, div])
        return None

    def rewrite(self, op: Op, m: dict[str, Any], rw: Rewriter) -> None:
        if "shape" in m:  # weights broadcast as (1, 1, C): stored in the normalized shape (C,)
            for role in ("scale", "bias"):
                w = m[role]
                if w is not None and tuple(w.type.dims) != m["shape"]:
                    array = np.asarray(rw.known(w)).reshape(m["shape"])
                    if w.op.name == "ir.param":
                        key = w.op.attrs["key"]
                        m[role] = rw.builder(op).param(array, rw.weights, key, w.op.loc, rw.weights.origin.get(key))
                    else:
                        m[role] = rw.builder(op).const(array, rw.weights, w.op.loc)
        ordered = in_program_order(m["ops"])
        operands = [m["x"], m["scale"]] + ([m["bias"]] if m["bias"] is not None else [])
        new = rw.create(op, "mc.layer_norm", operands, fused_loc(*ordered), axis=m["axis"], epsilon=m["eps"])
        new.result.name = op.result.name
        rw.replace(op, [new.result], matched=[o for o in ordered if o is not op])
