"""The MindConverter guide's steps 2-4: its PyTorch snippets converted into its MindSpore form.

The inputs are the guide's PyTorch code as printed ("Practice Guidance", steps 2, 3 and 4); the
assertions are the MindSpore APIs and structure of the guide's own converted code next to them.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from mindconverter.migrate.driver import migrate_source
from tests.migrate.rewrite_helpers import assert_comments_kept

STEP2 = """\
from torch.utils.data import Dataset, DataLoader
from torchvision import transforms

class CustomDataset(Dataset):
    def __init__(self, *args, **kwargs):
        self.records = [...]
        self.labels = [...]
        # Define data augmentation.
        self.transform = transforms.Compose([
            transforms.ToTensor(),
            transforms.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        ])
    def __len__(self):
        return len(self.labels)
    def __getitem__(self, idx):
        # Execute data augmentation.
        data = self.transform(self.records[idx])
        return data, self.labels[idx]

dataset = CustomDataset(*args, **kwargs)
data_loader = DataLoader(dataset, batch_size=BATCH_SIZE)
"""

STEP3 = """\
import torch

# Replace the following classpath according to the actual situation.
from customized.path.to.pytorch.model import PyTorchNetwork

# Create a instance of network model.
network = PyTorchNetwork()

# Define optimizer and learning rate.
optimizer = torch.optim.SGD(network.parameters(), lr=LEARNING_RATE)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=DECAY_RATE)

# Launch the model training.
for i in range(EPOCH_SIZE):
    for data, label in data_loader:
        optimizer.zero_grad()
        output = network(data)
        loss = loss_fn(output, label)
        loss.backward()
        optimizer.step()
    scheduler.step()
"""

STEP4 = """\
import torch

# Replace the following classpath according to the actual situation.
from customized.path.to.pytorch.model import PyTorchNetwork

network = PyTorchNetwork()
param_dict = torch.load('/path/to/weights.path')
network.load_state_dict(param_dict)


for data, label in data_loader:
    output = network(data)
    loss = loss_fn(output, label)
    accuracy = metric_fn(output, label)
    print(accuracy)
"""


def _calls(code: str) -> list[str]:
    """Dotted names of every call in the code, in order."""
    return [ast.unparse(n.func) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]


def test_step2_dataset_becomes_generator_source_and_batched_generator_dataset():
    r = migrate_source(STEP2)
    # the guide: `class CustomGenerator:` ... `GeneratorDataset(generator, column_names=['data', 'label']).batch(BATCH_SIZE)`
    assert "class CustomDataset:\n" in r.code
    assert "return data, self.labels[idx]" in r.code
    assert (
        "data_loader = ds.GeneratorDataset(dataset, column_names=['data', 'label'], shuffle=False).batch(BATCH_SIZE)"
        in r.code
    )
    assert "import mindspore.dataset as ds" in r.code and "torch.utils.data" not in r.code
    assert_comments_kept(STEP2, r.code)


def test_step3_training_becomes_schedule_optimizer_and_train_one_step_cell():
    r = migrate_source(STEP3)
    code = r.code
    # the guide: scheduler = nn.ExponentialDecayLR(LEARNING_RATE, decay_rate=DECAY_RATE, decay_steps=1) before the optimizer
    assert (
        "scheduler = nn.ExponentialDecayLR(LEARNING_RATE, decay_rate=DECAY_RATE, decay_steps=len(data_loader), is_stair=True)"
        in code
    )
    assert re.search(r"optimizer = \S*SGD\(network\.trainable_params\(\), (lr|learning_rate)=scheduler\)", code)
    # the guide's low-level API: WithLossCell + TrainOneStepCell + set_train, built once before the loops
    assert code.index("net_with_loss = nn.WithLossCell(network, loss_fn)") < code.index("for i in range(EPOCH_SIZE):")
    assert "train_network = nn.TrainOneStepCell(net_with_loss, optimizer)\ntrain_network.set_train()\n" in code
    assert "        loss = train_network(data, label)\n" in code
    for gone in ("zero_grad", "backward", ".step()", "ExponentialLR"):
        assert gone not in code
    assert_comments_kept(STEP3, code)
    assert {f.api for f in r.findings if f.converted} >= {
        "torch.optim.lr_scheduler.ExponentialLR", "torch.Tensor.backward", "torch.optim.Optimizer.step",
        "torch.optim.Optimizer.zero_grad", "torch.nn.Module.parameters",
    }  # fmt: skip


def test_step4_evaluation_loads_a_checkpoint_into_the_network():
    r = migrate_source(STEP4)
    code = r.code
    # the guide: param_dict = mindspore.load_checkpoint(...); mindspore.load_param_into_net(network, param_dict)
    assert (
        "param_dict = ms.load_checkpoint('/path/to/weights.path')\nms.load_param_into_net(network, param_dict)\n"
        in code
    )
    assert "for data, label in data_loader:\n    output = network(data)\n" in code
    assert not re.search(r"\btorch\b", code)
    assert _calls(code)[:3] == ["PyTorchNetwork", "ms.load_checkpoint", "ms.load_param_into_net"]
    assert_comments_kept(STEP4, code)


# The three snippets completed into one runnable script: a tiny network, synthetic data, a metric.
COMPLETED = (
    """\
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, DataLoader

