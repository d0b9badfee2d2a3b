"""The torch training step -> TrainOneStepCell (plain loop) or value_and_grad + optimizer(grads)."""

from __future__ import annotations

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

PLAIN = """\
import torch

# Launch the model training.
for i in range(EPOCH_SIZE):
    for data, label in data_loader:
        optimizer.zero_grad()
        output = network(data)
        loss = loss_fn(output, label)
        loss.backward()  # gradients
        optimizer.step()
    scheduler.step()
"""


def test_plain_loop_becomes_train_one_step_cell():
    code, ctx = rewrite(PLAIN, "train-step")
    assert (
        code
        == """\
import torch

# Launch the model training.
net_with_loss = nn.WithLossCell(network, loss_fn)
train_network = nn.TrainOneStepCell(net_with_loss, optimizer)
train_network.set_train()
for i in range(EPOCH_SIZE):
    for data, label in data_loader:
        # gradients
        loss = train_network(data, label)
    scheduler.step()
"""
    )
    assert_comments_kept(PLAIN, code)
    assert sorted((f.line, f.api, f.converted) for f in ctx.findings) == [
        (6, "torch.optim.Optimizer.zero_grad", True),
        (9, "torch.Tensor.backward", True),
        (10, "torch.optim.Optimizer.step", True),
    ]


METRICS = """\
import torch

model.train()
for epoch in range(3):
    running = 0.0
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        # forward pass
        logits = model(x)
        loss = criterion(logits, y) + 0.01 * penalty(model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        running += loss.item()  # log it
        correct = (logits.argmax(1) == y).sum()
    print(epoch, running)
"""


def test_general_forward_becomes_value_and_grad_with_aux():
    code, ctx = rewrite(METRICS, "train-step")
    assert (
        code
        == """\
import torch

model.train()

def forward_fn(x, y):
    # forward pass
    logits = model(x)
    loss = criterion(logits, y) + 0.01 * penalty(model)
    return loss, logits

grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters, has_aux=True)
for epoch in range(3):
    running = 0.0
    for step, (x, y) in enumerate(loader):
        (loss, logits), grads = grad_fn(x, y)
        grads = ops.clip_by_global_norm(grads, 1.0)
        optimizer(grads)
        running += loss.item()  # log it
        correct = (logits.argmax(1) == y).sum()
    print(epoch, running)
"""
    )
    assert_comments_kept(METRICS, code)
    assert {"import mindspore as ms", "from mindspore import ops"} <= ctx.imports_needed
    assert all(f.converted for f in ctx.findings)


ACCUMULATE = """\
for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y) / 4
    loss.backward()
    if (i + 1) % 4 == 0:
        optimizer.step()
        optimizer.zero_grad()
"""


def test_gradient_accumulation_stays_marked():
    code, ctx = rewrite(ACCUMULATE, "train-step")
    assert code == ACCUMULATE.replace(
        "    loss.backward()",
        "    # [UnConvert] 'loss.backward' didn't convert (its optimizer.step() is not in the same block (gradient"
        " accumulation?)). Maybe could convert to grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters);"
        " loss, grads = grad_fn(...); optimizer(grads).\n    loss.backward()",
    )
    assert [(f.line, f.col, f.converted) for f in ctx.findings] == [(3, 5, False)]


def test_step_inside_a_function_without_loop():
    source = """\
def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    out = model(x)
    loss = (out - y).pow(2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()
"""
    code, _ = rewrite(source, "train-step")
    assert (
        code
        == """\
def train_step(model, optimizer, x, y):
    def forward_fn():
        out = model(x)
        loss = (out - y).pow(2).mean()
        return loss

    grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters)
    loss, grads = grad_fn()
    optimizer(grads)
    return loss.item()
"""
    )
