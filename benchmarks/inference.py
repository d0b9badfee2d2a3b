"""Latency of converted networks against hand-written MindSpore networks with the same weights.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/inference.py [--models bert resnet] [--runs 30] [--quick]

Per model, in one process and on one input: a torch source with random weights is exported to ONNX
and converted (`--check off`); a hand-written MindSpore definition of the same architecture (the
BERT-style encoder of ../shared/target-output.md, a small BasicBlock ResNet) gets the torch weights
by name. Both run in PYNATIVE and in GRAPH mode: the median latency of `--runs` calls after warm-up
(GRAPH compiles on the first call), and onnxruntime on the ONNX model for context. The outputs of the
two MindSpore networks are compared first, so the timings are of networks that compute the same thing.
Read ratios, not milliseconds: the machine is shared. Writes `inference.json` into `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --- torch sources ---------------------------------------------------------------------------------

def torch_bert():
    import torch
    from torch import nn

    class SelfAttention(nn.Module):
        def __init__(self, hidden=64, heads=4):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))

        def forward(self, x):
            b, t, d = x.shape
            q = self.q(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = self.k(x).view(b, t, self.heads, self.head_dim).permute(0, 2, 3, 1)
            v = self.v(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            attn = torch.softmax(q @ k / self.head_dim ** 0.5, dim=-1)
            return self.o((attn @ v).transpose(1, 2).reshape(b, t, d))

    class EncoderLayer(nn.Module):
        def __init__(self, hidden=64, ff=128, p=0.1):
            super().__init__()
            self.attention = SelfAttention(hidden)
            self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
            self.ff1, self.act, self.ff2 = nn.Linear(hidden, ff), nn.GELU(), nn.Linear(ff, hidden)
            self.drop = nn.Dropout(p)

        def forward(self, x):
            x = self.ln1(x + self.drop(self.attention(x)))
            return self.ln2(x + self.drop(self.ff2(self.act(self.ff1(x)))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 64)
            self.layers = nn.ModuleList([EncoderLayer() for _ in range(2)])
            self.pooler = nn.Linear(64, 64)

        def forward(self, ids):
            x = self.embed(ids)
            for layer in self.layers:
                x = layer(x)
            return torch.tanh(self.pooler(x[:, 0]))

    return Bert(), np.random.default_rng(0).integers(0, 100, (8, 32)).astype(np.int64)


def torch_resnet():
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU()
            self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
            self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
            self.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(x.mean((2, 3)))

    return ResNet(), np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)


# --- hand-written MindSpore definitions (target-output.md style) -----------------------------------

def ms_bert():
    from mindspore import nn, ops

    class SelfAttention(nn.Cell):
        def __init__(self, hidden=64, heads=4):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.q = nn.Dense(hidden, hidden)
            self.k = nn.Dense(hidden, hidden)
            self.v = nn.Dense(hidden, hidden)
            self.o = nn.Dense(hidden, hidden)

        def construct(self, x):
            b, t, d = x.shape
            q = self.q(x).view(b, t, self.heads, self.head_dim).transpose(0, 2, 1, 3)
            k = self.k(x).view(b, t, self.heads, self.head_dim).transpose(0, 2, 3, 1)
            v = self.v(x).view(b, t, self.heads, self.head_dim).transpose(0, 2, 1, 3)
            attn = ops.softmax(ops.matmul(q, k) / self.head_dim**0.5, axis=-1)
            h = ops.matmul(attn, v).transpose(0, 2, 1, 3).reshape(b, t, d)
            return self.o(h)

    class EncoderLayer(nn.Cell):
        def __init__(self, hidden=64, ff=128, p=0.1):
            super().__init__()
            self.attention = SelfAttention(hidden)
            self.ln1 = nn.LayerNorm((hidden,), epsilon=1e-5)
            self.ln2 = nn.LayerNorm((hidden,), epsilon=1e-5)
            self.ff1 = nn.Dense(hidden, ff)
            self.act = nn.GELU(approximate=False)
            self.ff2 = nn.Dense(ff, hidden)
            self.drop = nn.Dropout(p=p)

        def construct(self, x):
            x = self.ln1(x + self.drop(self.attention(x)))
            return self.ln2(x + self.drop(self.ff2(self.act(self.ff1(x)))))

    class MindSporeModel(nn.Cell):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 64)
            self.layers = nn.CellList([EncoderLayer() for _ in range(2)])
            self.pooler = nn.Dense(64, 64, activation="tanh")

        def construct(self, ids):
            x = self.embed(ids)
            for layer in self.layers:
                x = layer(x)
            return self.pooler(x[:, 0])

    return MindSporeModel()


def ms_resnet():
    from mindspore import nn, ops

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-5, momentum=0.9)

    class BasicBlock(nn.Cell):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, pad_mode="pad", padding=1, has_bias=False)
            self.bn1 = bn(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, pad_mode="pad", padding=1, has_bias=False)
            self.bn2 = bn(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.SequentialCell(nn.Conv2d(cin, cout, 1, stride=stride, has_bias=False), bn(cout))

        def construct(self, x):
            identity = x
            if self.downsample is not None:
                identity = self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class MindSporeModel(nn.Cell):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, pad_mode="pad", padding=1, has_bias=False)
            self.bn1 = bn(16)
            self.relu = nn.ReLU()
            self.layer1 = nn.SequentialCell(BasicBlock(16, 16), BasicBlock(16, 16))
            self.layer2 = nn.SequentialCell(BasicBlock(16, 32, 2), BasicBlock(32, 32))
            self.layer3 = nn.SequentialCell(BasicBlock(32, 64, 2), BasicBlock(64, 64))
            self.fc = nn.Dense(64, 10)

        def construct(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(ops.mean(x, (2, 3)))

    return MindSporeModel()


MODELS = {"bert": (torch_bert, ms_bert), "resnet": (torch_resnet, ms_resnet)}

# torch parameter-name endings -> MindSpore's
_RENAMES = (("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def load_torch_weights(net, torch_model) -> None:
    """Give the hand-written Cell the torch weights, by name (LayerNorm/BatchNorm weight -> gamma, ...)."""
    import mindspore as ms

    params = net.parameters_dict()
    out = {}
    for name, value in torch_model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        target = name
        for old, new in _RENAMES:
            target = target.replace(old, new)
        if target not in params:
            stem = target.rsplit(".", 1)[0]
            for old, new in (("weight", "gamma"), ("bias", "beta"), ("weight", "embedding_table")):
                if target.endswith(old) and f"{stem}.{new}" in params:
                    target = f"{stem}.{new}"
                    break
        out[target] = ms.Parameter(ms.Tensor(value.detach().numpy()), name=target)
    missing, unused = ms.load_param_into_net(net, out, strict_load=True)
    if missing or unused:
        raise RuntimeError(f"weights do not match the hand-written network: missing {missing}, unused {unused}")
    net.set_train(False)


def median_ms(fns: dict, arg, runs: int, warmup: int = 3) -> dict[str, float]:
    """Median milliseconds of each fn(arg), its result brought to the host, after `warmup` calls.

    The calls are interleaved (one of each per round), so the shared machine's load swings hit every
    network alike and the ratios stay meaningful.
    """

    def call(fn):
        result = fn(arg)
        return result if isinstance(result, list) else result.asnumpy()  # onnxruntime returns numpy already

    for _ in range(warmup):
        for fn in fns.values():
            call(fn)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            call(fn)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def measure(name: str, runs: int, work: Path, modes: tuple[str, ...] = ("pynative", "graph")) -> dict:
    import mindspore as ms
    import onnxruntime as ort
    import torch

    from mindconverter.runtime_check.mindspore_run import build_network

    make_torch, make_ms = MODELS[name]
    torch.manual_seed(0)
    source, x = make_torch()
    source.eval()
    onnx_path = work / f"{name}.onnx"
    torch.onnx.export(source, (torch.from_numpy(x),), str(onnx_path), input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}})
    out = work / f"out_{name}"
    subprocess.run([sys.executable, "-m", "mindconverter", "--model_file", str(onnx_path), "--check", "off",
                    "--output", str(out), "--overwrite", "-q"], check=True)
    row = {"model": name}
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x})[0]
    row["onnxruntime_ms"] = median_ms({"ort": lambda feed: session.run(None, feed)}, {"input": x}, runs)["ort"]
    for mode in modes:
        ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
        converted, missing, unused = build_network(out / f"{name}.py", out / f"{name}.ckpt")
        if missing or unused:
            raise RuntimeError(f"{name}: the checkpoint does not match the converted network")
        hand = make_ms()
        load_torch_weights(hand, source)
        tensor = ms.Tensor(x)
        a, b = converted(tensor).asnumpy(), hand(tensor).asnumpy()
        err = float(max(np.abs(a - b).max(), np.abs(a - expected).max()))
        if err > 1e-3:
            raise RuntimeError(f"{name} {mode}: converted and hand-written networks differ by {err}")
        timings = median_ms({"converted": converted, "hand": hand}, tensor, runs)
        row[f"{mode}_converted_ms"], row[f"{mode}_hand_ms"] = timings["converted"], timings["hand"]
        row[f"{mode}_ratio"] = row[f"{mode}_converted_ms"] / row[f"{mode}_hand_ms"]
        row[f"{mode}_max_abs_diff"] = err
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 runs per measurement")
    parser.add_argument("--modes", nargs="+", choices=("pynative", "graph"), default=["pynative", "graph"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    runs = 10 if args.quick else args.runs
    work = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    print(f"{'model':>7} {'ort ms':>7} {'PyN conv':>8} {'PyN hand':>8} {'ratio':>8} {'GR conv':>8} {'GR hand':>8} {'ratio':>8}")
    rows = []
    for name in args.models:
        r = measure(name, runs, work, tuple(args.modes))
        rows.append(r)
        cells = " ".join(f"{r.get(f'{m}_{k}', float('nan')):>8.2f}" for m in ("pynative", "graph")
                         for k in ("converted_ms", "hand_ms", "ratio"))
        print(f"{name:>7} {r['onnxruntime_ms']:>7.2f} {cells}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "inference.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
