"""Cost of `--check each` relative to a conversion without checks (and to `--check end`).

    .venv/bin/python benchmarks/check_each.py [--models resnet50 squeezenet] [--repeat 1]

Converts each model (default: the ONNX package's light ResNet-50: the real graph, 50 conv layers,
with light weights) three times in this process — `--check off`, `end`, `each` — after one warm-up
conversion (imports, MindSpore start-up), and prints the wall times and the ratio each/off. The
issue's budget is each/off <= 3.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import onnx


def light_path(name: str) -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50"])
    parser.add_argument("--repeat", type=int, default=1, help="conversions per mode (the best time counts)")
    args = parser.parse_args()

    from mindconverter.api import convert

    def run(path: Path, check: str) -> tuple[float, dict]:
        best, report = float("inf"), {}
        for _ in range(args.repeat):
            out = Path(tempfile.mkdtemp(prefix="bench_check_"))
            start = time.perf_counter()
            result = convert(path, output=out, check=check)
            best = min(best, time.perf_counter() - start)
            report = result.report
        return best, report

    print(f"{'model':12} {'off (s)':>8} {'end (s)':>8} {'each (s)':>9} {'each/off':>9} {'each/end':>9} {'stages':>7}")
    for name in args.models:
        path = light_path(name) if not name.endswith(".onnx") else Path(name)
        run(path, "off")  # warm-up
        t_off, _ = run(path, "off")
        t_end, _ = run(path, "end")
        t_each, report = run(path, "each")
        checked = sum(1 for s in report["stages"] if s["status"] in ("passed", "failed"))
        print(f"{path.stem:12} {t_off:8.2f} {t_end:8.2f} {t_each:9.2f} {t_each / t_off:9.2f} {t_each / t_end:9.2f} "
              f"{checked:>3}/{len(report['stages']):<3}", flush=True)


if __name__ == "__main__":
    main()
