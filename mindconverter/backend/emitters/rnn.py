"""Recurrent layers: onnx.LSTM / GRU / RNN -> Recurrent, a Cell written into the script.

nn.LSTM/nn.GRU/nn.RNN need their weights at construction and nn.GRU only computes ONNX's
linear_before_reset=1 (mindspore-cpu-ops.md, trap 21), so the ONNX equations are written out
once, with ONNX's gate order and weight layout: W/R/B are used as they are (constants become
checkpoint parameters, run-time inputs are passed through), for every direction and both GRU
variants.
"""

from __future__ import annotations

from mindconverter.backend.context import EmitContext
from mindconverter.backend.registry import emits
from mindconverter.ir.core import Op

_RECURRENT = '''
class Recurrent(nn.Cell):
    """ONNX LSTM (gates i, o, f, c), GRU (z, r, h) or RNN over a [seq, batch, input] sequence.

    Weights keep ONNX's layout: w [dirs, gates*hidden, input], r [dirs, gates*hidden, hidden],
    b [dirs, 2*gates*hidden] (input then recurrence biases), p [dirs, 3*hidden] (LSTM peepholes i, o, f).
    lens [batch] (ONNX sequence_lens) masks the steps past each sequence's end.
    Returns (y [seq, dirs, batch, hidden], y_h [dirs, batch, hidden], y_c [dirs, batch, hidden]).
    """

    def __init__(self, kind, hidden, directions=("forward",), linear_before_reset=0, batch_first=False):
        super().__init__()
        self.kind, self.hidden, self.directions = kind, hidden, directions
        self.linear_before_reset, self.batch_first = linear_before_reset, batch_first
        self.gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]

    def cell(self, x, h, c, w, r, wb, rb, p):
        n = self.hidden
        gx = ops.matmul(x, w.T) + wb
        if self.kind == "RNN":
            return ops.tanh(gx + ops.matmul(h, r.T) + rb), c
        if self.kind == "GRU":
            gh = ops.matmul(h, r[: 2 * n].T) + rb[: 2 * n]
            z = ops.sigmoid(gx[:, :n] + gh[:, :n])
            rt = ops.sigmoid(gx[:, n:2 * n] + gh[:, n:])
            if self.linear_before_reset:
                cand = ops.tanh(gx[:, 2 * n:] + rt * (ops.matmul(h, r[2 * n:].T) + rb[2 * n:]))
            else:
                cand = ops.tanh(gx[:, 2 * n:] + ops.matmul(rt * h, r[2 * n:].T) + rb[2 * n:])
            return (1 - z) * cand + z * h, c
        g = gx + ops.matmul(h, r.T) + rb
        i = ops.sigmoid(g[:, :n] + p[:n] * c)
        f = ops.sigmoid(g[:, 2 * n:3 * n] + p[2 * n:] * c)
        c = f * c + i * ops.tanh(g[:, 3 * n:])
        o = ops.sigmoid(g[:, n:2 * n] + p[n:2 * n] * c)
        return o * ops.tanh(c), c

    def construct(self, x, w, r, b=None, h0=None, c0=None, p=None, lens=None):
        if self.batch_first:
            x = ops.transpose(x, (1, 0, 2))
            if h0 is not None:
                h0 = ops.transpose(h0, (1, 0, 2))
            if c0 is not None:
                c0 = ops.transpose(c0, (1, 0, 2))
        size = self.gates * self.hidden
        state = ops.zeros((len(self.directions), x.shape[1], self.hidden), x.dtype)
        ys, hs, cs = [], [], []
        for d in range(len(self.directions)):
            h = state[d] if h0 is None else h0[d]
            c = state[d] if c0 is None else c0[d]
            wb = ops.zeros((size,), x.dtype) if b is None else b[d, :size]
            rb = ops.zeros((size,), x.dtype) if b is None else b[d, size:]
            pd = ops.zeros((3 * self.hidden,), x.dtype) if p is None else p[d]
            steps = range(x.shape[0]) if self.directions[d] == "forward" else range(x.shape[0] - 1, -1, -1)
            outs = []
            for t in steps:
                h_t, c_t = self.cell(x[t], h, c, w[d], r[d], wb, rb, pd)
                if lens is None:
                    h, c = h_t, c_t
                    outs.append(h)
                else:  # steps past a sequence's length keep its state and output zeros
                    live = ops.reshape(lens > t, (-1, 1))
                    h, c = ops.where(live, h_t, h), ops.where(live, c_t, c)
                    outs.append(ops.where(live, h_t, ops.zeros_like(h_t)))
            if self.directions[d] == "reverse":
                outs = outs[::-1]
            ys.append(ops.stack(outs))
            hs.append(h)
            cs.append(c)
        y, y_h, y_c = ops.stack(ys, 1), ops.stack(hs), ops.stack(cs)
        if self.batch_first:
            return ops.transpose(y, (2, 0, 1, 3)), ops.transpose(y_h, (1, 0, 2)), ops.transpose(y_c, (1, 0, 2))
        return y, y_h, y_c
'''

_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _recurrent(op: Op, cx: EmitContext, kind: str) -> tuple[str, ...]:
    direction = cx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        cx.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    dirs = ("forward", "reverse") if direction == "bidirectional" else (direction,)
    activations = cx.attr("activations")
    if activations is not None and [a.lower() for a in activations] != [a.lower() for a in _DEFAULT_ACTIVATIONS[kind] * len(dirs)]:
        cx.fail(f"{kind} activations {activations} are not supported (only the defaults {_DEFAULT_ACTIVATIONS[kind]})")
    if cx.attr("clip") is not None:
        cx.fail(f"{kind} with clip is not supported")
    if kind == "LSTM" and cx.attr("input_forget", 0):
        cx.fail("LSTM with input_forget=1 is not supported")
    hidden = cx.attr("hidden_size")
    if hidden is None:
        dims = cx.in_type(2).dims
        hidden = dims[2] if dims is not None and isinstance(dims[2], int) else cx.fail("hidden_size is unknown")
    kwargs: dict = {}
    if dirs != ("forward",):
        kwargs["directions"] = dirs
    if kind == "GRU" and cx.attr("linear_before_reset", 0):
        kwargs["linear_before_reset"] = 1
    if cx.attr("layout", 0):
        kwargs["batch_first"] = True
    cls = cx.support_class("Recurrent", _RECURRENT)
    layer = cx.layer(cls, kind, int(hidden), **kwargs)
    names = {3: "b", 4: "lens", 5: "h0", 6: "c0", 7: "p"}
    args = [cx.arg(0), cx.arg(1), cx.arg(2)]
    args += [f"{names[i]}={cx.arg(i)}" for i in (3, 4, 5, 6, 7) if cx.has(i) and i in names]
    call = f"{layer}({', '.join(args)})"
    # One expression per result (the writer takes no tuple); unused results are not computed.
    return tuple(f"{call}[{i}]" if cx.result_used(i) else "None" for i in range(len(op.results)))


@emits("onnx.LSTM", since=7)
def lstm(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.LSTM -> Recurrent("LSTM", hidden) (a Cell in the script), ONNX weights used as they are."""
    return _recurrent(op, cx, "LSTM")


@emits("onnx.GRU", since=7)
def gru(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.GRU (both linear_before_reset values) -> Recurrent("GRU", hidden) (a Cell in the script)."""
    return _recurrent(op, cx, "GRU")


@emits("onnx.RNN", since=7)
def rnn(op: Op, cx: EmitContext) -> tuple[str, ...]:
    """onnx.RNN (tanh) -> Recurrent("RNN", hidden) (a Cell in the script)."""
    return _recurrent(op, cx, "RNN")
