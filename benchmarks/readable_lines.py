"""How much shorter the structured script is than the flat one, per model: classes and lines.

    .venv/bin/python benchmarks/readable_lines.py [--models squeezenet resnet50] [--keras] [--torch]
        [--families] [--transformers] [--pb] [--all]

Covers every model the test suite converts to a script, in groups:
- (default) the ONNX package's light models (no source scopes: the hierarchy comes from structural hashing);
- `--keras`: the Keras fixture of tests/fixtures (tf2onnx names);
- `--torch`: the torch models of the readable-code and torch-model tests, exported as the tests do
  (ResNet-50, the ViT with `encoder_layer_{i}` blocks, the DenseNet, the TinyBert encoder, the attention
  block with a mask, the BasicBlock ResNet and the MLP; torch scopes);
- `--families`: tests/torch_families.py through `pytorch2mindspore` (torch class names);
- `--transformers`: transformers BERT and GPT-2 (dynamic batch and sequence) and the windowed-attention block;
- `--pb`: the TensorFlow graphs of tests/tf_models.py, frozen as the PB tests do (needs tensorflow);
- `--all`: every group.
Each model is converted twice without the parity check: with the default pipeline, and with
`structure-modules` skipped (one flat class). Prints non-blank lines of both scripts, their ratio,
the lines of the hand-written MindSpore definition a test compares with (where there is one), and the
classes of the structured script with their instance counts. Not run by CI.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from light_models import MODELS, light_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
FLAT = ("structure-modules",)


@dataclass
class Case:
    """A model of the test suite: `convert(out, structured)` writes its script and returns the script's path."""

    name: str
    convert: Callable[[Path, bool], Path]
    hand: int | None = None  # non-blank lines of the hand-written definition a test compares with


def lines(script: Path) -> int:
    return sum(1 for line in script.read_text().splitlines() if line.strip())


def classes(code: str) -> str:
    """The generated classes with their instance counts: as the class docstring states them (`(16 instances)`,
    one when it names one source module), else counted from the calls (a class used by another counts once
    per instance of it; `[Block() for _ in range(3)]` is 3, a count given by an argument once)."""
    names = re.findall(r"^class (\w+)\(nn\.Cell\):", code, re.M)
    starts = [m.start() for m in re.finditer(r"^class \w+\(nn\.Cell\):", code, re.M)] + [len(code)]
    bodies = {name: code[starts[i]:starts[i + 1]] for i, name in enumerate(names)}

    def uses(name: str, body: str) -> int:
        loops = re.findall(rf"\b{name}\([^()]*\)\s*for\s+\w+\s+in\s+range\(\s*(\w+)", body)
        single = len(re.findall(rf"(?<!class )\b{name}\(", body)) - len(loops)
        return single + sum(int(n) if n.isdigit() else 1 for n in loops)

    counts: dict[str, int] = {names[-1]: 1} if names else {}
    for name in reversed(names[:-1]):  # a class is defined before the classes that use it
        doc = re.search(r'"""[^"]* in the source model(?: \((\d+) instances\))?\."""', bodies[name])
        counts[name] = int(doc.group(1) or 1) if doc else sum(
            uses(name, body) * counts.get(other, 0) for other, body in bodies.items() if other != name)
    return ", ".join(f"{name} x{counts[name]}" for name in names[:-1]) or "(flat)"


def onnx_case(path: Path, hand: int | None = None, *extra: str) -> Case:
    """A model file converted with the command line (`extra`: its --input_nodes, --shape ...)."""

    def convert(out: Path, structured: bool) -> Path:
        from mindconverter.cli import main

        skip = [] if structured else ["--skip-pass", *FLAT]
        code = main(["--model_file", str(path), "--output", str(out), "--check", "off", "-q", *extra, *skip])
        if code != 0:
            raise SystemExit(f"{path.name}: mindconverter exited {code}")
        return out / f"{path.stem}.py"

    return Case(path.stem, convert, hand)


def torch_case(name: str, build: Callable[[], tuple]) -> Case:
    """A live module `(model, dummy inputs, keywords) = build()` converted with pytorch2mindspore."""

    def convert(out: Path, structured: bool) -> Path:
        from mindconverter import pytorch2mindspore

        model, inputs, options = build()
        result = pytorch2mindspore(model, inputs, out, name=name, check="off",
                                   skip_passes=() if structured else FLAT, **options)
        return result.script

    return Case(name, convert)


def light_cases(work: Path, names) -> list[Case]:
    from models.test_light_models import with_random_weights

    return [onnx_case(with_random_weights(light_path(m), work / f"{m}.onnx")) for m in names]


