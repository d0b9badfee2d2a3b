"""Conversion time and memory against the I/O floor: named models, a decoder scaled to 1.5B parameters, depth.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/conversion.py [--models ...] [--sizes ...] [--layers 2 24 48]
                                                              [--quick] [--skip-depth] [--keep DIR]

Each measurement is a whole process: wall time and peak RSS (`wait4`'s ru_maxrss of that child; this
process stays small, since a child's ru_maxrss starts from its parent's RSS at exec). The I/O floor
is `onnx.load` plus `mindspore.save_checkpoint` of the same weights (what any converter must at least do).

Named models (`--models`, benchmarks/zoo.py): ResNet-18/50, MobileNetV2, EfficientNet-B0 (torchvision's
definitions written in torch), a BERT-base encoder and ViT-B/16 (transformers, default configurations),
random weights, exported with torch's default settings (BatchNorm folded). Per model, in one run:
`--check off`, `--check end` and the floor; ratios and ops/second. Writes `named.json`,
`named_time.png` / `named_memory.png` into `--out`. `--quick`: ResNet-18 only.

Depth study (`--layers`):

For each depth, a Swin-style transformer (window partition, shifted windows, relative position bias,
MLP) with random weights is exported by torch to ONNX. Then, each as a whole process:
- `mindconverter --model_file M --check off` (the conversion),
- the I/O floor: `onnx.load` of M plus `mindspore.save_checkpoint` of its weights (what any converter
  must at least do).
Two styles per depth: `modules` (a module per block: one class used N times) and `functional` (the
blocks as one loop of functional calls: one `construct` that grows with depth). Prints ops after
passes, source nodes, seconds, the ratio conversion / floor, and the in-process work (frontend +
passes + backend) per source node, which stays flat when every stage is linear. Read ratios within one run: the machine is shared.
`--quick` converts the 2- and 8-layer models only.

Scaled decoder (`--sizes`), bounded memory: a GPT-style decoder written directly with onnx.helper,
scaled from ~1M to 1.5B parameters, its weights in ONNX external data (past 2 GB for the big sizes)
filled chunk by chunk, so building it never holds the model in memory. Per size, each as a whole
process: conversion with `--check off` and `--check end` (the check only up to `--check-max`
parameters), and the I/O floor; wall time and peak RSS (`wait4`'s ru_maxrss of that child), ratios,
ops/second. Writes `scale.json` and `scale_time.png` / `scale_memory.png` into `--out`.
`--quick`: sizes 1M and 25M.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def run_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process.

    CPU time moves less than wall time when other jobs load the machine: both ratios are printed.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{cmd[:4]} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def measure(layers: int, work: Path, style: str, runs: int = 1) -> dict:
    """One depth: conversion and floor run alternately `runs` times each (the minimum is kept)."""
    name = f"{style}_{layers}"
    model = work / f"{name}.onnx"
    build_model(layers, model, functional=style == "functional")
    out = work / f"out_{name}"
    times: dict[str, list[tuple[float, float]]] = {"convert": [], "floor": []}
    for _ in range(runs):
        times["convert"].append(run_cpu([sys.executable, "-m", "mindconverter", "--model_file", str(model), "--check",
                                         "off", "--output", str(out), "--overwrite", "-q", "--allow-unsupported"]))
        times["floor"].append(run_cpu([sys.executable, "-c", FLOOR, str(model), str(work / f"floor_{name}.ckpt")]))
    (convert, convert_cpu), (floor, floor_cpu) = ([min(t[i] for t in times[k]) for i in (0, 1)] for k in times)
    report = json.loads((out / f"report_of_{name}.json").read_text())
    import onnx

    nodes = len(onnx.load(str(model), load_external_data=False).graph.node)
    ops = report["ops"]["total"]
    timings = report["timings_s"]
    # In-process work per source node (frontend + passes + backend): flat when every stage is linear.
    work_s = sum(timings.get(k, 0.0) for k in ("frontend", "passes", "backend"))
    return {"style": style, "layers": layers, "nodes": nodes, "ops": ops, "convert_s": convert, "floor_s": floor,
            "ratio": convert / floor, "cpu_ratio": convert_cpu / floor_cpu, "convert_cpu_s": convert_cpu,
            "floor_cpu_s": floor_cpu, "ms_per_node": 1000 * work_s / nodes, "timings": timings}



# name -> (width, layers); parameters ~ 12 * width^2 * layers + 2 * VOCAB * width
SIZES = {"1M": (128, 4), "25M": (512, 8), "200M": (1024, 16), "700M": (1536, 24), "1.5B": (2048, 30)}
VOCAB, SEQ, HEAD_DIM = 1024, 16, 64


def build_scaled(width: int, layers: int, path: Path) -> int:
    """A GPT-style decoder (pre-LayerNorm, erf GELU) with random weights in `path`.data; returns its parameters.

    Weights are written to the external-data file chunk by chunk as they are drawn: memory stays at
    one chunk whatever the size.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    data_name = path.name + ".data"
    inits, nodes, count = [], [], [0]
    with open(path.parent / data_name, "wb") as data:

        def weight(name: str, shape: tuple[int, ...], scale: float = 0.02, base: float = 0.0) -> str:
            size = int(np.prod(shape))
            offset = data.tell()
            for start in range(0, size, 1 << 23):
                chunk = rng.random(min(1 << 23, size - start), dtype=np.float32)
                data.write(((chunk - 0.5) * (2 * scale) + base).astype(np.float32).tobytes())
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(4 * size))):
                t.external_data.add(key=k, value=v)
            inits.append(t)
            count[0] += size
            return name

        def const(name: str, values: list[int]) -> str:
            inits.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
            return name

        def node(op: str, inputs: list[str], out: str, **attrs) -> str:
            nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
            return out

        heads = width // HEAD_DIM
        split = const("split3", [width] * 3)
        to_heads = const("to_heads", [1, SEQ, heads, HEAD_DIM])
        to_seq = const("to_seq", [1, SEQ, width])
        consts = [helper.make_tensor(n, TensorProto.FLOAT, [], [v])
                  for n, v in (("half", 0.5), ("one", 1.0), ("rsqrt2", 2 ** -0.5), ("scale", HEAD_DIM ** -0.5))]
        inits += consts
        x = node("Gather", [weight("wte", (VOCAB, width)), "input_ids"], "embed")
        x = node("Add", [x, weight("wpe", (SEQ, width))], "embed_pos")
        for i in range(layers):
            p = f"h{i}"
            h = node("LayerNormalization", [x, weight(f"{p}.ln1.w", (width,), 0.1, 1.0), weight(f"{p}.ln1.b", (width,))],
                     f"{p}.ln1", axis=-1, epsilon=1e-5)
            qkv = node("Add", [node("MatMul", [h, weight(f"{p}.attn.w", (width, 3 * width))], f"{p}.qkv_mm"),
                               weight(f"{p}.attn.b", (3 * width,))], f"{p}.qkv")
            nodes.append(helper.make_node("Split", [qkv, split], [f"{p}.q0", f"{p}.k0", f"{p}.v0"], axis=-1,
                                          name=f"{p}.split"))
            q, k, v = (node("Transpose", [node("Reshape", [f"{p}.{n}0", to_heads], f"{p}.{n}r")], f"{p}.{n}t", perm=perm)
                       for n, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])))
            att = node("Softmax", [node("Mul", [node("MatMul", [q, k], f"{p}.qk"), "scale"], f"{p}.qk_s")], f"{p}.att",
                       axis=-1)
            o = node("Reshape", [node("Transpose", [node("MatMul", [att, v], f"{p}.av")], f"{p}.avt", perm=[0, 2, 1, 3]),
                                 to_seq], f"{p}.merge")
            o = node("Add", [node("MatMul", [o, weight(f"{p}.proj.w", (width, width))], f"{p}.proj_mm"),
                             weight(f"{p}.proj.b", (width,))], f"{p}.proj")
            x = node("Add", [x, o], f"{p}.res1")
            h = node("LayerNormalization", [x, weight(f"{p}.ln2.w", (width,), 0.1, 1.0), weight(f"{p}.ln2.b", (width,))],
                     f"{p}.ln2", axis=-1, epsilon=1e-5)
            f = node("Add", [node("MatMul", [h, weight(f"{p}.fc.w", (width, 4 * width))], f"{p}.fc_mm"),
                             weight(f"{p}.fc.b", (4 * width,))], f"{p}.fc")
            g = node("Erf", [node("Mul", [f, "rsqrt2"], f"{p}.g0")], f"{p}.g1")
            g = node("Mul", [node("Mul", [f, "half"], f"{p}.g2"), node("Add", [g, "one"], f"{p}.g3")], f"{p}.gelu")
            f = node("Add", [node("MatMul", [g, weight(f"{p}.fc2.w", (4 * width, width))], f"{p}.fc2_mm"),
                             weight(f"{p}.fc2.b", (width,))], f"{p}.fc2")
            x = node("Add", [x, f], f"{p}.res2")
        x = node("LayerNormalization", [x, weight("lnf.w", (width,), 0.1, 1.0), weight("lnf.b", (width,))], "lnf",
                 axis=-1, epsilon=1e-5)
        node("MatMul", [x, weight("head.w", (width, VOCAB))], "logits")
    graph = helper.make_graph(nodes, "gpt", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, SEQ])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, SEQ, VOCAB])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
    onnx.save(model, str(path))  # the weights are already external: the file holds the graph only
    return count[0]


