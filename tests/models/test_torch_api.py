"""pytorch2mindspore: a live torch module converts with its class names, its Dropout layers and parity with torch."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from helpers import check_generated_script

torch = pytest.importorskip("torch")

from test_readable_bert import SEQ, VOCAB, TinyBert  # noqa: E402 - after the torch skip
from torch import nn  # noqa: E402
from torch_models import resnet_style  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402
from mindconverter.errors import ArgumentError, ModelLoadError  # noqa: E402


def _classes(code: str) -> list[str]:
    return re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)


def test_bert_keeps_class_names_dropout_and_parity_with_torch(tmp_path):
    torch.manual_seed(0)
    model = TinyBert()  # in training mode, as a user's model often is
    ids = torch.randint(0, VOCAB, (2, SEQ))
    result = pytorch2mindspore(model, ids, tmp_path, check_mode="both")
    code = result.script.read_text()
    assert _classes(code) == ["ScaledDotProductAttention", "SelfAttention", "EncoderLayer", "MindSporeModel"], code
    assert "nn.SequentialCell(*[EncoderLayer() for _ in range(2)])" in code, code
    assert code.count("nn.Dropout(p=0.1)") == 1, code  # one member in the layer class, called twice as in the source
    assert code.count("self.drop(") == 2 and "drop_1" not in code, code
    assert "ScaledDotProductAttention(4, 0.3535534, dropout=0.1)" in code, code  # the attention probabilities
    assert "def construct(self, ids):" in code, code  # forward()'s parameter name
    assert "from the torch module TinyBert" in code and "Parity with torch (graph/pynative): passed" in code
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}
    assert result.report["source"]["format"] == "torch"
    # The module is left as it was: still training, its Dropout layers unpatched.
    assert model.training
    assert all("forward" not in vars(m) for m in model.modules())
    check_generated_script(result.script)


def test_parity_is_checked_against_the_torch_module_on_the_dummy_inputs(tmp_path):
    model, shape = resnet_style()
    x = torch.randn(*shape)
    result = pytorch2mindspore(model, x, tmp_path)
    net = result.load()
    from mindspore import Tensor

    got = net(Tensor(x.numpy())).asnumpy()
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    code = result.script.read_text()
    assert _classes(code) == ["BasicBlock", "MindSporeModel"], code
    assert "self.layer1 = nn.SequentialCell(*[BasicBlock(8, 8) for _ in range(2)])" in code, code
    import mindspore

    keys = set(mindspore.load_checkpoint(str(result.checkpoint)))
    assert {"conv1.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.moving_mean", "fc.bias"} <= keys, keys


class _Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 64)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))


def test_restored_dropout_drops_in_training_and_is_the_identity_in_inference(tmp_path):
    from mindspore import Tensor

    torch.manual_seed(0)
    model = _Head().eval()
    x = torch.randn(4, 16)
    result = pytorch2mindspore(model, x, tmp_path)
    code = result.script.read_text()
    assert "self.drop = nn.Dropout()" in code, code  # p=0.5 is the default
    net = result.load()
    with torch.no_grad():
        expected = model(x).numpy()
    net.set_train(False)
    np.testing.assert_allclose(net(Tensor(x.numpy())).asnumpy(), expected, rtol=1e-3, atol=1e-4)
    net.set_train(True)
    trained = net(Tensor(x.numpy())).asnumpy()
    zeros = float(np.mean(trained == 0))
    assert 0.35 < zeros < 0.65, zeros  # p=0.5 of 256 values dropped
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], expected[kept] * 2, rtol=1e-3, atol=1e-4)  # scaled by 1/(1-p)


def test_channel_dropout_is_reported_as_not_kept(tmp_path, caplog):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout2d(0.2)).eval()
    with caplog.at_level(logging.WARNING, logger="mindconverter"):
        result = pytorch2mindspore(model, torch.randn(1, 3, 4, 4), tmp_path, check="off")
    assert "Dropout2d at '1' is not kept" in caplog.text
    assert "Dropout" not in result.script.read_text()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ArgumentError, match="must be a torch.nn.Module"):
        pytorch2mindspore(lambda x: x, torch.randn(1), tmp_path)
    with pytest.raises(ArgumentError, match=r"dummy_inputs\[0\] \(forward\(\)'s 'x'\) is a list"):
        pytorch2mindspore(_Head(), [[1.0] * 16], tmp_path)

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch in forward")

    with pytest.raises(ModelLoadError, match="shape mismatch in forward"):
        pytorch2mindspore(Broken(), torch.randn(2), tmp_path)


def test_dynamic_rule_names_batch_and_sequence_axes():
    from mindconverter.frontend.torch import dynamic_axes_of

    ids, image, frames = torch.zeros(2, 7, dtype=torch.long), torch.zeros(2, 3, 8, 8), torch.zeros(2, 5, 4)
    axes = dynamic_axes_of([ids, image, frames, torch.zeros(2, 4)], ["ids", "image", "frames", "x"], None, True)
    assert axes == {"ids": {0: "batch", 1: "sequence"}, "image": {0: "batch"}, "frames": {0: "batch", 1: "sequence"},
                    "x": {0: "batch"}}
    assert dynamic_axes_of([ids], ["ids"], {"ids": [0, -1]}, False) == {"ids": {0: "batch", 1: "ids_1"}}
    assert dynamic_axes_of([ids], ["ids"], None, False) == {}
    with pytest.raises(ArgumentError, match="'tokens', which is not an input"):
        dynamic_axes_of([ids], ["ids"], {"tokens": {0: "batch"}}, False)
    with pytest.raises(ArgumentError, match="rank 2, no axis 2"):
        dynamic_axes_of([ids], ["ids"], {"ids": {2: "time"}}, False)


def test_dynamic_axes_of_different_sizes_under_one_name_are_refused(tmp_path):
    class Add(nn.Module):
        def forward(self, a, b):
            return a.sum(1) + b.sum(1)

    with pytest.raises(ArgumentError, match="'batch' is 2 in one input and 3 in 'b'"):
        pytorch2mindspore(Add(), (torch.zeros(2, 4), torch.zeros(3, 4)), tmp_path, dynamic=True)


def test_transformers_bert_dynamic_matches_torch_at_two_batches_and_two_sequences(tmp_path):
    """One dynamic=True conversion of transformers' BertModel; the check runs the torch module at each size."""
    pytest.importorskip("transformers")
    import dynamic_models as dm

    model = dm.tiny_bert()
    ids = torch.randint(0, dm.VOCAB, (2, 16), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 16, dtype=torch.long)
    result = pytorch2mindspore(model, (ids, mask), tmp_path, dynamic=True, check_mode="both", mindir=True)
    report = result.report
    assert [i["shape"] for i in report["inputs"]] == [["?batch", "?sequence"]] * 2
    # The ModelOutput is flattened, named by its keys; its dims stay symbolic.
    assert [(o["name"], o["shape"]) for o in report["outputs"]] == [
        ("last_hidden_state", ["?batch", "?sequence", dm.HIDDEN]), ("pooler_output", ["?batch", dm.HIDDEN])]
    sizes = report["check_sizes"]
    assert sizes["symbols"]["sequence"]["source"] == "export size"  # 16, from the dummy inputs
    results = sizes["results"]
    assert sorted((r["sizes"]["batch"], r["sizes"]["sequence"]) for r in results) == [(1, 9), (1, 16), (3, 9), (3, 16)]
    assert all(r["passed"] and r["modes"] == ["pynative", "graph"] for r in results), results
    assert report["source"]["format"] == "torch" and result.parity_passed
    assert "= ScaledDotProductAttention(2, 0.25" in result.script.read_text()  # fused, though the head shapes are run-time
    assert "forward" not in vars(model)
    # The MINDIR keeps both axes dynamic: one file serves a size the check did not try.
    assert report["mindir"]["dynamic"] and report["mindir"]["inputs"][0]["shape"] == ["?batch", "?sequence"]
    ids, mask = dm.token_inputs(2, 11)
    with torch.no_grad():
        expected = model(torch.from_numpy(ids), torch.from_numpy(mask))
    got = _graph_cell_outputs(result.mindir, ids, mask)
    np.testing.assert_allclose(got[0], expected.last_hidden_state.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(got[1], expected.pooler_output.numpy(), rtol=1e-3, atol=1e-4)


def _graph_cell_outputs(path, *arrays):
    import mindspore as ms
    from mindspore import nn as msnn

    out = msnn.GraphCell(ms.load(str(path)))(*[ms.Tensor(a) for a in arrays])
    return [o.asnumpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


def test_mindir_with_dynamic_batch_loads_with_graph_cell_and_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 4)).eval()
    result = pytorch2mindspore(model, torch.randn(2, 16), tmp_path, name="Mlp", dynamic=True, mindir=True)
    assert result.mindir == tmp_path / "Mlp.mindir" and result.mindir.is_file()
    entry = result.report["mindir"]
    assert entry["dynamic"] and entry["inputs"] == [{"name": "input", "shape": ["?batch", 16]}], entry
    assert entry["max_abs_err"] < 1e-5 and entry["checked_at"] == {"batch": 1}
    assert "[MINDIR] Mlp.mindir: dynamic inputs input ['?batch', 16]" in result.report_txt.read_text()
    for batch in (1, 5):  # one file, several batch sizes
        x = torch.randn(batch, 16)
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = _graph_cell_outputs(result.mindir, x.numpy())
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_static_mindir_and_none_without_the_flag(tmp_path):
    model = _Head().eval()
    x = torch.randn(4, 16)
    result = pytorch2mindspore(model, x, tmp_path / "a", mindir=True)
    assert result.report["mindir"]["dynamic"] is False
    assert result.report["mindir"]["inputs"] == [{"name": "x", "shape": [4, 16]}]
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_graph_cell_outputs(result.mindir, x.numpy())[0], expected, rtol=1e-3, atol=1e-4)
    plain = pytorch2mindspore(model, x, tmp_path / "b")
    assert plain.mindir is None and "mindir" not in plain.report and not list((tmp_path / "b").glob("*.mindir"))


