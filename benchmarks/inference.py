"""Latency of converted networks against hand-written MindSpore networks with the same weights.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/inference.py [--models bert resnet resnet50 mobilenet_v2]
                                                             [--runs 30] [--image-size 64] [--quick]

Per model, in one process and on one input: a torch source with random weights is exported to ONNX
and converted (`--check off`), and a hand-written MindSpore definition of the same architecture gets
the same weights:
- `bert`, `resnet`: small networks hand-written here (the BERT-style encoder of
  ../shared/target-output.md, a BasicBlock ResNet), given the torch weights by name;
- `resnet50`, `mobilenet_v2`: mindcv's own networks (`pip install mindconverter[bench]`) against
  torchvision's definitions (benchmarks/zoo.py) exported with BatchNorm kept, so both networks compute
  the same layers; mindcv's net gets the converted checkpoint's values, paired by order and shape.
Both run in PYNATIVE and in GRAPH mode: the median latency of `--runs` calls after warm-up (GRAPH
compiles on the first call), interleaved, and onnxruntime on the ONNX model for context. The outputs
of the two MindSpore networks are compared first, so the timings are of networks that compute the
same thing. Read ratios, not milliseconds: the machine is shared. Writes `inference.json` into `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Image side for the mindcv comparison. MindSpore's CPU convolutions are slow (mindcv's own ResNet-50 takes
#: ~27 s per 224 x 224 image here under load, MobileNetV2 ~2-4 s), so the networks run on smaller images.
IMAGE_SIZE = 64

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


# --- mindcv's hand-written networks (pip install mindconverter[bench]) against torchvision-style sources --

def torch_zoo(name: str, size: int):
    """zoo model `name` (torchvision's definition, random weights) on a `size` x `size` image."""
    import zoo

    model, _ = zoo.MODELS[name]()
    return model, np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)


def mindcv_resnet50():
    from mindcv.models import resnet50
    from mindspore import nn

    net = resnet50(pretrained=False)
    # mindcv pools with pad_mode="same" (one row/column of padding, bottom/right only); torchvision pads
    # one on every side. Same op, same cost; only the padding differs, and the outputs must match.
    net.max_pool = nn.MaxPool2d(3, stride=2, pad_mode="pad", padding=1)
    return net


def mindcv_mobilenet_v2():
    from mindcv.models import mobilenet_v2_100

    return mobilenet_v2_100(pretrained=False)


def load_by_order(net, converted) -> None:
    """Give `net` the converted network's weights: parameters paired in definition order.

    The two networks name their layers differently (mindcv's `down_sample`, `classifier`), but define
    them in the same order; each pair must agree in shape and in kind (weight, bias, gamma, ...).
    """
    import mindspore as ms

    ours, theirs = list(converted.parameters_and_names()), list(net.parameters_and_names())
    if len(ours) != len(theirs):
        raise RuntimeError(f"{len(ours)} converted parameters against {len(theirs)} in {type(net).__name__}")
    values = {}
    for (src, p), (dst, q) in zip(ours, theirs, strict=True):
        if p.shape != q.shape or src.rsplit(".", 1)[-1] != dst.rsplit(".", 1)[-1]:
            raise RuntimeError(f"converted {src} {p.shape} does not pair with {dst} {q.shape}")
        values[dst] = ms.Parameter(p.value(), name=dst)
    missing, unused = ms.load_param_into_net(net, values, strict_load=True)
    if missing or unused:
        raise RuntimeError(f"weights do not match {type(net).__name__}: missing {missing}, unused {unused}")
    net.set_train(False)


def load_by_name(net, source, converted) -> None:
    del converted  # the hand-written networks here use the torch names
    load_torch_weights(net, source)


@dataclass(frozen=True)
class Case:
    """A torch source (module, input), its hand-written MindSpore network, and how the latter gets the weights."""

    source: Callable
    hand: Callable
    load: Callable = load_by_name  # (hand, torch source, converted network)
    keep_batchnorm: bool = False  # export without constant folding, so the converted network has BatchNorm too
    quick_runs: int = 10  # runs with --quick


MODELS = {
    "bert": Case(torch_bert, ms_bert),
    "resnet": Case(torch_resnet, ms_resnet),
    "resnet50": Case(lambda: torch_zoo("resnet50", IMAGE_SIZE), mindcv_resnet50,
                     lambda net, _, converted: load_by_order(net, converted), keep_batchnorm=True,
                     quick_runs=5),
    "mobilenet_v2": Case(lambda: torch_zoo("mobilenet_v2", IMAGE_SIZE), mindcv_mobilenet_v2,
                         lambda net, _, converted: load_by_order(net, converted), keep_batchnorm=True,
                         quick_runs=5),
}

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


