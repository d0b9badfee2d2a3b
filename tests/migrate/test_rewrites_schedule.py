"""optimizer + lr_scheduler -> a learning-rate schedule passed to the optimizer."""

from __future__ import annotations

import pytest

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

EPOCHS = """\
import torch

loader = make_loader()
# SGD with momentum
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
# decay every 2 epochs
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
for epoch in range(4):
    for x, y in loader:
        train(x, y)
        optimizer.step()
    scheduler.step()  # next epoch
print("done")
"""


def test_step_lr_per_epoch_becomes_exponential_decay_over_loader_steps():
    code, ctx = rewrite(EPOCHS, "lr-scheduler")
    assert (
        code
        == """\
import torch

loader = make_loader()
# decay every 2 epochs
scheduler = nn.ExponentialDecayLR(0.1, decay_rate=0.5, decay_steps=2 * len(loader), is_stair=True)
# SGD with momentum
optimizer = torch.optim.SGD(model.parameters(), lr=scheduler, momentum=0.9)
for epoch in range(4):
    for x, y in loader:
        train(x, y)
        optimizer.step()
    # next epoch
print("done")
"""
    )
    assert_comments_kept(EPOCHS, code)
    assert [(f.line, f.api, f.converted) for f in ctx.findings] == [
        (7, "torch.optim.lr_scheduler.StepLR", True),
        (12, "torch.optim.lr_scheduler.StepLR.step", True),
    ]


def test_scheduler_stepped_with_the_optimizer_decays_per_step():
    source = """\
import torch

optimizer = torch.optim.SGD(network.parameters(), lr=LEARNING_RATE)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=DECAY_RATE)
for data, label in data_loader:
    optimizer.step()
    scheduler.step()
"""
    code, _ = rewrite(source, "lr-scheduler")
    assert (
        code
        == """\
import torch

scheduler = nn.ExponentialDecayLR(LEARNING_RATE, decay_rate=DECAY_RATE, decay_steps=1)
optimizer = torch.optim.SGD(network.parameters(), lr=scheduler)
for data, label in data_loader:
    optimizer.step()
"""
    )


@pytest.mark.parametrize(
    "scheduler, why",
    [
        (
            "torch.optim.lr_scheduler.MultiStepLR(opt, [2, 4])",
            "no MindSpore learning-rate schedule matches MultiStepLR",
        ),
        ("torch.optim.lr_scheduler.StepLR(other, 2)", "its optimizer is not built in the same block"),
    ],
)
def test_unmatched_schedulers_stay_marked(scheduler, why):
    source = f"""\
import torch

opt = torch.optim.Adam(net.parameters(), lr=1e-3)
sched = {scheduler}
for epoch in range(3):
    for x in loader:
        opt.step()
    sched.step()
"""
    code, ctx = rewrite(source, "lr-scheduler")
    assert "# [UnConvert] 'torch.optim.lr_scheduler." in code and f"({why})" in code
    assert "    sched.step()\n" in code and "lr=1e-3" in code
    assert [(f.line, f.col, f.converted) for f in ctx.findings] == [(4, 9, False)]


def test_loader_built_after_the_optimizer_is_reported():
    source = """\
import torch

opt = torch.optim.Adam(net.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.StepLR(opt, 2)
loader = make_loader()
for epoch in range(3):
    for x in loader:
        opt.step()
    sched.step()
"""
    code, ctx = rewrite(source, "lr-scheduler")
    assert ctx.findings[0].message == "loader is built after the optimizer"


def test_training_loop_in_a_called_function_counts_its_loader():
    source = """\
import torch


def train(model, loader, optimizer):
    for x, y in loader:
        optimizer.step()


def main():
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, 15):
        train(model, train_loader, optimizer)
        scheduler.step()
"""
    code, _ = rewrite(source, "lr-scheduler")
    assert (
        "    scheduler = nn.ExponentialDecayLR(1.0, decay_rate=0.7, decay_steps=len(train_loader), is_stair=True)\n"
        in code
    )
    assert "scheduler.step()" not in code


def test_mint_target_keeps_the_scheduler_for_the_table():
    assert rewrite(EPOCHS, "lr-scheduler", target="mint")[0] == EPOCHS
