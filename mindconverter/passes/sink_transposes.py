"""sink-transposes: move layout Transposes towards the outputs until they cancel, so the body runs in one layout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mindconverter.ir.core import Builder, Func, Module, Op, Value, erase_op, known_array, replace_uses, users
from mindconverter.ir.types import TensorType
from mindconverter.passes.manager import PassContext, register_pass

#: Ops applied element by element with no axis: a transpose commutes with them.
_UNARY = frozenset({
    "Abs", "Cast", "Ceil", "Clip", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
    "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round",
    "Selu", "Sigmoid", "Sign", "Sin", "Cos", "Softplus", "Softsign", "Sqrt", "Tanh", "ThresholdedRelu",
})
#: Element-wise ops with broadcasting operands.
_ELEMENTWISE = frozenset({
    "Add", "And", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Max", "Mean", "Min",
    "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Sum", "Where", "Xor",
})
_REDUCE = frozenset({
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
    "ReduceProd", "ReduceSum", "ReduceSumSquare",
})
#: Ops over the channel axis 1 (and batch axis 0): they commute with perms that keep those two in place.
_CHANNEL_OPS = frozenset({"BatchNormalization", "InstanceNormalization", "LpNormalization", "LRN"})


#: A moved op: its operands and attributes on the untransposed value, and the perm of its result.
_Plan = tuple[list[Value | None], dict, list[int]]


def _inverse(perm: Sequence[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _perm_of(op: Op) -> list[int] | None:
    """The perm of a Transpose over a value of known rank (default: reversed axes)."""
    rank = op.operands[0].type.rank
    if rank is None:
        return None
    perm = op.attr("perm")
    return list(perm) if perm is not None else list(range(rank))[::-1]


def _reduced_perm(perm: Sequence[int], reduced: set[int]) -> list[int]:
    """The perm left after a keepdims=0 reduction of `reduced` (axes of the transposed value)."""
    kept = [perm[i] for i in range(len(perm)) if i not in reduced]
    order = sorted(kept)
    return [order.index(a) for a in kept]


def _untransposed(t: TensorType, perm: Sequence[int]) -> TensorType:
    """The type `x` has when `Transpose(x, perm)` has type `t`."""
    dims = [None] * len(perm)
    for i, p in enumerate(perm):
        dims[p] = t.dims[i]
    return t.with_dims(tuple(dims))


class _Sinker:
    def __init__(self, module: Module, func: Func, ctx: PassContext) -> None:
        self.module, self.func, self.ctx = module, func, ctx
        self.weights = module.weights
        self.uses = users(func)

    # -- rule 1: Transpose(Transpose(x)) --------------------------------------------------------

    def merge(self, op: Op, perm: list[int]) -> bool:
        inner = op.operands[0].op
        if inner is None or inner.name != "onnx.Transpose" or _perm_of(inner) is None:
            return False
        q = _perm_of(inner)
        composed = [q[p] for p in perm]
        x = inner.operands[0]
        if composed == list(range(len(composed))):
            new = x
        else:
            new = Builder.before(op).op1("onnx.Transpose", [x], op.result.type, op.loc, perm=composed)
        self.ctx.log.debug("sink-transposes: %s after %s -> %s", op.loc_name, inner.loc_name, "cancelled" if new is x else composed)
        self._replace(op, new)
        return True

    # -- rule 2: U(Transpose(x), ...) -> Transpose(U'(x, ...)) ----------------------------------

    def sink(self, op: Op, perm: list[int]) -> bool:
        uses = self.uses.get(op.result, [])
        if len(uses) != 1 or uses[0].parent is not op.parent:
            return False
        user = uses[0]
        if user.dialect != "onnx" or len(user.results) != 1 or user.result.type.dims is None:
            return False
        plan = self._plan(user, op, perm)
        if plan is None:
            return False
        operands, attrs, out_perm = plan
        if user.result.type.rank != len(out_perm):
            return False
        b = Builder.before(user)
        inner = b.create(user.name, operands, [_untransposed(user.result.type, out_perm)], attrs, user.loc, user.regions).result
        out = inner
        if out_perm != list(range(len(out_perm))):
            out = b.op1("onnx.Transpose", [inner], user.result.type, op.loc, perm=out_perm)
        out.name = user.result.name
        self.ctx.log.debug("sink-transposes: %s moved below %s", op.loc_name, user.loc_name)
        self._replace(user, out)
        return True

    def _plan(self, user: Op, t: Op, perm: list[int]) -> _Plan | None:
        """The operands and attributes of `user` on the untransposed value and the perm of its result, or None."""
        kind, n = user.op_type, len(perm)
        attrs = dict(user.attrs)
        ops = list(user.operands)
        x = t.operands[0]
        if kind in _UNARY:
            if ops[0] is not t.result or any(v is t.result for v in ops[1:]):
                return None
            return [x, *ops[1:]], attrs, perm
        if kind in _CHANNEL_OPS:
            if perm[:2] != [0, 1] or ops[0] is not t.result or any(v is t.result for v in ops[1:]):
                return None
            return [x, *ops[1:]], attrs, perm
        if kind in _ELEMENTWISE or kind == "Concat":
            new = [self._operand(v, t, perm, broadcast=kind != "Concat") for v in ops]
            if any(v is None for v in new):
                return None
            if kind == "Concat":
                attrs["axis"] = perm[user.attr("axis") % n]
            return new, attrs, perm
        if ops[0] is not t.result or any(v is t.result for v in ops[1:]):
            return None
        if kind in ("Softmax", "LogSoftmax", "Hardmax"):
            attrs["axis"] = perm[user.attr("axis", -1) % n]
            return [x, *ops[1:]], attrs, perm
        if kind in _REDUCE or kind == "Squeeze":
            return self._plan_reduce(user, t, perm, attrs)
        if kind in ("Pad", "Slice"):
            return self._plan_pad_slice(user, t, perm, attrs)
        return None

    def _plan_reduce(self, user: Op, t: Op, perm: list[int], attrs: dict) -> _Plan | None:
        """Reduce* (axes attribute or input, keepdims 0 or 1) and Squeeze (a keepdims=0 reduction of size-1 axes)."""
        n, ops, x = len(perm), list(user.operands), t.operands[0]
        squeeze = user.op_type == "Squeeze"
        if "axes" in attrs:
            axes = [int(a) for a in attrs["axes"]]
        elif len(ops) > 1 and ops[1] is not None:
            known = self._known(ops[1])
            if known is None:
                return None
            axes = [int(a) for a in known.reshape(-1)]
        elif squeeze:
            dims = t.result.type.dims
            if dims is None or not all(isinstance(d, int) for d in dims):
                return None
            axes = [i for i, d in enumerate(dims) if d == 1]
        else:
            axes = []
        if not axes and user.attr("noop_with_empty_axes", 0):
            return [x, *ops[1:]], attrs, perm
        reduced = {a % n for a in axes} if axes else set(range(n))
        out_perm = perm if user.attr("keepdims", 1) and not squeeze else _reduced_perm(perm, reduced)
        mapped = sorted(perm[a] for a in reduced)
        if "axes" in attrs:
            attrs["axes"] = mapped
            return [x, *ops[1:]], attrs, out_perm
        if axes:
            return [x, self._const(user, np.array(mapped, np.int64)), *ops[2:]], attrs, out_perm
        return [x, *ops[1:]], attrs, out_perm

    def _plan_pad_slice(self, user: Op, t: Op, perm: list[int], attrs: dict) -> _Plan | None:
        """Pad (pads input) and Slice (axes input) with their constants mapped through the perm."""
        kind, n, ops, x = user.op_type, len(perm), list(user.operands), t.operands[0]
        if kind == "Pad":
            if attrs.get("mode", "constant") not in ("constant", "reflect", "edge", "wrap") or len(ops) > 3:
                return None
            pads = self._known(ops[1]) if len(ops) > 1 and ops[1] is not None else None
            if pads is None or pads.size != 2 * n:
                return None
            begins, ends = pads[:n], pads[n:]
            new = np.zeros(2 * n, np.int64)
            for i, p in enumerate(perm):
                new[p], new[n + p] = begins[i], ends[i]
            return [x, self._const(user, new), *ops[2:]], attrs, perm
        if kind == "Slice":
            starts = self._known(ops[1])
            if starts is None or (len(ops) > 3 and ops[3] is not None and self._known(ops[3]) is None):
                return None
            axes = self._known(ops[3]) if len(ops) > 3 and ops[3] is not None else np.arange(starts.size)
            mapped = np.array([perm[int(a) % n] for a in axes.reshape(-1)], np.int64)
            rest = list(ops[1:])
            while len(rest) < 3:
                rest.append(None)
            rest[2] = self._const(user, mapped)
            return [x, *rest], attrs, perm
        return None

    def _operand(self, v: Value | None, t: Op, perm: list[int], broadcast: bool) -> Value | None:
        """An operand of an element-wise op or Concat, on the untransposed side."""
        n = len(perm)
        if v is None:
            return None
        if v is t.result:
            return t.operands[0]
        prod = v.op
        if prod is not None and prod.name == "onnx.Transpose" and _perm_of(prod) == perm:
            return prod.operands[0]
        array = self._known(v)
        if array is None or array.ndim > n or (not broadcast and array.ndim != n):
            return None
        full = array.reshape((1,) * (n - array.ndim) + array.shape)
        moved = np.ascontiguousarray(np.transpose(full, _inverse(perm)))
        if prod is not None and prod.name == "ir.param":
            key = prod.attrs["key"]
            if len(self.uses.get(v, [])) == 1:  # only this op reads it: permute the weight in place, keep its name
                self.weights.set(key, moved, self.weights.origin.get(key))
                v.type = TensorType(v.type.dtype, tuple(moved.shape))
                return v
            return Builder.before(prod).param(moved, self.weights, key, prod.loc, self.weights.origin.get(key))
        return Builder.before(t).const(moved, self.weights, v.op.loc if v.op is not None else ())

    def _known(self, v: Value) -> np.ndarray | None:
        if v is None or (v.op is not None and "key" in v.op.attrs and v.op.attrs["key"] not in self.weights):
            return None
        return known_array(v, self.weights)

    def _const(self, user: Op, array: np.ndarray) -> Value:
        return Builder.before(user).const(array, self.weights, user.loc)

    def _replace(self, op: Op, new: Value) -> None:
        replace_uses(self.func, {op.result: new})
        erase_op(op)
        for v in op.operands:  # a producer left without users (the moved Transpose) goes too
            if v is not None and v.op is not None and v.op.name == "onnx.Transpose" and v.op.parent is not None:
                if not any(v in o.operands for o in self.func.walk()):
                    erase_op(v.op)
        self.uses = users(self.func)


@register_pass("sink-transposes")
def sink_transposes(module: Module, ctx: PassContext) -> bool:
    """Move each onnx.Transpose below the ops it commutes with until it meets its inverse and cancels.

    tf2onnx wraps convolutions, pools and norms of an NHWC graph in NHWC<->NCHW transposes; this
    pass leaves the body in NCHW with at most one transpose at each input and output.

    1. `Transpose(Transpose(x, q), p)` becomes `Transpose(x, q∘p)`, or `x` when that is the identity.
    2. A Transpose whose only user is element-wise (unary, or broadcasting with constants and
       transposes of the same perm), Concat, Softmax/LogSoftmax, Reduce*, Squeeze, Pad or Slice
       moves below it (a keepdims=0 Reduce or a Squeeze leaves the perm of the kept axes, none if that is the
       identity); axis attributes and axes/pads inputs are mapped through the perm, constants are
       permuted (a parameter read only there is permuted in place and keeps its name).
       BatchNormalization-like ops (channel axis 1) let a perm through only when it keeps axes 0 and 1.
    3. Only single-user transposes move, so the pass never adds a transpose.
    """
    changed = False
    for func in module.funcs:
        sinker = _Sinker(module, func, ctx)
        progress = True
        while progress:
            progress = False
            for op in [o for o in func.body.ops if o.name == "onnx.Transpose"]:
                if op.parent is None:
                    continue
                perm = _perm_of(op)
                if perm is None:
                    continue
                if perm == list(range(len(perm))):
                    sinker._replace(op, op.operands[0])
                    progress = True
                elif sinker.merge(op, perm) or sinker.sink(op, perm):
                    progress = True
            changed |= progress
    return changed
