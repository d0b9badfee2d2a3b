"""pytorch2mindspore and forward() signatures: keyword and **kwargs inputs, *args, structured outputs, clear refusals."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402
from mindconverter.errors import ArgumentError  # noqa: E402
from mindconverter.frontend.torch import flatten_outputs  # noqa: E402


@dataclasses.dataclass
class Prediction:
    logits: torch.Tensor
    hidden: tuple
    loss: torch.Tensor | None = None


class Pair(NamedTuple):
    scores: torch.Tensor
    total: torch.Tensor


class Structured(nn.Module):
    """forward(x, **kwargs) returning a dataclass holding a namedtuple: transformers' habits without transformers."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x, **kwargs):
        h = self.fc(x) * kwargs["mask"]
        return Prediction(self.head(h), (h, Pair(h.relu(), h.sum(-1))))


def test_kwargs_forward_and_dataclass_outputs_are_named_by_their_fields(tmp_path):
    torch.manual_seed(0)
    inputs = {"x": torch.randn(2, 4), "mask": torch.ones(2, 3)}
    result = pytorch2mindspore(Structured().eval(), inputs, tmp_path, check_mode="both")
    names = [o["name"] for o in result.report["outputs"]]
    assert names == ["logits", "hidden_0", "hidden_1_scores", "hidden_1_total"]
    code = result.script.read_text()
    assert "def construct(self, x, mask):" in code and "return logits, hidden_0, hidden_1_scores, hidden_1_total" in code
    assert result.parity_passed and len(result.parity) == 2 * len(names)


def test_star_args_forward_takes_its_inputs_by_position(tmp_path):
    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, *inputs):
            return self.fc(sum(inputs))

    result = pytorch2mindspore(Sum().eval(), (torch.randn(2, 4), torch.randn(2, 4)), tmp_path)
    assert [i["name"] for i in result.report["inputs"]] == ["input_0", "input_1"] and result.parity_passed


def test_flatten_outputs_names_entries_and_skips_none():
    t = torch.zeros(1)
    assert [n for n, _ in flatten_outputs(Prediction(t, (t, Pair(t, t))))] == [
        "logits", "hidden_0", "hidden_1_scores", "hidden_1_total"]
    assert [n for n, _ in flatten_outputs({"a": [t, None], "b": t})] == ["a_0", "b"]
    assert flatten_outputs(t) == [("", t)]


class WithLabel(nn.Module):
    """The guide's example: `label` is not a tensor of the network, it feeds the loss."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, data, label):
        return self.fc(data), nn.functional.cross_entropy(self.fc(data), label)


def test_inputs_that_do_not_fit_forward_get_the_guides_remedy(tmp_path):
    with pytest.raises(ArgumentError, match=r"do not fit WithLabel.forward\(data, label\).*missing a required "
                                            r"argument: 'label'") as info:
        pytorch2mindspore(WithLabel(), torch.randn(2, 4), tmp_path)
    assert "give a tensor for 'label' as well" in info.value.fix
    assert "Rectify parameters of forward function definition" in info.value.fix
    with pytest.raises(ArgumentError, match="too many positional arguments"):
        pytorch2mindspore(WithLabel(), (torch.randn(2, 4), torch.zeros(2), torch.zeros(2)), tmp_path)
    with pytest.raises(ArgumentError, match=r"dummy_inputs\['label'\] \(forward\(\)'s 'label'\) is a list") as info:
        pytorch2mindspore(WithLabel(), {"data": torch.randn(2, 4), "label": [0, 1]}, tmp_path)
    assert "move other parameters out of forward()" in info.value.fix
    assert not list(tmp_path.iterdir())  # refused before anything is written
