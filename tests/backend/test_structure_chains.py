"""Chains of layers of their own kind become nn.SequentialCell(OrderedDict(...)); class names from instance
kinds (`denselayer3` -> `DenseLayer`); a long OrderedDict laid out one layer per line; layer lists whose
arguments step as comprehensions."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from mindconverter.backend.calls import Call, argument_text
from mindconverter.backend.cell_writer import generate
from mindconverter.backend.hierarchy import _progression
from mindconverter.backend.kind_names import class_word
from mindconverter.backend.layout import hug_named_sequential
from mindconverter.ir import parse
from mindconverter.passes.testing import run_pass_on_text

T = "tensor<1x4xf32>"


def chain_ir(*scopes: str) -> str:
    """Relu then Sigmoid in each scope (`/stem/act/Relu`, `/stem/gate/Sigmoid`), the scopes one after the other."""
    lines, prev, n = [], "%x", 0
    for scope in scopes:
        for layer, op in (("act", "Relu"), ("gate", "Sigmoid")):
            lines.append(f'%{n} = "onnx.{op}"({prev}) : ({T}) -> {T} loc("/{scope}/{layer}/{op}")')
            prev, n = f"%{n}", n + 1
    lines.append(f'%{n} = "onnx.Neg"({prev}) : ({T}) -> {T} loc("/Neg")')
    body = "\n    ".join([*lines, f'"ir.return"(%{n}) : ({T}) -> ()'])
    return f"func @main(%x: {T}) -> {T} {{\n    {body}\n}}"


def structured(ir: str):
    text, _ = run_pass_on_text("structure-modules", ir)
    module = parse(text)
    module.attrs["opset"] = 17
    return module


def test_a_chain_of_layers_of_its_own_kind_is_an_ordered_dict_sequential_cell():
    gen = generate(structured(chain_ir("stem")))
    assert "class " not in gen.code.replace("class MindSporeModel(", ""), gen.code
    assert 'self.stem = nn.SequentialCell(OrderedDict([("act", nn.ReLU()), ("gate", nn.Sigmoid())]))' in gen.code
    assert gen.code.index("from collections import OrderedDict\n\nfrom mindspore import nn, ops") > 0, gen.code
    compile(gen.code, "model.py", "exec")


def test_chains_of_one_kind_share_a_class_and_a_chain_with_a_function_call_stays_a_class():
    code = generate(structured(chain_ir("stem", "head"))).code
    assert "OrderedDict" not in code and "class Stem(nn.Cell):" in code, code  # two instances: one class
    ir = chain_ir("stem").replace('loc("/Neg")', 'loc("/stem/Neg")')  # ops.neg in the cell: not a chain of layers
    code = generate(structured(ir)).code
    assert "OrderedDict" not in code and "class Stem(nn.Cell):" in code, code


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_ordered_dict_sequential_cell_runs_and_loads_its_checkpoint(tmp_path, mode):
    """MindSpore names an OrderedDict's layers after its keys: `stem.norm.gamma`, loaded with strict names."""
    from helpers import check_generated_script, unwrap

    from mindconverter.backend.checkpoint import write_checkpoint
    from mindconverter.runtime_check.mindspore_run import run_network

    # a BatchNorm (with weights) then a ReLU in scope `stem`, then a Neg outside it
    c = "tensor<4xf32>"
    x4 = "tensor<1x4x2x2xf32>"
    params = "\n    ".join(f'%{k} = "ir.param"() {{key = "stem.norm.{k}"}} : () -> {c}' for k in ("w", "b", "m", "v"))
    ir = f"""func @main(%x: {x4}) -> {x4} {{
    {params}
    %0 = "onnx.BatchNormalization"(%x, %w, %b, %m, %v) {{epsilon = 1e-05, momentum = 0.9}} : ({x4}, {c}, {c}, {c}, {c}) -> {x4} loc("/stem/norm/BatchNormalization")
    %1 = "onnx.Relu"(%0) : ({x4}) -> {x4} loc("/stem/relu/Relu")
    %2 = "onnx.Neg"(%1) : ({x4}) -> {x4} loc("/Neg")
    "ir.return"(%2) : ({x4}) -> ()
}}"""
    module = structured(ir)
    rng = np.random.default_rng(0)
    stats = {k: rng.uniform(0.5, 1.5, 4).astype(np.float32) for k in ("w", "b", "m", "v")}
    for k, array in stats.items():
        module.weights.set(f"stem.norm.{k}", array)
    gen = generate(module)
    assert 'self.stem = nn.SequentialCell(OrderedDict([("norm", nn.BatchNorm2d(4)), ("relu", nn.ReLU())]))' in unwrap(gen.code)
    assert {e.name for e in gen.checkpoint} == {f"stem.norm.{p}" for p in ("gamma", "beta", "moving_mean", "moving_variance")}
    script, ckpt = tmp_path / "model.py", tmp_path / "model.ckpt"
    script.write_text(gen.code)
    write_checkpoint(gen.checkpoint, ckpt)
    x = rng.standard_normal((1, 4, 2, 2)).astype(np.float32)
    shape = (1, 4, 1, 1)
    norm = (x - stats["m"].reshape(shape)) / np.sqrt(stats["v"].reshape(shape) + 1e-5)
    want = -np.maximum(norm * stats["w"].reshape(shape) + stats["b"].reshape(shape), 0)
    np.testing.assert_allclose(run_network(script, ckpt, [x], mode)[0], want, rtol=1e-5, atol=1e-6)
    check_generated_script(script)