BATCH_SIZE, LEARNING_RATE, DECAY_RATE, EPOCH_SIZE = 8, 0.5, 0.9, 4


class CustomDataset(Dataset):
    def __init__(self, size):
        rng = np.random.default_rng(0)
        self.records = rng.standard_normal((size, 4)).astype(np.float32)
        self.labels = (self.records[:, 0] + self.records[:, 1] > 0).astype(np.int64)
    def __len__(self):
        return len(self.labels)
    def __getitem__(self, idx):
        data = self.records[idx]
        return data, torch.tensor(self.labels[idx], dtype=torch.long)


class PyTorchNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 2)
    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def metric_fn(output, label):
    return (output.argmax(1) == label).float().mean().item()


loss_fn = nn.CrossEntropyLoss()
dataset = CustomDataset(64)
data_loader = DataLoader(dataset, batch_size=BATCH_SIZE)
"""
    + STEP3.split("PyTorchNetwork\n", 1)[1]
    + "\ntorch.save(network.state_dict(), 'weights.pth')\n"
    + STEP4.split("PyTorchNetwork\n", 1)[1].replace("/path/to/weights.path", "weights.pth")
)


def test_completed_guide_script_trains_like_torch_and_evaluates(tmp_path, capsys):
    from mindconverter.migrate.check import compare_training

    torch_dir, ms_dir = tmp_path / "torch", tmp_path / "mindspore"
    torch_dir.mkdir()
    ms_dir.mkdir()
    (torch_dir / "train.py").write_text(COMPLETED)
    r = migrate_source(COMPLETED, path=str(torch_dir / "train.py"))
    (ms_dir / "train.py").write_text(r.code)
    assert (
        "nn.TrainOneStepCell(net_with_loss, optimizer)" in r.code
        and "ms.save_checkpoint(network, 'weights.ckpt')" in r.code
    )
    # more steps than the script runs: both scripts run to the end, step 4's evaluation included
    check = compare_training(torch_dir, ms_dir, steps=10_000)
    assert len(check.ms_losses) == len(check.torch_losses) == 4 * 8
    assert check.first_step_close(rtol=1e-4), check.summary()
    assert np.mean(check.ms_losses[-8:]) < 0.7 * np.mean(check.ms_losses[:8])  # it learns
    printed = [float(x) for x in capsys.readouterr().out.split()]
    assert len(printed) == 2 * 8 and np.mean(printed[8:]) > 0.7  # torch's then MindSpore's accuracies
