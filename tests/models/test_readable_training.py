"""Converted networks train: one nn.TrainOneStepCell step changes the loss, updates BatchNorm statistics,
and every weight is a trainable Parameter (BatchNorm moving statistics aside)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import test_readable_bert as bert  # noqa: E402 - after the torch skip
import test_readable_resnet as resnet  # noqa: E402
from test_readable_resnet import convert_model  # noqa: E402


def train_steps(script, ckpt, inputs: list[np.ndarray], steps: int = 2, mode: str = "pynative"):
    """Load the converted network, train it `steps` times on a fixed random target; returns (losses, net, params before)."""
    from mindconverter.runtime_check.mindspore_run import build_network, import_mindspore

    ms = import_mindspore()
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    net, missing, unused = build_network(script, ckpt)
    assert not missing and not unused
    before = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    out = net(*[ms.Tensor(x) for x in inputs])
    target = ms.Tensor(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))
    step = ms.nn.TrainOneStepCell(ms.nn.WithLossCell(_Wrap(net), ms.nn.MSELoss()),
                                  ms.nn.Momentum(net.trainable_params(), learning_rate=0.05, momentum=0.9))
    step.set_train(True)
    losses = [float(step(*[ms.Tensor(x) for x in inputs], target).asnumpy()) for _ in range(steps)]
    return losses, net, before


class _Wrap:
    """WithLossCell calls backbone(data) with one input: a network of one input needs no wrapping."""

    def __new__(cls, net):
        return net


def _check(losses, net, before, bn: bool):
    assert losses[0] != losses[1], losses
    trainable = {p.name for p in net.trainable_params()}
    frozen = {p.name for p in net.get_parameters()} - trainable
    assert all(n.endswith(("moving_mean", "moving_variance")) for n in frozen), frozen
    changed = {p.name for p in net.get_parameters() if not np.array_equal(p.asnumpy(), before[p.name])}
    # A key bias shifts every score of a query equally, which softmax ignores: its gradient is exactly 0.
    unchanged = {n for n in trainable - changed if not n.endswith("attention.k.bias")}
    assert not unchanged, sorted(unchanged)[:5]
    if bn:
        stats = {n for n in frozen if n.endswith("moving_mean")}
        assert stats and stats <= changed, sorted(stats - changed)[:5]


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_converted_cnn_trains_and_updates_batchnorm_statistics(tmp_path, mode):
    model = resnet.export(resnet.build_resnet((1, 1, 1, 1), width=4), (2, 3, 32, 32), tmp_path / "resnet.onnx")
    _, script, ckpt = convert_model(model, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    _check(*train_steps(script, ckpt, [x], mode=mode), bn=True)


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_converted_transformer_block_trains(tmp_path, mode):
    model = bert.export(bert.build_bert(), tmp_path / "tinybert.onnx")
    _, script, ckpt = convert_model(model, tmp_path)
    ids = np.random.default_rng(0).integers(0, bert.VOCAB, (2, bert.SEQ)).astype(np.int64)
    _check(*train_steps(script, ckpt, [ids], mode=mode), bn=False)
