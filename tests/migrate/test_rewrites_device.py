"""torch.no_grad and device placement disappear; comments stay."""

from __future__ import annotations

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

EVAL = """\
import torch


def evaluate(model, loader):
    correct = 0
    # no gradients here
    with torch.no_grad():  # saves memory
        for x, y in loader:
            # forward only
            out = model(x)
            correct += (out.argmax(1) == y).sum().item()
            # end of the loop body
    return correct


@torch.no_grad()
def predict(model, x):
    return model(x)
"""


def test_no_grad_block_is_dedented_with_its_comments():
    code, ctx = rewrite(EVAL, "no-grad")
    assert (
        code
        == """\
import torch


def evaluate(model, loader):
    correct = 0
    # no gradients here
    # saves memory
    for x, y in loader:
        # forward only
        out = model(x)
        correct += (out.argmax(1) == y).sum().item()
        # end of the loop body
    return correct


def predict(model, x):
    return model(x)
"""
    )
    assert [(f.line, f.api) for f in ctx.findings] == [(7, "torch.no_grad"), (16, "torch.no_grad")]
    assert_comments_kept(EVAL, code)


def test_no_grad_keeps_other_context_managers_and_one_line_bodies():
    source = "import torch\nwith torch.no_grad(), open('f') as f:\n    f.read()\nwith torch.inference_mode(): a = f(1); b = 2\n"
    code, _ = rewrite(source, "no-grad")
    assert code == "import torch\nwith open('f') as f:\n    f.read()\na = f(1); b = 2\n"


def test_unrelated_with_stays():
    source = "from contextlib import nullcontext\nwith nullcontext():\n    pass\n"
    assert rewrite(source, "no-grad")[0] == source


TRAIN = """\
import torch

# pick the device
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = Net().to(device)  # model on device
for data, label in loader:
    # move the batch
    data, label = data.to(device), label.to(device, non_blocking=True)
    out = model(data.cuda())
    half = out.to(device, torch.float16)
    print(out.cpu().numpy())
model.to(device)
"""


def test_device_moves_and_run_time_device_choice_are_removed():
    code, ctx = rewrite(TRAIN, "device")
    assert (
        code
        == """\
import torch

# pick the device
model = Net()  # model on device
for data, label in loader:
    # move the batch
    out = model(data)
    half = out.to(torch.float16)
    print(out.numpy())
"""
    )
    assert_comments_kept(TRAIN, code)
    assert sorted({f.api for f in ctx.findings}) == [
        "torch.Tensor.cpu",
        "torch.Tensor.cuda",
        "torch.Tensor.to",
        "torch.device",
    ]
    assert all(f.converted for f in ctx.findings)


def test_explicit_device_becomes_set_context():
    source = "import torch\ndevice = torch.device('cuda:0')  # GPU 0\nx = x.to(device)\n"
    code, ctx = rewrite(source, "device")
    assert code == 'import torch\nms.set_context(device_target="GPU")  # GPU 0\n'
    assert "import mindspore as ms" in ctx.imports_needed


def test_device_still_used_elsewhere_stays():
    source = "import torch\ndevice = torch.device('cpu')\nx = x.to(device)\nprint(device)\n"
    code, _ = rewrite(source, "device")
    assert code == "import torch\ndevice = torch.device('cpu')\nprint(device)\n"


def test_to_dtype_is_not_a_move():
    source = "y = x.to(torch.float32)\nz = x.to(dtype=torch.int64)\n"
    assert rewrite(source, "device")[0] == source


def test_positions_are_those_of_the_source_after_earlier_rewrites():
    source = (
        "import torch\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "with torch.no_grad():\n"
        "    model.eval()\n"
        "    # comment\n"
        "    x = model(x.to(device))\n"
        "model.train()\n"
    )
    _, ctx = rewrite(source, "no-grad", "device", "module-methods")
    positions = {(f.api, f.line, f.col) for f in ctx.findings}
    # no-grad dedents lines 4-6 and device drops line 2 before module-methods runs
    assert ("torch.nn.Module.eval", 4, 5) in positions
    assert ("torch.nn.Module.train", 7, 1) in positions
    assert ("torch.Tensor.to", 6, 15) in positions


def test_a_parenthesised_multi_line_move_keeps_its_parentheses():
    source = "import torch\nt = (\n    torch.Tensor([f])\n    .long()\n    .to(x.device)\n)\ny = (torch.load(p))\n"
    code, _ = rewrite(source)
    assert code == "import torch\nt = (\n    torch.Tensor([f])\n    .long()\n)\ny = (ms.load_checkpoint(p))\n"