def run_rss(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, which move less under load) and peak RSS (GB) of one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""  # before waiting: a full pipe blocks
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1e6  # ru_maxrss is in KiB on Linux


def measure_conversion(model: Path, work: Path, check_end: bool) -> dict:
    """Convert `model` with `--check off` (and `--check end`), then the I/O floor: each a whole process.

    Returns wall seconds and peak RSS of each, their ratios to the floor, ops and ops/second.
    """
    row: dict = {}
    convert = [sys.executable, "-m", "mindconverter", "--model_file", str(model), "--overwrite", "-q"]
    for check in ("off", "end") if check_end else ("off",):
        out = work / f"out_{model.stem}_{check}"
        row[f"check_{check}_s"], row[f"check_{check}_cpu_s"], row[f"check_{check}_gb"] = run_rss(
            convert + ["--check", check, "--output", str(out)])
        if check == "off":
            row["ops"] = json.loads((out / f"report_of_{model.stem}.json").read_text())["ops"]["total"]
        shutil.rmtree(out, ignore_errors=True)
    ckpt = work / f"floor_{model.stem}.ckpt"
    row["floor_s"], row["floor_cpu_s"], row["floor_gb"] = run_rss([sys.executable, "-c", FLOOR, str(model), str(ckpt)])
    ckpt.unlink(missing_ok=True)
    row["time_ratio"] = row["check_off_s"] / row["floor_s"]
    row["cpu_ratio"] = row["check_off_cpu_s"] / row["floor_cpu_s"]
    if check_end:
        row["end_time_ratio"] = row["check_end_s"] / row["floor_s"]
    row["rss_over_floor_gb"] = row["check_off_gb"] - row["floor_gb"]
    row["ops_per_s"] = row["ops"] / row["check_off_s"]
    return row


