"""Shared test helpers: build tiny ONNX models and check the generated MindSpore code against onnxruntime."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODES = ("pynative", "graph")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tiny_convnet.onnx"
LIGHT_MODELS = (
    "bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
    "shufflenet", "squeezenet", "vgg19", "zfnet512",
)


def light_model_path(name: str) -> Path:
    """One of the nine models shipped in the ONNX package (onnx/backend/test/data/light)."""
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"


def make_model(
    nodes: list[onnx.NodeProto],
    inputs: dict[str, tuple[np.dtype | int, tuple]],
    outputs: list[str],
    initializers: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    extra_opsets: dict[str, int] | None = None,
) -> onnx.ModelProto:
    """A one-graph model; `inputs` maps names to (numpy dtype, shape); output types are inferred.

    `extra_opsets` declares other domains (e.g. {"com.example": 1}) for custom ops.
    """
    ins = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), list(shape))
        for n, (dt, shape) in inputs.items()
    ]
    outs = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in outputs]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in (initializers or {}).items()]
    graph = helper.make_graph(nodes, "test", ins, outs, inits)
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = min(model.ir_version, 8 if opset <= 17 else model.ir_version)
    # onnx>=1.23's checker rejects outputs without a shape: let shape inference fill the output types.
    model = onnx.shape_inference.infer_shapes(model)
    if not extra_opsets:  # the checker rejects ops of domains it has no schema for
        onnx.checker.check_model(model)
    return model


def random_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs for a model with static input shapes."""
    rng = np.random.default_rng(seed)
    init = {i.name for i in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value for d in tt.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[vi.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[vi.name] = rng.integers(-5, 6, shape).astype(dtype)
    return feeds


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_round_trips(module) -> None:
    """The module's IR text parses back to the same text (every model the tests convert is checked)."""
    from mindconverter.ir import parse, print_module

    text = print_module(module)
    again = print_module(parse(text, weights=module.weights))
    assert again == text, "IR text does not round-trip"


def convert_model(model: onnx.ModelProto, workdir: Path | None = None, passes: bool = True):
    """Run the conversion pipeline on an in-memory model; returns (Generated, script path, ckpt path).

    `passes=False` skips the pass pipeline, so emitters see ops that folding would otherwise remove.
    """
    from mindconverter.backend.cell_writer import generate
    from mindconverter.backend.checkpoint import write_checkpoint
    from mindconverter.frontend.onnx import load_onnx

    workdir = Path(workdir or tempfile.mkdtemp(prefix="mc_test_"))
    src = workdir / "model.onnx"
    onnx.save(model, src)
    source = load_onnx(src)
    try:
        from mindconverter.passes.manager import run_default_pipeline
    except ImportError:  # the pass manager is optional for emitter tests
        run_default_pipeline = None
    if passes and run_default_pipeline is not None:
        run_default_pipeline(source.module)
    assert_round_trips(source.module)
    gen = generate(source.module)
    script, ckpt = workdir / "model.py", workdir / "model.ckpt"
    script.write_text(gen.code)
    write_checkpoint(gen.checkpoint, ckpt)
    return gen, script, ckpt


def assert_parity(
    model: onnx.ModelProto,
    feeds: dict[str, np.ndarray] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    modes: tuple[str, ...] = MODES,
    expect_layers: tuple[str, ...] = (),
    passes: bool = True,
    reference=None,
) -> str:
    """Convert `model`, run the generated Cell in each mode and compare with the reference; returns the code.

    The reference is onnxruntime, or `reference(feeds) -> outputs` for cases onnxruntime does not implement.
    """
    from mindconverter.runtime_check.mindspore_run import run_network

    feeds = feeds if feeds is not None else random_inputs(model)
    expected = reference(feeds) if reference is not None else onnxruntime_outputs(model, feeds)
    gen, script, ckpt = convert_model(model, passes=passes)
    assert not gen.unsupported, f"unsupported ops: {gen.unsupported}\n{gen.code}"
    code = unwrap(gen.code)
    for layer in expect_layers:
        assert layer in code, f"expected {layer} in generated code:\n{gen.code}"
    inputs = [feeds[name] for name in _input_order(model)]
    for mode in modes:
        got = run_network(script, ckpt, inputs, mode)
        assert len(got) == len(expected), f"{mode}: {len(got)} outputs, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert g.shape == e.shape, f"{mode} output {i}: shape {g.shape} != {e.shape}\n{gen.code}"
            assert g.dtype == e.dtype, f"{mode} output {i}: dtype {g.dtype} != {e.dtype}\n{gen.code}"
            if e.dtype.kind in "biu":
                np.testing.assert_array_equal(g, e, err_msg=f"{mode} output {i}\n{gen.code}")
            else:
                np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{mode} output {i}\n{gen.code}")
    return code


_LITERALS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|#.*$')


def unwrap(code: str) -> str:
    """`code` with black's wrapping of long statements undone (one line per statement), so tests can look
    for a call as the emitter wrote it: `f(\n    a,\n    b,\n)` -> `f(a, b)`."""
    out: list[str] = []
    buf, depth = "", 0
    for line in code.split("\n"):
        part = line.strip() if buf else line
        if not buf:
            buf = part
        elif part.startswith((")", "]", "}")):
            buf = re.sub(r",\s*$", "", buf) + part
        elif buf.endswith(("(", "[", "{")):
            buf += part
        else:
            buf += " " + part
        bare = _LITERALS.sub("", part)
        depth += sum(bare.count(c) for c in "([{") - sum(bare.count(c) for c in ")]}")
        if depth <= 0:
            out.append(buf)
            buf, depth = "", 0
    return "\n".join(out + ([buf] if buf else []))


def _input_order(model: onnx.ModelProto) -> list[str]:
    init = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in init]


def check_generated_script(script: Path) -> None:
    """The generated script passes `ruff check` and imports without any warning."""
    import importlib.util
    import subprocess
    import sys
    import warnings

    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "E,F,W,B,UP,I", "--ignore", "E501", "--target-version", "py310", str(script)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"ruff check failed on {script}:\n{result.stdout}{result.stderr}"
    import mindspore  # noqa: F401 - imported first so only the script's own warnings are recorded

    spec = importlib.util.spec_from_file_location(f"generated_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec.loader.exec_module(module)
        module.MindSporeModel()
    own = [w for w in caught if "mindconverter" in str(w.filename) or str(script) in str(w.filename)]
    assert not own, [str(w.message) for w in own]


def convert_and_check(model_path: Path, out_dir: Path, *extra_args: str) -> tuple[dict, Path]:
    """Convert through the `mindconverter` command; assert exit 0, parity passed, script quality.

    Returns the parsed report_of_NAME.json and the script path. The check itself loads the
    checkpoint with strict load_param_into_net, so missing or unused keys fail it.
    """
    import json

    from mindconverter.cli import main

    code = main(["--model_file", str(model_path), "--output", str(out_dir), "-q", *extra_args])
    name = model_path.stem
    report_path = out_dir / f"report_of_{name}.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    assert code == 0, f"mindconverter exited {code}: {report.get('unsupported') or report.get('parity')}"
    assert report["unsupported"] == [] and report["parity"], report
    assert all(p["passed"] for p in report["parity"]), report["parity"]
    script = out_dir / f"{name}.py"
    check_generated_script(script)
    return report, script


_TORCH_CONVERSIONS: dict = {}


def converted_once(builders: dict, name: str, tmp_path_factory, needs_transformers: bool = False) -> tuple:
    """(module, ConversionResult, inputs) of pytorch2mindspore on `builders[name]()` (check_mode="both"), converted
    once per test session whichever test asks first."""
    import pytest

    from mindconverter import pytorch2mindspore

    if needs_transformers:
        pytest.importorskip("transformers")
    key = (id(builders), name)
    if key not in _TORCH_CONVERSIONS:
        model, inputs, options = builders[name]()
        result = pytorch2mindspore(model, inputs, tmp_path_factory.mktemp(name), check_mode="both", **options)
        _TORCH_CONVERSIONS[key] = model, result, inputs
    return _TORCH_CONVERSIONS[key]
