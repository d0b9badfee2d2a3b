"""How much shorter the structured script is than the flat one, per model: classes and lines.

    .venv/bin/python benchmarks/readable_lines.py [--models squeezenet resnet50] [--keras] [--torch]

For each of the ONNX package's light models (no source scopes: the hierarchy comes from structural
hashing), with --keras the Keras fixture (tf2onnx names), and with --torch the torch models the
readable-code tests export (ResNet-50, the ViT with `encoder_layer_{i}` blocks, the DenseNet; torch
scopes), converts twice without the parity check: with the default pipeline, and with
`structure-modules` skipped (one flat class). Prints non-blank lines of both scripts, their ratio,
the lines of the hand-written MindSpore definition the test compares with (torch models), and the
classes of the structured one with their instance counts.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from light_models import MODELS, light_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def lines(script: Path) -> int:
    return sum(1 for line in script.read_text().splitlines() if line.strip())


def classes(code: str) -> str:
    """The generated classes with their instance counts (a class used by another counts once per instance of it)."""
    names = re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)
    starts = [m.start() for m in re.finditer(r"^class \w+\(nn\.Cell\):", code, re.M)] + [len(code)]
    bodies = {name: code[starts[i]:starts[i + 1]] for i, name in enumerate(names)}

    def uses(name: str, body: str) -> int:
        repeated = sum(int(n) for n in re.findall(rf"\b{name}\([^()]*\) for _ in range\((\d+)\)", body))
        single = len(re.findall(rf"(?<!class )\b{name}\(", body)) - len(re.findall(rf"\b{name}\([^()]*\) for _ in range", body))
        return single + repeated

    counts: dict[str, int] = {names[-1]: 1} if names else {}
    for name in reversed(names[:-1]):  # a class is defined before the classes that use it
        counts[name] = sum(uses(name, body) * counts.get(other, 0) for other, body in bodies.items() if other != name)
    return ", ".join(f"{name} x{counts[name]}" for name in names[:-1]) or "(flat)"


def convert(model: Path, out: Path, *extra: str) -> Path:
    from mindconverter.cli import main

    code = main(["--model_file", str(model), "--output", str(out), "--check", "off", "-q", *extra])
    if code != 0:
        raise SystemExit(f"{model.name}: mindconverter exited {code}")
    return out / f"{model.stem}.py"


def torch_models(work: Path) -> list[tuple[Path, int | None]]:
    """The torch models of tests/models/test_readable_*.py, exported as the tests do, with hand-written line counts."""
    import torch
    from models import test_readable_blocks as blocks
    from models import test_readable_resnet as resnet

    resnet.export(resnet.build_resnet(), (1, 3, 64, 64), work / "torch_resnet50.onnx")
    out = [(work / "torch_resnet50.onnx", resnet.HAND_WRITTEN_RESNET50_LINES)]
    for name, model, hand in (("torch_vit", blocks.ViT, blocks.HAND_WRITTEN_VIT),
                              ("torch_densenet", blocks.DenseNet, blocks.HAND_WRITTEN_DENSENET)):
        torch.manual_seed(0)
        path = work / f"{name}.onnx"
        torch.onnx.export(model().eval(), (torch.randn(2, 3, 16, 16),), str(path), opset_version=17, dynamo=False,
                          do_constant_folding=False, input_names=["input"], output_names=["output"])
        out.append((path, blocks.code_lines(hand)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--keras", action="store_true", help="also the Keras fixture of tests/fixtures")
    parser.add_argument("--torch", action="store_true", help="also the torch models of the readable-code tests")
    args = parser.parse_args()
    from models.test_light_models import with_random_weights

    work = Path(tempfile.mkdtemp(prefix="readable_lines."))
    models = [with_random_weights(light_path(m), work / f"{m}.onnx") for m in args.models]
    hand: dict[Path, int | None] = {}
    if args.keras:
        models.append(ROOT / "tests" / "fixtures" / "keras_mobilenet_tiny.onnx")
    if args.torch:
        hand = dict(torch_models(work))
        models += list(hand)
    print(f"{'model':24} {'flat':>6} {'structured':>10} {'ratio':>6} {'hand':>5}  classes")
    for model in models:
        flat = lines(convert(model, work / "flat" / model.stem, "--skip-pass", "structure-modules"))
        script = convert(model, work / "structured" / model.stem)
        structured = lines(script)
        written = f"{hand[model]:5d}" if hand.get(model) else f"{'-':>5}"
        print(f"{model.stem:24} {flat:6d} {structured:10d} {structured / flat:6.2f} {written}  {classes(script.read_text())}")


if __name__ == "__main__":
    main()
