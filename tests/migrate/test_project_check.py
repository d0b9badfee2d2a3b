"""mindconverter.migrate.check: torch and MindSpore training runs compared from the same weights."""

from __future__ import annotations

import numpy as np

from mindconverter.migrate.check import compare_training, torch_key

TORCH_TRAIN = """\
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x))


rng = np.random.default_rng(0)
x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=8, shuffle=True)
net = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
for epoch in range(2):
    for data, label in loader:
        optimizer.zero_grad()
        loss = criterion(net(data), label)
        loss.backward()
        optimizer.step()
"""

# what the conversion writes, spelled out here so that the checker is tested on its own
MS_TRAIN = """\
import numpy as np
import mindspore as ms
import mindspore.dataset as ds
from mindspore import nn


class Net(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(4, 3)
        self.bn = nn.BatchNorm1d(3, momentum=0.9)

    def construct(self, x):
        return self.bn(self.fc(x))


rng = np.random.default_rng(0)
x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32).astype(np.int32)
loader = ds.NumpySlicesDataset((x, y), column_names=["data", "label"], shuffle=True).batch(8)
net = Net()
criterion = nn.CrossEntropyLoss()
optimizer = nn.SGD(net.trainable_params(), learning_rate=0.1, momentum=0.9)
train_network = nn.TrainOneStepCell(nn.WithLossCell(net, criterion), optimizer)
train_network.set_train()
for epoch in range(2):
    for data, label in loader.create_tuple_iterator():
        loss = train_network(data, label)
"""


def test_torch_names_of_mindspore_parameters():
    keys = {
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    }
    assert torch_key("fc.weight", keys) == "fc.weight"
    assert [torch_key(f"bn.{n}", keys) for n in ("gamma", "beta", "moving_mean", "moving_variance")] == [
        "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
    ]  # fmt: skip
    assert torch_key("head.gamma", keys) is None


def test_compare_training_copies_weights_and_records_both_trajectories(tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "ms").mkdir()
    (tmp_path / "torch" / "train.py").write_text(TORCH_TRAIN)
    (tmp_path / "ms" / "train.py").write_text(MS_TRAIN)
    check = compare_training(tmp_path / "torch", tmp_path / "ms", steps=5)
    assert sorted(check.copied) == [
        ("bn.beta", "bn.bias"), ("bn.gamma", "bn.weight"), ("bn.moving_mean", "bn.running_mean"),
        ("bn.moving_variance", "bn.running_var"), ("fc.bias", "fc.bias"), ("fc.weight", "fc.weight"),
    ]  # fmt: skip
    assert len(check.torch_losses) == len(check.ms_losses) == 5
    np.testing.assert_allclose(check.ms_losses, check.torch_losses, rtol=1e-4)
    assert check.first_step_close()
