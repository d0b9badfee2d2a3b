"""Buffers do not train: a torch module's buffers (a positional table), constants folded from buffers and from no
weight at all (a recurrent layer's zero initial state) and frozen parameters become Parameters with
requires_grad=False; every parameter that trains in torch trains in MindSpore, under its state_dict name."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.register_buffer("pe", torch.randn(16, 8))
        self.scale = nn.Parameter(torch.full((8,), 0.5), requires_grad=False)  # frozen
        self.rnn = nn.GRU(8, 6, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, ids):
        x = (self.embedding(ids) + self.pe[: ids.shape[1]]) * self.scale
        out, _ = self.rnn(x)
        return self.fc(out)


def test_only_the_parameters_that_train_in_torch_train_in_mindspore(tmp_path):
    torch.manual_seed(0)
    model = Tagger().eval()
    ids = torch.randint(0, 20, (2, 5), generator=torch.Generator().manual_seed(0))
    result = pytorch2mindspore(model, (ids,), tmp_path, check_mode="pynative")
    assert result.parity_passed
    rows = [w for entries in json.loads(result.weight_map.read_text()).values() for w in entries]
    source = {w["converted_weight"]["name"]: w["source_weight"]["name"] for w in rows}
    net = result.load()
    trains = {source.get(p.name, p.name) for p in net.trainable_params()}
    wanted = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trains == wanted, (trains, wanted)
    fixed = {source.get(p.name, p.name) for p in net.get_parameters() if not p.requires_grad}
    assert {"pe", "scale"} <= fixed, fixed


def test_parameters_in_no_checkpoint_tensor_are_reported(tmp_path):
    """weight_norm's g and v fold into one convolution weight (named after v), and an unused layer is exported with
    nothing: the report names both parameters, instead of the weight map silently leaving them out."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(2, 3, 3))
            self.unused = nn.Linear(3, 3, bias=False)

        def forward(self, x):
            return self.conv(x)

    torch.manual_seed(0)
    result = pytorch2mindspore(Net().eval(), (torch.randn(1, 2, 8),), tmp_path, check_mode="pynative")
    assert result.parity_passed
    assert result.report["unmapped_parameters"] == ["conv.parametrizations.weight.original0", "unused.weight"]
    text = (tmp_path / "report_of_Net.txt").read_text()
    assert "[Warning] 2 source parameter(s) are in no checkpoint tensor under their own name" in text, text
