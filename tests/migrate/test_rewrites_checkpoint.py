"""torch.save/torch.load of state_dicts -> MindSpore checkpoints."""

from __future__ import annotations

from tests.migrate.rewrite_helpers import assert_comments_kept, rewrite

SOURCE = """\
import os

import torch

CKPT = "weights/net.pth"  # where the weights go

# save the trained weights
torch.save(model.state_dict(), CKPT)
torch.save(model.state_dict(), f"net_{epoch}.pt")
# restore them
model.load_state_dict(torch.load(CKPT, map_location="cpu"))
state = torch.load(os.path.join(out_dir, "best.pth"))
model.load_state_dict(state, strict=False)
"""


def test_state_dict_save_and_load_become_checkpoints():
    code, ctx = rewrite(SOURCE, "checkpoint")
    assert (
        code
        == """\
import os

import torch

CKPT = "weights/net.ckpt"  # where the weights go

# save the trained weights
ms.save_checkpoint(model, CKPT)
ms.save_checkpoint(model, f"net_{epoch}.ckpt")
# restore them
ms.load_param_into_net(model, ms.load_checkpoint(CKPT))
state = ms.load_checkpoint(os.path.join(out_dir, "best.ckpt"))
ms.load_param_into_net(model, state)
"""
    )
    assert_comments_kept(SOURCE, code)
    assert "import mindspore as ms" in ctx.imports_needed
    assert [(f.line, f.api, f.converted) for f in ctx.findings] == [
        (8, "torch.save", True),
        (9, "torch.save", True),
        (11, "torch.load", True),
        (11, "torch.nn.Module.load_state_dict", True),
        (12, "torch.load", True),
        (13, "torch.nn.Module.load_state_dict", True),
    ]


def test_bundled_save_stays_marked():
    source = "import torch\n# bundle\ntorch.save({'model': net.state_dict(), 'epoch': 3}, 'all.pth')\n"
    code, ctx = rewrite(source, "checkpoint")
    assert code == (
        "import torch\n# bundle\n# [UnConvert] 'torch.save' didn't convert (saves more than one state_dict). "
        "Maybe could convert to ms.save_checkpoint(net, path, append_dict={...}).\n"
        "torch.save({'model': net.state_dict(), 'epoch': 3}, 'all.pth')\n"
    )
    assert [(f.line, f.col, f.converted, f.suggestion) for f in ctx.findings] == [
        (3, 1, False, "ms.save_checkpoint(net, path, append_dict={...})")
    ]


def test_checkpoint_round_trip_runs_in_mindspore(tmp_path):
    import mindspore as ms
    from mindspore import nn

    code, _ = rewrite(
        "import torch\ntorch.save(net.state_dict(), PATH)\nnet2.load_state_dict(torch.load(PATH))\n", "checkpoint"
    )
    net, net2 = nn.Dense(3, 2), nn.Dense(3, 2)
    exec(code.replace("import torch\n", ""), {"ms": ms, "net": net, "net2": net2, "PATH": str(tmp_path / "w.ckpt")})
    assert (net2.weight.asnumpy() == net.weight.asnumpy()).all()
