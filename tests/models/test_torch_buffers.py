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
