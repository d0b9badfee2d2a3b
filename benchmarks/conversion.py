"""Conversion time against the I/O floor, for synthetic windowed-attention transformers of growing depth.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/conversion.py [--layers 2 24 48] [--quick] [--keep DIR]

For each depth, a Swin-style transformer (window partition, shifted windows, relative position bias,
MLP) with random weights is exported by torch to ONNX. Then, each as a whole process:
- `mindconverter --model_file M --check off` (the conversion),
- the I/O floor: `onnx.load` of M plus `mindspore.save_checkpoint` of its weights (what any converter
  must at least do).
Two styles per depth: `modules` (a module per block: one class used N times) and `functional` (the
blocks as one loop of functional calls: one `construct` that grows with depth). Prints ops after
passes, seconds, the ratio conversion / floor, and the in-process work (frontend + passes +
backend) per op, which stays flat when every stage is linear. Read ratios within one run: the machine is shared.
`--quick` converts the 2- and 8-layer models only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIM, HEADS, WINDOW, GRID = 32, 2, 4, 8

FLOOR = """
import sys
import onnx
from onnx import numpy_helper
import mindspore as ms
model = onnx.load(sys.argv[1])
params = [{"name": t.name, "data": ms.Tensor(numpy_helper.to_array(t))} for t in model.graph.initializer]
ms.save_checkpoint(params, sys.argv[2])
"""


def build_model(layers: int, path: Path, functional: bool = False) -> None:
    """Export a Swin-style transformer with `layers` blocks (random weights) to `path`.

    `functional` writes the blocks as one loop of functional calls (one source module holding every
    op, as models that loop over parameter lists have): the generated `construct` grows with depth.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own spelling
    from torch import nn

    class WindowAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(DIM, 3 * DIM)
            self.proj = nn.Linear(DIM, DIM)
            n = 2 * WINDOW - 1
            self.relative_position_bias_table = nn.Parameter(torch.randn(n * n, HEADS) * 0.02)
            coords = torch.stack(torch.meshgrid(torch.arange(WINDOW), torch.arange(WINDOW), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (WINDOW - 1)
            self.register_buffer("relative_position_index", rel[..., 0] * n + rel[..., 1], persistent=False)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q * (c // HEADS) ** -0.5) @ k.transpose(-2, -1)
            bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
            attn = attn + bias.reshape(n, n, HEADS).permute(2, 0, 1).unsqueeze(0)
            x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
            return self.proj(x)

    class Block(nn.Module):
        def __init__(self, shift: int):
            super().__init__()
            self.shift = shift
            self.norm1 = nn.LayerNorm(DIM)
            self.attn = WindowAttention()
            self.norm2 = nn.LayerNorm(DIM)
            self.fc1 = nn.Linear(DIM, 2 * DIM)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(2 * DIM, DIM)

        def forward(self, x):
            b, h, w, c = x.shape
            y = self.norm1(x)
            if self.shift:
                y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
            y = y.reshape(b, h // WINDOW, WINDOW, w // WINDOW, WINDOW, c).permute(0, 1, 3, 2, 4, 5)
            y = self.attn(y.reshape(-1, WINDOW * WINDOW, c))
            y = y.reshape(b, h // WINDOW, w // WINDOW, WINDOW, WINDOW, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
            if self.shift:
                y = torch.roll(y, (self.shift, self.shift), (1, 2))
            x = x + y
            return x + self.fc2(self.act(self.fc1(self.norm2(x))))

    class Encoder(nn.Module):
        """The blocks written as one function over parameter lists (no module per block): one big cell."""

        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(WINDOW // 2 if i % 2 else 0) for i in range(layers)])

        def forward(self, x):
            for blk in self.blocks:
                b, h, w, c = x.shape
                y = F.layer_norm(x, (c,), blk.norm1.weight, blk.norm1.bias)
                if blk.shift:
                    y = torch.roll(y, (-blk.shift, -blk.shift), (1, 2))
                y = y.reshape(b, h // WINDOW, WINDOW, w // WINDOW, WINDOW, c).permute(0, 1, 3, 2, 4, 5)
                y = F.linear(y.reshape(-1, WINDOW * WINDOW, c), blk.attn.qkv.weight, blk.attn.qkv.bias)
                n = WINDOW * WINDOW
                qkv = y.reshape(-1, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
                attn = (qkv[0] * (c // HEADS) ** -0.5) @ qkv[1].transpose(-2, -1)
                y = (attn.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(-1, n, c)
                y = F.linear(y, blk.attn.proj.weight, blk.attn.proj.bias)
                y = y.reshape(b, h // WINDOW, w // WINDOW, WINDOW, WINDOW, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
                if blk.shift:
                    y = torch.roll(y, (blk.shift, blk.shift), (1, 2))
                x = x + y
                y = F.layer_norm(x, (c,), blk.norm2.weight, blk.norm2.bias)
                y = F.linear(F.gelu(F.linear(y, blk.fc1.weight, blk.fc1.bias)), blk.fc2.weight, blk.fc2.bias)
                x = x + y
            return x

    class Swin(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = nn.Conv2d(3, DIM, 4, stride=4)
            self.blocks = Encoder() if functional else nn.Sequential(*[Block(WINDOW // 2 if i % 2 else 0) for i in range(layers)])
            self.norm = nn.LayerNorm(DIM)
            self.head = nn.Linear(DIM, 10)

        def forward(self, x):
            x = self.blocks(self.patch_embed(x).permute(0, 2, 3, 1))
            return self.head(self.norm(x).mean((1, 2)))

    torch.manual_seed(0)
    model = Swin().eval()
    x = torch.randn(1, 3, 4 * GRID, 4 * GRID)
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamo=False)


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def measure(layers: int, work: Path, style: str) -> dict:
    name = f"{style}_{layers}"
    model = work / f"{name}.onnx"
    build_model(layers, model, functional=style == "functional")
    out = work / f"out_{name}"
    convert = run([sys.executable, "-m", "mindconverter", "--model_file", str(model), "--check", "off", "--output",
                   str(out), "--overwrite", "-q", "--allow-unsupported"])
    floor = run([sys.executable, "-c", FLOOR, str(model), str(work / f"floor_{name}.ckpt")])
    report = json.loads((out / f"report_of_{name}.json").read_text())
    ops = report["ops"]["total"]
    timings = report["timings_s"]
    # In-process work per op (frontend + passes + backend): flat when every stage is linear.
    work_s = sum(timings.get(k, 0.0) for k in ("frontend", "passes", "backend"))
    return {"style": style, "layers": layers, "ops": ops, "convert_s": convert, "floor_s": floor,
            "ratio": convert / floor, "ms_per_op": 1000 * work_s / ops, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", type=int, default=[2, 24, 48])
    parser.add_argument("--quick", action="store_true", help="2 and 8 layers only")
    parser.add_argument("--keep", metavar="DIR", help="keep the models and outputs in DIR")
    args = parser.parse_args()
    layers = [2, 8] if args.quick else args.layers
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_conversion_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'style':>10} {'layers':>6} {'ops':>6} {'convert s':>9} {'floor s':>8} {'ratio':>6} {'ms/op':>6}  stages (s)")
    for style in ("modules", "functional"):
        rows = [measure(n, work, style) for n in layers]
        for r in rows:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
            print(f"{style:>10} {r['layers']:>6} {r['ops']:>6} {r['convert_s']:>9.2f} {r['floor_s']:>8.2f} "
                  f"{r['ratio']:>6.2f} {r['ms_per_op']:>6.2f}  {stages}", flush=True)
        print(f"{style:>10} work per op, deepest / shallowest: {rows[-1]['ms_per_op'] / rows[0]['ms_per_op']:.2f}")


if __name__ == "__main__":
    main()
