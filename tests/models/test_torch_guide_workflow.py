"""The MindConverter guide's workflow, run as written against pytorch2mindspore's output.

Step 1 ("Migrate the model definition"): import the generated class, `load_checkpoint` +
`load_param_into_net`, compare with the benchmark output, export a MINDIR with `mindspore.export`,
load it back with `nn.GraphCell` and compare again. FAQ "Mix the MindSpore model with the original
training scripts": a torch DataLoader feeds the converted network, the loss and accuracy are
computed in torch through numpy. The classifier is converted with a dynamic batch, so the
DataLoader's smaller last batch runs on the same network.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from mindconverter import pytorch2mindspore  # noqa: E402

FEATURES, CLASSES = 12, 5


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, 32), nn.LayerNorm(32), nn.GELU(), nn.Dropout(0.1))
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        return self.head(self.encoder(x))


def _import(script, class_name):
    spec = importlib.util.spec_from_file_location(f"guide_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    torch.manual_seed(0)
    model = Classifier().eval()
    folder = tmp_path_factory.mktemp("guide")
    result = pytorch2mindspore(model, torch.randn(4, FEATURES), folder / "out", dynamic=True)
    assert result.parity_passed
    return model, result, folder


def test_step_1_validate_the_migration_and_generate_the_mindir(converted):
    import mindspore
    from mindspore import nn as msnn

    model, result, folder = converted
    np.save(folder / "input.npy", np.random.default_rng(0).standard_normal((3, FEATURES)).astype(np.float32))
    with torch.no_grad():
        np.save(folder / "output.npy", model(torch.from_numpy(np.load(folder / "input.npy"))).numpy())

    # As the guide writes it.
    network = _import(result.script, "MindSporeModel")()
    param_dict = mindspore.load_checkpoint(str(result.checkpoint))
    not_loaded = mindspore.load_param_into_net(network, param_dict)
    assert not any(not_loaded), not_loaded
    network.set_train(False)
    input_data = np.load(folder / "input.npy")
    output_benchmark = np.load(folder / "output.npy")
    output_data = network(mindspore.Tensor(input_data))
    np.testing.assert_allclose(output_data.asnumpy(), output_benchmark, rtol=1e-3, atol=1e-4)
    mindspore.export(network, mindspore.Tensor(input_data), file_name=str(folder / "classifier"), file_format="MINDIR")

    graph = msnn.GraphCell(mindspore.load(str(folder / "classifier.mindir")))
    np.testing.assert_allclose(graph(mindspore.Tensor(input_data)).asnumpy(), output_benchmark, rtol=1e-3, atol=1e-4)


def test_faq_mix_with_the_torch_training_script(converted):
    import mindspore

    model, result, _ = converted
    network = _import(result.script, "MindSporeModel")()
    mindspore.load_param_into_net(network, mindspore.load_checkpoint(str(result.checkpoint)))
    network.set_train(False)

    rng = np.random.default_rng(1)
    data = torch.from_numpy(rng.standard_normal((10, FEATURES)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, CLASSES, 10))
    data_loader = DataLoader(TensorDataset(data, labels), batch_size=4)  # batches of 4, 4 and 2
    loss_fn = nn.CrossEntropyLoss()
    sizes, losses = [], []
    for batch, label in data_loader:
        ms_output = network(mindspore.Tensor(batch.numpy()))
        output = torch.Tensor(ms_output.asnumpy())
        loss = loss_fn(output, label)
        accuracy = (output.argmax(1) == label).float().mean()
        with torch.no_grad():
            reference = model(batch)
        torch.testing.assert_close(output, reference, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(loss, loss_fn(reference, label), rtol=1e-3, atol=1e-4)
        assert 0.0 <= float(accuracy) <= 1.0
        sizes.append(len(label))
        losses.append(float(loss))
    assert sizes == [4, 4, 2] and all(np.isfinite(losses))