def torch_cases(work: Path) -> list[Case]:
    """The torch models of tests/models/test_readable_*.py and test_torch_models.py, exported as the tests do."""
    import torch
    import torch_models
    from models import test_readable_attention as attention
    from models import test_readable_bert as bert
    from models import test_readable_blocks as blocks
    from models import test_readable_resnet as resnet

    resnet.export(resnet.build_resnet(), (1, 3, 64, 64), work / "torch_resnet50.onnx")
    out = [onnx_case(work / "torch_resnet50.onnx", resnet.HAND_WRITTEN_RESNET50_LINES)]
    for name, model, hand in (("torch_vit", blocks.ViT, blocks.HAND_WRITTEN_VIT),
                              ("torch_densenet", blocks.DenseNet, blocks.HAND_WRITTEN_DENSENET)):
        torch.manual_seed(0)
        path = work / f"{name}.onnx"
        torch.onnx.export(model().eval(), (torch.randn(2, 3, 16, 16),), str(path), opset_version=17, dynamo=False,
                          do_constant_folding=False, input_names=["input"], output_names=["output"])
        out.append(onnx_case(path, blocks.code_lines(hand)))
    bert.export(bert.build_bert(), work / "torch_tinybert.onnx")
    attention.export(attention.Block(sdpa=False).eval(), work / "torch_attention_block.onnx", with_mask=True)
    out += [onnx_case(work / "torch_tinybert.onnx"), onnx_case(work / "torch_attention_block.onnx")]
    for name, (model, shape) in (("torch_resnet_basic", torch_models.resnet_style()), ("torch_mlp", torch_models.mlp())):
        out.append(onnx_case(torch_models.export(model, shape, work / f"{name}.onnx", 17)))
    return out


def family_cases() -> list[Case]:
    import torch_families

    return [torch_case(f"family_{name}", build) for name, build in torch_families.FAMILIES.items()]


def transformer_cases(work: Path) -> list[Case]:
    import dynamic_models as dm

    out = [onnx_case(dm.export_transformer(build(), work / f"transformers_{name}.onnx"))
           for name, build in (("bert", dm.tiny_bert), ("gpt2", dm.tiny_gpt2))]
    path = dm.export_static(dm.window_attention_block(), (1, 6, 7, 16), work / "window_attention.onnx")
    return [*out, onnx_case(path)]


def pb_cases(work: Path) -> list[Case]:
    """The TensorFlow graphs of tests/models/test_pb_models.py, frozen with the TF2 and TF1 recipes."""
    import tf_models

    out = []
    for name, build, shape in (("keras_cnn", tf_models.keras_cnn, (None, 16, 16, 3)),
                               ("keras_mlp", tf_models.keras_mlp, (None, 10)),
                               ("keras_transformer", tf_models.keras_transformer, (None, 6, 16))):
        pb = work / f"{name}.pb"
        ins, outs = tf_models.freeze_tf2(build(), pb, shape)
        fixed = ",".join(str(d or 2) for d in shape)
        out.append(onnx_case(pb, None, "--input_nodes", *ins, "--output_nodes", *outs, "--shape", fixed))
    pb = work / "tf1_cnn.pb"
    ins, outs = tf_models.freeze_tf1(tf_models.tf1_cnn, pb)
    out.append(onnx_case(pb, None, "--input_nodes", f"{ins[0]}:0", "--output_nodes", *outs, "--shape", "2,12,12,3"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=MODELS, help="light models (none: `--models` alone)")
    for group, what in (("keras", "the Keras fixture of tests/fixtures"), ("torch", "the torch models of the tests"),
                        ("families", "tests/torch_families.py through pytorch2mindspore"),
                        ("transformers", "transformers BERT and GPT-2, the windowed attention"),
                        ("pb", "the TensorFlow graphs of the PB tests"), ("all", "every group")):
        parser.add_argument(f"--{group}", action="store_true", help=f"also {what}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="readable_lines."))
    cases = light_cases(work, args.models)
    if args.keras or args.all:
        cases.append(onnx_case(ROOT / "tests" / "fixtures" / "keras_mobilenet_tiny.onnx"))
    if args.torch or args.all:
        cases += torch_cases(work)
    if args.families or args.all:
        cases += family_cases()
    if args.transformers or args.all:
        cases += transformer_cases(work)
    if args.pb or args.all:
        cases += pb_cases(work)
    print(f"{'model':28} {'flat':>6} {'structured':>10} {'ratio':>6} {'hand':>5}  classes")
    for case in cases:
        flat = lines(case.convert(work / "flat" / case.name, False))
        script = case.convert(work / "structured" / case.name, True)
        structured = lines(script)
        hand = f"{case.hand:5d}" if case.hand else f"{'-':>5}"
        print(f"{case.name:28} {flat:6d} {structured:10d} {structured / flat:6.2f} {hand}  {classes(script.read_text())}",
              flush=True)


if __name__ == "__main__":
    main()