@pytest.mark.parametrize(("word", "name"), [
    ("denselayer", "DenseLayer"), ("denseblock", "DenseBlock"), ("encoderlayer", "EncoderLayer"),
    ("selfattention", "SelfAttention"), ("transition", "Transition"),
    ("downsample", "Downsample"),  # `down` + `sample` and `downsample`: two ways, so left whole
    ("mbconv", "Mbconv"), ("fire", "Fire"), ("bn2d", "Bn2d"), ("SE", "SE"), ("layerX", "LayerX"),
])
def test_class_words_split_run_together_words_only_one_way(word, name):
    assert class_word(word) == name


def test_a_long_named_sequential_is_laid_out_one_layer_per_line_and_means_the_same():
    entries = ", ".join(f'("conv{i}", nn.Conv2d({i}, 8, 3, pad_mode="pad", padding=1))' for i in range(3))
    inner = 'nn.SequentialCell(OrderedDict([("norm", nn.BatchNorm2d(24)), ("relu", nn.ReLU()), ("conv", nn.Conv2d(24, 12, 1))]))'
    line = f'        self.features = nn.SequentialCell(OrderedDict([{entries}, ("transition1", {inner})]))'
    lines = hug_named_sequential(line, 100)
    assert lines == [
        "        self.features = nn.SequentialCell(OrderedDict([",
        '            ("conv0", nn.Conv2d(0, 8, 3, pad_mode="pad", padding=1)),',
        '            ("conv1", nn.Conv2d(1, 8, 3, pad_mode="pad", padding=1)),',
        '            ("conv2", nn.Conv2d(2, 8, 3, pad_mode="pad", padding=1)),',
        '            ("transition1", nn.SequentialCell(OrderedDict([',
        '                ("norm", nn.BatchNorm2d(24)),',
        '                ("relu", nn.ReLU()),',
        '                ("conv", nn.Conv2d(24, 12, 1)),',
        "            ]))),",
        "        ]))",
    ]
    assert ast.dump(ast.parse("\n".join(s.strip() for s in lines))) == ast.dump(ast.parse(line.strip()))
    assert hug_named_sequential(line[:99], 100) is None  # short enough
    assert hug_named_sequential("        x = " + "f(" * 60 + ")" * 60, 100) is None  # no named sequential


@pytest.mark.parametrize(("calls", "listed"), [
    ([Call("DenseLayer", [8]), Call("DenseLayer", [12]), Call("DenseLayer", [16])],
     "[DenseLayer(8 + 4 * i) for i in range(3)]"),
    ([Call("Block", [8, 2], {"stride": 1}), Call("Block", [16, 2], {"stride": 2})],
     "[Block(8 + 8 * i, 2, stride=1 + 1 * i) for i in range(2)]"),
    ([Call("Block", [8]), Call("Block", [12]), Call("Block", [20])], "[Block(8), Block(12), Block(20)]"),  # steps differ
    ([Call("Block", [8]), Call("Other", [12])], "[Block(8), Other(12)]"),
    ([Call("Block", [1.0]), Call("Block", [2.0])], "[Block(1.0), Block(2.0)]"),  # only integers step
    ([Call("Block", [True]), Call("Block", [False])], "[Block(True), Block(False)]"),
    ([Call("Block", [8]), Call("Block", [8])], "[Block(8), Block(8)]"),
])
def test_layer_lists_whose_arguments_step_are_comprehensions(calls, listed):
    assert argument_text(_progression(calls, "i")) == listed


def test_an_element_the_export_left_out_of_an_nn_sequential_is_an_identity_at_its_position():
    """torch drops `Dropout(0.0)` (`mlp.2`) from an export: `mlp.3` stays the fourth element, as in the source."""
    ir = f"""func @main(%x: {T}) -> {T} {{
    %0 = "onnx.Relu"(%x) : ({T}) -> {T} loc("/mlp/mlp.0/Relu")
    %1 = "onnx.Sigmoid"(%0) : ({T}) -> {T} loc("/mlp/mlp.1/Sigmoid")
    %2 = "onnx.Tanh"(%1) : ({T}) -> {T} loc("/mlp/mlp.3/Tanh")
    %3 = "onnx.Neg"(%2) : ({T}) -> {T} loc("/Neg")
    "ir.return"(%3) : ({T}) -> ()
}}"""
    code = generate(structured(ir)).code
    assert "self.mlp = nn.SequentialCell(nn.ReLU(), nn.Sigmoid(), nn.Identity(), nn.Tanh())" in code, code
    gapped = ir.replace("mlp.3", "mlp.9")  # more left out than kept: not an nn.Sequential to rebuild
    assert "nn.Identity" not in generate(structured(gapped)).code