def measure_scaled(size: str, work: Path, check_max: float) -> dict:
    width, layers = SIZES[size]
    model = work / f"gpt_{size}.onnx"
    params = build_scaled(width, layers, model)
    row = {"size": size, "params": params, "weights_gb": 4 * params / 1e9}
    row.update(measure_conversion(model, work, params <= check_max))
    for f in (model, model.parent / (model.name + ".data")):
        f.unlink(missing_ok=True)
    return row


def measure_named(name: str, work: Path) -> dict:
    """Export zoo model `name` in a child process (this process stays small: its RSS would count in the
    children's ru_maxrss, which exec inherits from a vfork parent), then measure its conversion."""
    model = work / f"{name}.onnx"
    code = "import sys, zoo; print(zoo.export(sys.argv[1], sys.argv[2]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(Path(__file__).parent), os.environ.get("PYTHONPATH"))))}
    params = int(subprocess.run([sys.executable, "-c", code, name, str(model)], check=True, capture_output=True, text=True,
                                env=env).stdout.split()[-1])
    row = {"size": name, "params": params, "weights_gb": model.stat().st_size / 1e9}
    row.update(measure_conversion(model, work, check_end=True))
    model.unlink(missing_ok=True)
    return row


def plot_rows(rows: list[dict], out: Path, stem: str, title: str, named: bool = False) -> None:
    """`{stem}_time.png`, `_cpu.png`, `_memory.png`: conversion (off, end) and the I/O floor against parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["params"])
    params = [r["params"] for r in rows]
    style = "o" if named else "o-"
    for key, label, name in (("s", "wall time (s)", "time"), ("cpu_s", "CPU time (s)", "cpu"), ("gb", "peak RSS (GB)", "memory")):
        if any(f"floor_{key}" not in r for r in rows):
            continue  # rows measured before CPU time was recorded
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(params, [r[f"check_off_{key}"] for r in rows], style, label="convert --check off")
        ends = [r for r in rows if f"check_end_{key}" in r]
        if ends:
            ax.plot([r["params"] for r in ends], [r[f"check_end_{key}"] for r in ends], "s" + style[1:],
                    label="convert --check end")
        ax.plot(params, [r[f"floor_{key}"] for r in rows], "k^" if named else "k--",
                label="I/O floor (onnx.load + save_checkpoint)")
        if named:
            for i, r in enumerate(rows):  # names alternate below and above the floor's marker: neighbours stay apart
                ax.annotate(r["size"], (r["params"], r[f"floor_{key}"]), textcoords="offset points",
                            xytext=(4, 6 if i % 2 else -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(label)
        ax.set_title(f"{title}: {label} against size", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"{stem}_{name}.png", dpi=80)
        plt.close(fig)


def conversion_study(keys: list[str], measure, work: Path, out: Path, stem: str, title: str) -> None:
    """Measure each of `keys`, print a row per key, write `{stem}.json` and the plots after each one."""
    print(f"{'model':>15} {'params':>13} {'ops':>5} {'off s':>7} {'end s':>7} {'floor s':>7} {'ratio':>5} {'cpu':>5} "
          f"{'off GB':>6} {'end GB':>6} {'floor GB':>8} {'ops/s':>6}")
    rows = []
    for key in keys:
        r = measure(key, work)
        rows.append(r)
        print(f"{key:>15} {r['params']:>13,} {r['ops']:>5} {r['check_off_s']:>7.1f} "
              f"{r.get('check_end_s', float('nan')):>7.1f} {r['floor_s']:>7.1f} {r['time_ratio']:>5.2f} {r['cpu_ratio']:>5.2f} "
              f"{r['check_off_gb']:>6.2f} {r.get('check_end_gb', float('nan')):>6.2f} {r['floor_gb']:>8.2f} "
              f"{r['ops_per_s']:>6.0f}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps(rows, indent=1) + "\n")
        plot_rows(rows, out, stem, title, named=stem == "named")  # after every model: a stopped run keeps its plots


NAMED = ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "bert_base", "vit_b16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", type=int, default=[2, 24, 48])
    parser.add_argument("--quick", action="store_true", help="2 and 8 layers, sizes 1M and 25M, ResNet-18 only")
    parser.add_argument("--keep", metavar="DIR", help="keep the models and outputs in DIR")
    parser.add_argument("--models", nargs="*", choices=NAMED, default=list(NAMED),
                        help="named models (random weights, benchmarks/zoo.py; none: skip that study)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), default=["1M", "25M", "200M"],
                        help="sizes of the scaled GPT-style decoder (none: skip that study)")
    parser.add_argument("--check-max", type=float, default=2e9, help="run --check end up to this many parameters")
    parser.add_argument("--skip-depth", action="store_true", help="skip the depth study")
    parser.add_argument("--runs", type=int, default=1, help="depth study: runs of each process (the minimum is kept)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="JSON and plots")
    args = parser.parse_args()
    layers = [2, 8] if args.quick else args.layers
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_conversion_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.models:
        conversion_study(["resnet18"] if args.quick else args.models, measure_named, work, args.out, "named",
                         "named models")
    if args.sizes:
        conversion_study(["1M", "25M"] if args.quick else args.sizes,
                         lambda size, w: measure_scaled(size, w, args.check_max), work, args.out, "scale",
                         "GPT-style decoder")
    if args.skip_depth:
        return
    print(f"{'style':>10} {'layers':>6} {'nodes':>6} {'ops':>5} {'convert s':>9} {'floor s':>8} {'ratio':>6} "
          f"{'cpu ratio':>9} {'ms/node':>7}  stages (s)")
    for style in ("modules", "functional"):
        rows = [measure(n, work, style, args.runs) for n in layers]
        for r in rows:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
            print(f"{style:>10} {r['layers']:>6} {r['nodes']:>6} {r['ops']:>5} {r['convert_s']:>9.2f} {r['floor_s']:>8.2f} "
                  f"{r['ratio']:>6.2f} {r['cpu_ratio']:>9.2f} {r['ms_per_node']:>7.2f}  {stages}", flush=True)
        # The shallowest model's time per node is mostly fixed costs (first imports); compare deep against deep too.
        per = [r["ms_per_node"] for r in rows]
        print(f"{style:>10} work per node, deepest / shallowest: {per[-1] / per[0]:.2f}"
              + (f"; deepest / second deepest: {per[-1] / per[-2]:.2f}" if len(per) > 2 else ""))


if __name__ == "__main__":
    main()