def median_ms(fns: dict, arg, runs: int, warmup: int = 3) -> dict[str, tuple[float, float]]:
    """Median wall and CPU milliseconds of each fn(arg), its result brought to the host, after `warmup` calls.

    The calls are interleaved (one of each per round), so the shared machine's load swings hit every
    network alike and the ratios stay meaningful. CPU time (this process, all its threads) moves less
    under load than wall time; it also counts the kernels' threads spinning while they wait.
    """

    def call(fn):
        result = fn(arg)
        return result if isinstance(result, list) else result.asnumpy()  # onnxruntime returns numpy already

    for _ in range(warmup):
        for fn in fns.values():
            call(fn)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start, cpu = time.perf_counter(), time.process_time()
            call(fn)
            times[name].append((time.perf_counter() - start, time.process_time() - cpu))
    return {name: tuple(1000 * statistics.median(x[i] for x in t) for i in (0, 1)) for name, t in times.items()}


def measure(name: str, runs: int, work: Path, modes: tuple[str, ...] = ("pynative", "graph")) -> dict:
    import mindspore as ms
    import onnxruntime as ort
    import torch

    from mindconverter.runtime_check.mindspore_run import build_network

    case = MODELS[name]
    torch.manual_seed(0)
    source, x = case.source()
    source.eval()
    onnx_path = work / f"{name}.onnx"
    torch.onnx.export(source, (torch.from_numpy(x),), str(onnx_path), input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}},
                      do_constant_folding=not case.keep_batchnorm)
    out = work / f"out_{name}"
    subprocess.run([sys.executable, "-m", "mindconverter", "--model_file", str(onnx_path), "--check", "off",
                    "--output", str(out), "--overwrite", "-q"], check=True)
    row = {"model": name}
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x})[0]
    row["onnxruntime_ms"] = median_ms({"ort": lambda feed: session.run(None, feed)}, {"input": x}, runs)["ort"][0]
    for mode in modes:
        ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
        converted, missing, unused = build_network(out / f"{name}.py", out / f"{name}.ckpt")
        if missing or unused:
            raise RuntimeError(f"{name}: the checkpoint does not match the converted network")
        hand = case.hand()
        case.load(hand, source, converted)
        tensor = ms.Tensor(x)
        a, b = converted(tensor).asnumpy(), hand(tensor).asnumpy()
        err = float(max(np.abs(a - b).max(), np.abs(a - expected).max()))
        if err > 1e-3:
            raise RuntimeError(f"{name} {mode}: converted and hand-written networks differ by {err}")
        timings = median_ms({"converted": converted, "hand": hand}, tensor, runs)
        row[f"{mode}_converted_ms"], row[f"{mode}_converted_cpu_ms"] = timings["converted"]
        row[f"{mode}_hand_ms"], row[f"{mode}_hand_cpu_ms"] = timings["hand"]
        row[f"{mode}_ratio"] = row[f"{mode}_converted_ms"] / row[f"{mode}_hand_ms"]
        row[f"{mode}_cpu_ratio"] = row[f"{mode}_converted_cpu_ms"] / row[f"{mode}_hand_cpu_ms"]
        row[f"{mode}_max_abs_diff"] = err
    return row


def main() -> None:
    global IMAGE_SIZE  # noqa: PLW0603 - read by the mindcv cases' sources
    nan = float("nan")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 runs per measurement, 5 for the mindcv models")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="image side for resnet50 and mobilenet_v2")
    parser.add_argument("--modes", nargs="+", choices=("pynative", "graph"), default=["pynative", "graph"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    IMAGE_SIZE = args.image_size
    work = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    print(f"{'model':>12} {'ort ms':>7} {'PyN conv':>8} {'PyN hand':>8} {'ratio':>6} {'cpu':>5} "
          f"{'GR conv':>8} {'GR hand':>8} {'ratio':>6} {'cpu':>5}")
    rows = []
    for name in args.models:
        runs = MODELS[name].quick_runs if args.quick else args.runs
        r = measure(name, runs, work, tuple(args.modes))
        rows.append(r)
        cells = " ".join(f"{r.get(f'{m}_converted_ms', nan):>8.2f} {r.get(f'{m}_hand_ms', nan):>8.2f} "
                         f"{r.get(f'{m}_ratio', nan):>6.2f} {r.get(f'{m}_cpu_ratio', nan):>5.2f}"
                         for m in ("pynative", "graph"))
        print(f"{name:>12} {r['onnxruntime_ms']:>7.2f} {cells}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "inference.json").write_text(json.dumps(rows, indent=1) + "\n")  # a stopped run keeps its rows


if __name__ == "__main__":
    main()
