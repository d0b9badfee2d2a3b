"""pytorch2mindspore keeps functional dropout: `F.dropout(x, p, self.training)` becomes nn.Dropout(p=p) at its place."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402, N812 - torch's own spelling
from torch import nn  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402
from mindconverter.frontend.torch_dropout import DropoutCall, kept_rates, training_calls  # noqa: E402


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 64)
        self.norm = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 4)

    def forward(self, x):
        h = F.dropout(torch.relu(self.norm(self.fc1(x))), 0.3, self.training)
        return self.fc2(nn.functional.dropout(h, p=0.2, training=self.training))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(torch.dropout(self.block(x), 0.1, self.training))


def _members(code: str) -> dict[str, str]:
    return dict(re.findall(r"self\.(\w+) = (nn\.Dropout\([^)]*\))", code))


def test_functional_dropout_becomes_nn_dropout_at_its_place_with_parity_and_training(tmp_path):
    import mindspore as ms
    from mindspore import nn as msnn

    torch.manual_seed(0)
    model = Net().train()  # a model in training mode: the export runs it in eval and restores the flag
    norm = model.block.norm
    norm.running_mean.uniform_(-0.5, 0.5)
    stats = norm.running_mean.clone(), norm.running_var.clone(), int(norm.num_batches_tracked)
    x = torch.randn(4, 8)
    result = pytorch2mindspore(model, x, tmp_path, check_mode="both")
    code = result.script.read_text()
    # Each call is a member with its p, applied where the source called it.
    block, top = code.split("class MindSporeModel")
    assert sorted(_members(block).values()) == ["nn.Dropout(p=0.2)", "nn.Dropout(p=0.3)"], code
    assert list(_members(top).values()) == ["nn.Dropout(p=0.1)"], code
    first = next(n for n, v in _members(block).items() if v == "nn.Dropout(p=0.3)")
    second = next(n for n, v in _members(block).items() if v == "nn.Dropout(p=0.2)")
    assert f"self.fc2(self.{second}(self.{first}(ops.relu(self.norm(self.fc1(x))))))" in code, code
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}
    # Nothing of the module changed: flags, BatchNorm statistics, torch's functions.
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(norm.running_mean, stats[0]) and torch.equal(norm.running_var, stats[1])
    assert int(norm.num_batches_tracked) == stats[2]
    assert F.dropout.__module__ == "torch.nn.functional" and torch.dropout.__name__ == "dropout"

    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = result.load()
    net.set_train(True)
    drop = getattr(net.block, first)
    hidden = ms.Tensor(np.ones((4, 64), np.float32))
    assert 0.15 < float((drop(hidden) == 0).astype(ms.float32).mean()) < 0.45  # p=0.3 of 256 values
    loss_net = msnn.WithLossCell(net, msnn.MSELoss())
    step = msnn.TrainOneStepCell(loss_net, msnn.SGD(net.trainable_params(), learning_rate=0.1))
    feed, target = ms.Tensor(x.numpy()), ms.Tensor(np.zeros((4, 2), np.float32))
    losses = [float(step(feed, target).asnumpy()) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] != losses[0], losses


class TrainingOnlyRate(nn.Module):
    """transformers' attention passes `p=0.0 if not self.training else self.dropout`: the p is the training one."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.attention_dropout = 0.25

    def forward(self, x):
        probs = torch.softmax(self.fc(x), -1)
        probs = F.dropout(probs, p=0.0 if not self.training else self.attention_dropout, training=self.training)
        return F.dropout(probs * 2, 0.4, training=False)  # never drops: not a dropout


def test_a_call_keeps_the_p_it_gets_in_training_and_calls_that_never_drop_stay_out(tmp_path):
    result = pytorch2mindspore(TrainingOnlyRate().eval(), torch.randn(2, 8), tmp_path)
    code = result.script.read_text()
    assert list(_members(code).values()) == ["nn.Dropout(p=0.25)"], code
    assert result.parity_passed


class TrainingOnlyCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if self.training:  # a call made only in training: it pairs with no eval call and shifts nothing
            x = F.dropout(x, 0.5)
        probs = torch.softmax(self.fc(x), -1)
        return F.dropout(probs, p=0.0 if not self.training else 0.25, training=self.training)


def test_calls_are_paired_by_call_site_so_a_training_only_call_shifts_nothing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mindconverter"):
        result = pytorch2mindspore(TrainingOnlyCall().eval(), torch.randn(2, 8), tmp_path)
    assert list(_members(result.script.read_text()).values()) == ["nn.Dropout(p=0.25)"]
    assert "functional dropout" not in caplog.text and result.parity_passed


