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


RUNNABLE = """\
import torch

losses, correct = [], 0
for epoch in range(2):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        logits = model(x)
        # cross-entropy plus a small logit penalty
        loss = criterion(logits, y) + 0.01 * (logits**2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())
        correct += (logits.argmax(1) == y).sum().item()
"""


def test_value_and_grad_step_trains_like_torch():
    """The general form runs: forward_fn with an aux output, clipping, momentum SGD; same losses as torch."""
    import mindspore as ms
    import numpy as np
    import torch
    from mindspore import nn, ops

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 8, 5)).astype(np.float32)
    ys = rng.integers(0, 3, (4, 8))
    weight, bias = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal(3).astype(np.float32)

    t_model = torch.nn.Linear(5, 3)
    t_model.weight.data, t_model.bias.data = torch.tensor(weight), torch.tensor(bias)
    t_ns = {
        "model": t_model,
        "criterion": torch.nn.CrossEntropyLoss(),
        "optimizer": torch.optim.SGD(t_model.parameters(), lr=0.1, momentum=0.9),
        "batches": [(torch.tensor(x), torch.tensor(y)) for x, y in zip(xs, ys, strict=True)],
    }
    exec(RUNNABLE, t_ns)

    code, ctx = rewrite(RUNNABLE)
    assert "grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters, has_aux=True)" in code
    assert "grads = ops.clip_by_global_norm(grads, 0.5)" in code
    m_model = nn.Dense(5, 3)
    m_model.weight.set_data(ms.Tensor(weight))
    m_model.bias.set_data(ms.Tensor(bias))
    m_ns = {
        "ms": ms, "ops": ops, "model": m_model, "criterion": nn.CrossEntropyLoss(),
        "optimizer": nn.SGD(m_model.trainable_params(), learning_rate=0.1, momentum=0.9),
        "batches": [(ms.Tensor(x), ms.Tensor(y.astype(np.int32))) for x, y in zip(xs, ys, strict=True)],
    }  # fmt: skip
    exec(code.replace("import torch\n", ""), m_ns)
    np.testing.assert_allclose(m_ns["losses"], t_ns["losses"], rtol=1e-4)
    assert m_ns["correct"] == t_ns["correct"]


def test_functional_loss_is_not_a_loss_cell():
    source = """\
import torch.nn.functional as F

for data, target in loader:
    optimizer.zero_grad()
    loss = F.nll_loss(model(data), target)
    loss.backward()
    optimizer.step()
"""
    code, _ = rewrite(source, "train-step")
    assert "WithLossCell" not in code  # the table maps F.nll_loss where it is called, inside forward_fn
    assert "def forward_fn(data, target):\n    loss = F.nll_loss(model(data), target)\n    return loss\n" in code


def test_mixed_precision_step_becomes_the_plain_step():
    source = """\
import torch

scaler = torch.cuda.amp.GradScaler()  # loss scaling
for x, y in loader:
    optimizer.zero_grad()
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        out = model(x)
        loss = criterion(out, y) + aux_loss(out)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
"""
    code, ctx = rewrite(source)
    assert "scaler" not in code and "autocast" not in code
    assert (
        "    loss, grads = grad_fn(x, y)\n    grads = ops.clip_by_global_norm(grads, 1.0)\n    optimizer(grads)\n"
        in code
    )
    assert_comments_kept(source, code)
    assert {f.api for f in ctx.findings} >= {"torch.autocast", "torch.amp.GradScaler", "torch.amp.GradScaler.update"}
    assert all(f.converted for f in ctx.findings)


def test_two_optimizers_in_one_loop_each_get_their_step():
    source = """\
for real, _ in loader:
    # discriminator
    opt_d.zero_grad()
    loss_d = bce(disc(real), ones) + bce(disc(gen(noise)), zeros)
    loss_d.backward()
    opt_d.step()
    # generator
    opt_g.zero_grad()
    loss_g = bce(disc(gen(noise)), ones)
    loss_g.backward()
    opt_g.step()
"""
    code, ctx = rewrite(source, "train-step")
    assert (
        code
        == """\
def forward_fn(real):
    loss_d = bce(disc(real), ones) + bce(disc(gen(noise)), zeros)
    return loss_d

grad_fn = ms.value_and_grad(forward_fn, None, opt_d.parameters)

def forward_fn_2():
    loss_g = bce(disc(gen(noise)), ones)
    return loss_g

grad_fn_2 = ms.value_and_grad(forward_fn_2, None, opt_g.parameters)
for real, _ in loader:
    # discriminator
    loss_d, grads = grad_fn(real)
    opt_d(grads)
    # generator
    loss_g, grads_2 = grad_fn_2()
    opt_g(grads_2)
"""
    )
    assert len([f for f in ctx.findings if f.api == "torch.optim.Optimizer.zero_grad"]) == 2