def test_non_tensor_forward_arguments_and_outputs_get_the_guides_remedy(tmp_path):
    class Scaled(nn.Module):
        def forward(self, data, scale):
            return data * scale

    with pytest.raises(ArgumentError, match=r"dummy_inputs\[1\] \(forward\(\)'s 'scale'\) is a float") as info:
        pytorch2mindspore(Scaled(), (torch.randn(2), 2.0), tmp_path)
    assert "Rectify parameters of forward function definition" in info.value.fix

    class WithLoss(nn.Module):
        def forward(self, data):
            return data + 1, 0.5

    with pytest.raises(ArgumentError, match=r"returns a float as '1', not a tensor"):
        pytorch2mindspore(WithLoss(), torch.randn(2), tmp_path)


def test_dict_outputs_are_flattened_with_their_names(tmp_path):
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            y = self.fc(x)
            return {"logits": y, "extra": None, "pair": (y.relu(), y.sum(-1))}

    result = pytorch2mindspore(Heads().eval(), torch.randn(2, 4), tmp_path)
    assert [o["name"] for o in result.report["outputs"]] == ["logits", "pair_0", "pair_1"]
    assert result.parity_passed and len(result.parity) == 3


def test_dict_dummy_inputs_are_passed_by_keyword(tmp_path):
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x, past=None, mask=None):  # `mask` is not the second positional parameter
            return self.fc(x) * mask

    model = Gated().eval()
    inputs = {"x": torch.randn(2, 4), "mask": torch.ones(2, 4)}
    result = pytorch2mindspore(model, inputs, tmp_path)
    assert [i["name"] for i in result.report["inputs"]] == ["x", "mask"] and result.parity_passed
    assert "def construct(self, x, mask):" in result.script.read_text()
    with pytest.raises(ArgumentError, match="'maks' is not a parameter of Gated.forward"):
        pytorch2mindspore(model, {"x": torch.randn(2, 4), "maks": torch.ones(2, 4)}, tmp_path / "b")


class _SpatialTransformer(nn.Module):
    """F.affine_grid exports only from opset 20 (torch's exporter writes 17 by default)."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Linear(3 * 8 * 8, 6)

    def forward(self, x):
        theta = self.loc(x.flatten(1)).view(-1, 2, 3)
        grid = nn.functional.affine_grid(theta, list(x.size()), align_corners=False)
        return nn.functional.grid_sample(x, grid, align_corners=False)


def test_an_operator_that_needs_a_newer_opset_exports_at_the_opset_torch_names(tmp_path):
    torch.manual_seed(0)
    result = pytorch2mindspore(_SpatialTransformer().eval(), torch.randn(2, 3, 8, 8), tmp_path, check_mode="both")
    assert result.parity_passed and {p["mode"] for p in result.parity} == {"pynative", "graph"}, result.parity
    code = result.script.read_text()
    assert "ops.grid_sample(" in code and "self.loc = nn.Dense(192, 6)" in code, code
