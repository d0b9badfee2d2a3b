"""pytorch2mindspore's weight map names every state_dict key, also of tied weights (one tensor, several keys)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402
from mindconverter.backend.checkpoint import weight_map  # noqa: E402
from mindconverter.backend.context import WeightRef  # noqa: E402
from mindconverter.backend.generated import CheckpointEntry  # noqa: E402
from mindconverter.frontend.torch import tied_weights  # noqa: E402


class TiedLM(nn.Module):
    """GPT-2's shape of tying: the LM head's weight is the token embedding's."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.norm(self.embed(ids)))


class SharedEncoder(nn.Module):
    """T5's shape of tying: `shared` and `encoder.embed` are one module; only the second one is called."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(20, 8)
        self.encoder = nn.Module()
        self.encoder.embed = self.shared
        self.fc = nn.Linear(8, 3)

    def forward(self, ids):
        return self.fc(self.encoder.embed(ids))


def _rows(result) -> list[dict]:
    (rows,) = json.loads(result.weight_map.read_text()).values()
    return rows


def test_tied_weights_are_found_by_tensor_identity():
    assert tied_weights(TiedLM()) == [["embed.weight", "head.weight"]]
    assert tied_weights(SharedEncoder()) == [["shared.weight", "encoder.embed.weight"]]
    assert tied_weights(nn.Linear(2, 2)) == []


@pytest.mark.parametrize("module", [TiedLM, SharedEncoder])
def test_every_state_dict_key_of_tied_weights_is_in_the_weight_map(module, tmp_path):
    import mindspore as ms

    torch.manual_seed(0)
    model = module().eval()
    ids = torch.randint(0, 20, (2, 5))
    result = pytorch2mindspore(model, ids, tmp_path)
    assert result.parity_passed
    rows = _rows(result)
    sources = [r["source_weight"]["name"] for r in rows]
    assert sorted(sources) == sorted(model.state_dict()), rows
    # Every row points to a parameter of the checkpoint holding the source tensor's values.
    params = ms.load_checkpoint(str(result.checkpoint))
    state = model.state_dict()
    for row in rows:
        converted, source = row["converted_weight"]["name"], row["source_weight"]["name"]
        np.testing.assert_array_equal(params[converted].asnumpy(), state[source].numpy())
    tied = {r["source_weight"]["name"]: (r["converted_weight"]["name"], r["source_weight"].get("tied")) for r in rows}
    if module is TiedLM:  # two Cells use the tensor: each converted weight maps to its own key
        assert tied["embed.weight"] == ("embed.embedding_table", ["head.weight"])
        assert tied["head.weight"] == ("head.weight", ["embed.weight"])
    else:  # one Cell uses it: the key nothing uses is an alias of the same converted weight
        assert tied["encoder.embed.weight"][1] == ["shared.weight"]
        assert tied["shared.weight"] == (tied["encoder.embed.weight"][0], ["encoder.embed.weight"])
    assert tied["norm.weight" if module is TiedLM else "fc.weight"][1] is None


def test_weight_map_rows_of_a_tied_group():
    def entry(name, source):
        return CheckpointEntry(name, WeightRef(np.zeros((4, 2), np.float32), source, (4, 2), "Float32"))

    entries = [entry("lm_head.weight", "wte.weight"), entry("wte.embedding_table", "wte.weight"),
               entry("fc.weight", "fc.weight")]
    (rows,) = weight_map("M", entries, [["wte.weight", "lm_head.weight", "unused.weight"]]).values()
    pairs = [(r["converted_weight"]["name"], r["source_weight"]["name"], r["source_weight"].get("tied")) for r in rows]
    assert pairs == [
        ("lm_head.weight", "lm_head.weight", ["wte.weight", "unused.weight"]),
        ("wte.embedding_table", "wte.weight", ["lm_head.weight", "unused.weight"]),
        ("fc.weight", "fc.weight", None),
        ("lm_head.weight", "unused.weight", ["wte.weight", "lm_head.weight"]),
    ]
    # Without tied groups the map is as before.
    (plain,) = weight_map("M", entries).values()
    assert [r["source_weight"]["name"] for r in plain] == ["wte.weight", "wte.weight", "fc.weight"]
