"""nn.Module -> nn.Cell, forward -> construct, and the renamed nn.Module methods."""

from __future__ import annotations

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

NET = '''\
import torch
from torch import nn as tnn


class Net(tnn.Module):
    """A tiny classifier."""

    def __init__(self):
        super(Net, self).__init__()  # keep the super call
        self.fc = tnn.Linear(4, 3)

    # the forward pass
    def forward(self, x):
        return self.fc(x)

    def twice(self, x):
        return self.forward(self.forward(x))


class Plain:
    def forward(self, x):  # not a Module: untouched
        return x
'''


def test_module_subclass_becomes_cell_with_construct():
    code, ctx = rewrite(NET, "module-to-cell")
    assert "class Net(nn.Cell):" in code
    assert "def construct(self, x):" in code
    assert "return self.construct(self.construct(x))" in code
    assert "super(Net, self).__init__()  # keep the super call" in code
    assert "class Plain:\n    def forward(self, x):" in code  # only nn.Module subclasses change
    assert "from mindspore import nn" in ctx.imports_needed
    assert [(f.line, f.api, f.converted) for f in ctx.findings] == [(5, "torch.nn.Module", True)]
    assert_comments_kept(NET, code)


def test_other_bases_stay():
    source = "import torch\n\n\nclass Block(MyBase, torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    code, _ = rewrite(source, "module-to-cell")
    assert "class Block(MyBase, nn.Cell):" in code
    source = "from mylib import Module\n\n\nclass Block(Module):\n    def forward(self, x):\n        return x\n"
    assert rewrite(source, "module-to-cell")[0] == source


METHODS = """\
model.train()  # training mode
model.train(False)
model.train(mode=is_training)
model.eval()
result = eval("1 + 1")  # the builtin stays
opt = SGD(model.parameters(), lr=0.1)
for name, p in model.named_parameters():
    print(name)
sd = model.state_dict()
"""


def test_module_methods_are_renamed():
    code, ctx = rewrite(METHODS, "module-methods")
    assert (
        code
        == """\
model.set_train(True)  # training mode
model.set_train(False)
model.set_train(is_training)
model.set_train(False)
result = eval("1 + 1")  # the builtin stays
opt = SGD(model.trainable_params(), lr=0.1)
for name, p in model.parameters_and_names():
    print(name)
sd = model.parameters_dict()
"""
    )
    assert [(f.line, f.col) for f in ctx.findings] == [(1, 1), (2, 1), (3, 1), (4, 1), (6, 11), (7, 16), (9, 6)]