def test_kept_rates_pair_the_calls_of_both_modes_by_site():
    a, b, c = ("m.py", 1), ("m.py", 2), ("m.py", 3)
    train = [DropoutCall(0.5, True, a), DropoutCall(0.1, True, b), DropoutCall(0.4, False, c), DropoutCall(0.2, True, b)]
    evals = [DropoutCall(0.0, False, b), DropoutCall(0.4, False, c), DropoutCall(0.0, False, b)]
    assert kept_rates(train, evals) == [0.1, None, 0.2]  # `a` is made only in training; `c` never drops
    # Without a training forward (or for an eval call with no partner): calls with training=False keep their eval p.
    assert kept_rates(None, [DropoutCall(0.0, False, b), DropoutCall(0.4, False, c)]) == [None, 0.4]
    assert kept_rates(train[:1], [DropoutCall(0.3, False, b), DropoutCall(0.3, True, b)]) == [0.3, None]


def test_the_training_forward_records_the_calls_and_changes_nothing():
    torch.manual_seed(0)
    model = Net().eval()
    model.block.norm.running_var.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    calls = training_calls(model, lambda: model(torch.randn(4, 8)))
    assert [(c.p, c.training) for c in calls] == [(0.3, True), (0.2, True), (0.1, True)]
    assert [c.site[0] for c in calls] == [__file__] * 3 and len({c.site for c in calls}) == 3
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # the forward's randn ran inside fork_rng
    assert F.dropout.__module__ == "torch.nn.functional" and torch.dropout.__name__ == "dropout"

    class Fails(nn.Module):
        def forward(self, x):
            if self.training:
                raise RuntimeError("labels are needed in training")
            return F.dropout(x, 0.5, self.training)

    failing = Fails()
    assert training_calls(failing, lambda: failing(torch.randn(2))) is None and failing.training


class ChannelDrops(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.drop2d = nn.Dropout2d(0.3)

    def forward(self, x):
        x = self.drop2d(self.conv(x))
        return F.dropout2d(x, 0.2, self.training) + F.alpha_dropout(x, 0.1, self.training)


def test_channel_and_alpha_dropouts_are_named_as_not_kept(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mindconverter"):
        result = pytorch2mindspore(ChannelDrops().eval(), torch.randn(1, 3, 4, 4), tmp_path, check="off")
    assert "Dropout2d at 'drop2d' is not kept" in caplog.text
    # The layer's own F.dropout2d call is not counted again.
    assert "2 functional channel/alpha dropout call(s) are not kept (F.alpha_dropout(p=0.1), F.dropout2d(p=0.2))" \
        in caplog.text, caplog.text
    assert "Dropout" not in result.script.read_text()
    assert F.dropout2d.__module__ == "torch.nn.functional" and F.alpha_dropout.__name__ == "alpha_dropout"


class SelfAttention(nn.Module):
    """A bare nn.MultiheadAttention (seq first) with attention dropout: the eval export drops it."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, dropout=0.2)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def test_multihead_attention_keeps_its_dropout_p_through_the_fusion(tmp_path):
    """torch gives F.scaled_dot_product_attention p=0 in eval: the frontend records the module's p, the fused layer
    gets it; parity holds in eval, and in training the attention drops (two forwards differ) and a step trains."""
    import mindspore as ms
    from mindspore import nn as msnn

    torch.manual_seed(0)
    x = torch.randn(5, 2, 16)
    result = pytorch2mindspore(SelfAttention().eval(), x, tmp_path, check_mode="both")
    code = result.script.read_text()
    assert "nn.MultiheadAttention(16, 2, dropout=0.2)" in code, code
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}

    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = result.load()
    net.set_train(True)
    feed = ms.Tensor(x.numpy())
    assert not np.allclose(net(feed).asnumpy(), net(feed).asnumpy())
    step = msnn.TrainOneStepCell(msnn.WithLossCell(net, msnn.MSELoss()), msnn.SGD(net.trainable_params(), 0.1))
    target = ms.Tensor(np.zeros((5, 2, 16), np.float32))
    losses = [float(step(feed, target).asnumpy()) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] != losses[0], losses



def test_the_export_records_each_multihead_attentions_path_and_p_in_the_metadata(tmp_path):
    import onnx

    from mindconverter.frontend.onnx import MHA_DROPOUT_KEY
    from mindconverter.frontend.torch import export_module

    model = nn.Sequential(SelfAttention(), nn.Linear(16, 16)).eval()
    export = export_module(model, torch.randn(5, 2, 16), tmp_path / "m.onnx")
    metadata = {p.key: p.value for p in onnx.load(str(export.path)).metadata_props}
    assert metadata[MHA_DROPOUT_KEY] == '{"0.attn": 0.2}'
    names = [n.name for n in onnx.load(str(export.path)).graph.node if n.op_type == "Softmax"]
    assert names == ["/0/attn/Softmax"], names  # the path the export's node names give the block
