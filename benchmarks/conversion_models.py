"""Conversion time against the I/O floor for the models the tests convert (each as a whole process).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/conversion_models.py [--models light_resnet50 bert ...] [--runs 2]

Models: the nine light models of the ONNX package and the Keras MobileNet fixture (tests/golden), the
torch ResNet-50 of the goldens, the dynamic tiny BERT and GPT-2 of tests/dynamic_models.py, and the
torch families of tests/torch_families.py and tests/torch_models.py, exported as pytorch2mindspore
exports them (frontend/torch.export_module). Exports are made first and not timed.

Per model, alternating so load swings hit both alike (`--runs` each, the minimum kept):
- `mindconverter --model_file M --check off` (the conversion),
- the I/O floor: `onnx.load` of M plus `mindspore.save_checkpoint` of its weights (`FLOOR` below).
Prints source nodes, seconds, the ratio, the in-process stages (frontend, passes, backend, from the
report) and the fixed cost of a conversion process: starting Python and importing what a conversion
imports (the frontend, the passes, the backend; no work).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "models"), str(Path(__file__).resolve().parent)]


#: The I/O floor: `onnx.load`, then `mindspore.save_checkpoint` of the weights. The light models of the
#: ONNX package hold their weights as ConstantOfShape nodes (a shape and a fill value), not as
#: initializers: those weights are filled here too, so the floor writes what the conversion writes.
FLOOR = """
import sys
import numpy as np
import onnx
from onnx import numpy_helper
import mindspore as ms
model = onnx.load(sys.argv[1])
arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
params = [{"name": k, "data": ms.Tensor(v)} for k, v in arrays.items()]
for node in model.graph.node:
    if node.op_type == "ConstantOfShape" and node.input[0] in arrays:
        fill = [numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"] or [np.zeros(1, np.float32)]
        params.append({"name": node.output[0], "data": ms.Tensor(np.full(tuple(arrays[node.input[0]]), fill[0].flat[0]))})
ms.save_checkpoint(params, sys.argv[2])
"""


def _light(name: str) -> Callable[[Path], Path]:
    def path(work: Path) -> Path:
        from light_models import light_path

        return light_path(name)

    return path


def _keras(work: Path) -> Path:
    return ROOT / "tests" / "fixtures" / "keras_mobilenet_tiny.onnx"


def _torch_resnet50(work: Path) -> Path:
    from test_readable_resnet import build_resnet, export

    path = work / "torch_resnet50.onnx"
    export(build_resnet(), (1, 3, 64, 64), path)
    return path


def _transformer(which: str) -> Callable[[Path], Path]:
    def path(work: Path) -> Path:
        import dynamic_models

        return dynamic_models.export_transformer(getattr(dynamic_models, f"tiny_{which}")(), work / f"{which}.onnx")

    return path


def _family(name: str) -> Callable[[Path], Path]:
    def path(work: Path) -> Path:
        from mindconverter.frontend.torch import export_module

        if name in ("resnet_style", "mlp"):
            import torch
            import torch_models

            model, shape = getattr(torch_models, name)()
            torch.manual_seed(0)
            args, kw = (torch.randn(*shape),), {}
        else:
            from torch_families import FAMILIES

            model, args, kw = FAMILIES[name]()
        out = work / f"{name}.onnx"
        export_module(model, args, out, dynamic_axes=kw.get("dynamic_axes"), dynamic=kw.get("dynamic", False))
        return out

    return path


LIGHT = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
         "vgg19", "zfnet512")
FAMILIES = ("resnet_style", "mlp", "lstm", "gru", "transformer_encoder", "gpt2_lm_head", "vit", "t5_encoder",
            "mobilenet_v3", "efficientnet")
MODELS: dict[str, Callable[[Path], Path]] = {
    **{f"light_{n}": _light(n) for n in LIGHT},
    "keras_mobilenet_tiny": _keras,
    "torch_resnet50": _torch_resnet50,
    "bert": _transformer("bert"),
    "gpt2": _transformer("gpt2"),
    **{n: _family(n) for n in FAMILIES},
}


STARTUP = """
import mindconverter.api, mindconverter.driver, mindconverter.frontend.onnx, mindconverter.backend.cell_writer
from mindconverter.passes.manager import load_builtin_passes
load_builtin_passes()
"""


def _seconds(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def measure(name: str, model: Path, work: Path, runs: int) -> dict:
    import onnx

    out = work / f"out_{name}"
    convert = [sys.executable, "-m", "mindconverter", "--model_file", str(model), "--check", "off", "--output",
               str(out), "--overwrite", "-q", "--allow-unsupported"]
    floor = [sys.executable, "-c", FLOOR, str(model), str(work / f"floor_{name}.ckpt")]
    times: dict[str, list[float]] = {"convert": [], "floor": []}
    for _ in range(runs):
        times["convert"].append(_seconds(convert))
        times["floor"].append(_seconds(floor))
    report = json.loads((out / f"report_of_{model.stem}.json").read_text())
    nodes = len(onnx.load(str(model), load_external_data=False).graph.node)
    row = {"model": name, "nodes": nodes, "convert_s": min(times["convert"]), "floor_s": min(times["floor"]),
           "ckpt_mb": (out / f"{model.stem}.ckpt").stat().st_size / 1e6,
           "floor_ckpt_mb": (work / f"floor_{name}.ckpt").stat().st_size / 1e6}
    row["ratio"] = row["convert_s"] / row["floor_s"]
    row["stages"] = {k: v for k, v in report["timings_s"].items() if k in ("frontend", "passes", "backend")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--runs", type=int, default=2, help="runs of each process per model (the minimum is kept)")
    parser.add_argument("--keep", metavar="DIR", help="keep the models and outputs in DIR")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_models_"))
    work.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = {name: MODELS[name](work) for name in args.models}
    start = min(_seconds([sys.executable, "-c", STARTUP]) for _ in range(args.runs))
    print(f"process start and the imports of a conversion: {start:.2f} s")
    print(f"{'model':>22} {'nodes':>6} {'convert s':>9} {'floor s':>8} {'ratio':>6} {'ckpt MB':>8} {'floor MB':>8}"
          "  in-process stages (s)")
    rows = []
    for name, path in paths.items():
        r = measure(name, path, work, args.runs)
        rows.append(r)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        print(f"{name:>22} {r['nodes']:>6} {r['convert_s']:>9.2f} {r['floor_s']:>8.2f} {r['ratio']:>6.2f} "
              f"{r['ckpt_mb']:>8.1f} {r['floor_ckpt_mb']:>8.1f}  {stages}", flush=True)
    print(f"largest ratio: {max(r['ratio'] for r in rows):.2f} ({max(rows, key=lambda r: r['ratio'])['model']})")
    if args.json:
        args.json.write_text(json.dumps({"start_s": start, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
