"""Member names in generated Cells: one member for a stateless layer called twice, constants named after their use."""

from __future__ import annotations

import re

import numpy as np
import onnx
from builders import rand
from helpers import assert_parity, convert_model, make_model, unwrap
from onnx import helper

from mindconverter.backend.cell_writer import generate
from mindconverter.ir import WeightStore, parse

# -- a stateless source module called twice: one member ---------------------------------------------


def _dropouts(names: tuple[str, str], ratios: tuple[float, float] = (0.1, 0.1)):
    """x -> Dropout -> + x -> Dropout (inference mode), the two Dropouts named `names`."""
    c = helper.make_node
    nodes = [
        c("Dropout", ["x", "r0", "off"], ["d0"], name=names[0]),
        c("Add", ["d0", "x"], ["s"], name="/Add"),
        c("Dropout", ["s", "r1", "off"], ["y"], name=names[1]),
    ]
    consts = {"r0": np.array(ratios[0], np.float32), "r1": np.array(ratios[1], np.float32), "off": np.array(False)}
    return make_model(nodes, {"x": (np.float32, (2, 4))}, ["y"], consts)


def _members(code: str) -> list[str]:
    """The members of the last class in `code` (MindSporeModel, or the class `code` is cut to)."""
    return re.findall(r"^ {8}self\.(\w+) = ", code[code.rfind("class "):], re.M)


def test_a_stateless_module_called_twice_is_one_member():
    # torch names the second call of `self.drop` `/drop_1/...`
    code = assert_parity(_dropouts(("/drop/Dropout", "/drop_1/Dropout")))
    assert _members(code) == ["drop"], code
    assert code.count("self.drop(") == 2, code


def test_two_ops_of_one_scope_share_its_member():
    code = assert_parity(_dropouts(("/drop/Dropout", "/drop/Dropout_1")))
    assert _members(code) == ["drop"], code
    assert code.count("self.drop(") == 2, code


def test_layers_with_different_arguments_are_not_shared():
    code = assert_parity(_dropouts(("/drop/Dropout", "/drop_1/Dropout"), (0.1, 0.2)))
    assert _members(code) == ["drop", "drop_1"], code
    assert "self.drop_1 = nn.Dropout(p=0.2)" in code, code


def test_layers_without_a_source_scope_are_not_shared():
    code = assert_parity(_dropouts(("Dropout_0", "Dropout_1")))
    assert len(_members(code)) == 2, code


def test_a_linear_called_twice_is_one_layer_called_twice():
    """Two calls of one torch nn.Linear read one initializer: one layer, called twice, so that training
    updates one weight as torch does (`fc = self.fc(x)`, then `fc_1 = self.fc(act)`)."""
    c = helper.make_node
    nodes = [
        c("Gemm", ["x", "w", "b"], ["h"], name="/fc/Gemm", transB=1),
        c("Relu", ["h"], ["r"], name="/act/Relu"),
        c("Gemm", ["r", "w", "b"], ["y"], name="/fc_1/Gemm", transB=1),
    ]
    model = make_model(nodes, {"x": (np.float32, (3, 4))}, ["y"], {"w": rand(4, 4), "b": rand(4, seed=2)})
    code = assert_parity(model, expect_layers=("self.fc = nn.Dense(4, 4)",))
    assert code.count("nn.Dense(") == 1 and code.count("self.fc(") == 2, code
    gen, _, _ = convert_model(model)
    assert [e.name for e in gen.checkpoint] == ["fc.weight", "fc.bias"]


def test_modules_tying_one_initializer_keep_a_layer_each():
    """Two modules reading one initializer (tied weights: GPT-2's wte and lm_head) are two layers."""
    c = helper.make_node
    nodes = [
        c("Gemm", ["x", "w", "b"], ["h"], name="/fc/Gemm", transB=1),
        c("Gemm", ["h", "w", "b"], ["y"], name="/head/Gemm", transB=1),
    ]
    model = make_model(nodes, {"x": (np.float32, (3, 4))}, ["y"], {"w": rand(4, 4), "b": rand(4, seed=2)})
    assert_parity(model, expect_layers=("self.fc = nn.Dense(4, 4)", "self.head = nn.Dense(4, 4)"))


def test_stateless_members_shared_inside_repeated_cells_keep_one_class():
    """Two encoder-like layers, each calling its `drop` twice: one class with one `drop` member."""
    c = helper.make_node
    nodes, inits = [], {"off": np.array(False), "p": np.array(0.1, np.float32)}
    x = "x"
    for i in range(2):
        s = f"/layers.{i}"
        inits |= {f"layers.{i}.fc.weight": rand(4, 4, seed=i), f"layers.{i}.fc.bias": rand(4, seed=10 + i)}
        nodes += [
            c("Dropout", [x, "p", "off"], [f"d{i}"], name=f"{s}/drop/Dropout"),
            c("Gemm", [f"d{i}", f"layers.{i}.fc.weight", f"layers.{i}.fc.bias"], [f"h{i}"], name=f"{s}/fc/Gemm", transB=1),
            c("Dropout", [f"h{i}", "p", "off"], [f"e{i}"], name=f"{s}/drop_1/Dropout"),
            c("Add", [f"e{i}", x], [f"y{i}"], name=f"{s}/Add"),
        ]
        x = f"y{i}"
    model = make_model(nodes, {"x": (np.float32, (3, 4))}, [x], inits)
    code = assert_parity(model)
    assert "*[LayerBlock() for _ in range(2)]" in code, code
    block = code[code.index("class LayerBlock"):code.index("class MindSporeModel")]  # _members: its last class
    assert _members(block) == ["drop", "fc"], code
    assert block.count("self.drop(") == 2, code


# -- constants named after their use, not after the exporter's op type ---------------------------------


def _causal_mask(n: int) -> np.ndarray:
    return np.where(np.tril(np.ones((n, n), bool)), 0.0, -np.inf).astype(np.float32)


def test_an_attention_mask_is_named_mask():
    weights = WeightStore()
    weights.set("/Where_output_0", _causal_mask(6))
    weights.set("pad", np.zeros((6, 6), np.float32))
    text = """
      func @main(%q: tensor<2x6x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x6x8xf32>) -> (tensor<2x6x8xf32>, tensor<2x6x8xf32>) {
        %m = "ir.param"() {key = "/Where_output_0"} : () -> tensor<6x6xf32> loc("/Where")
        %p = "ir.param"() {key = "pad"} : () -> tensor<6x6xf32> loc("/Cast_1")
        %0 = "mc.attention"(%q, %k, %v, %m) {num_heads = 2, scale = 0.5} : (tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<6x6xf32>) -> tensor<2x6x8xf32> loc("/attention/Softmax")
        %1 = "mc.attention"(%q, %k, %v, %p) {num_heads = 2, scale = 0.5} : (tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<6x6xf32>) -> tensor<2x6x8xf32> loc("/attention_2/Softmax")
        "ir.return"(%0, %1) : (tensor<2x6x8xf32>, tensor<2x6x8xf32>) -> ()
      }"""
    module = parse(text, weights=weights)
    module.attrs["opset"] = 17
    gen = generate(module)
    members = _members(gen.code)
    assert "causal_mask" in members and "mask" in members, gen.code
    assert not any(re.match(r"Where|Cast", m) for m in members), gen.code
    assert {e.name for e in gen.checkpoint} >= {"causal_mask", "mask"}, gen.checkpoint
    assert 'name="causal_mask", requires_grad=False)' in unwrap(gen.code), gen.code  # a mask, not a weight to train
    compile(gen.code, "model.py", "exec")


def test_a_folded_constant_named_after_an_op_type_is_named_after_its_use():
    """A causal mask built from constants (Where over a triangle) folds to a constant named `/Where`."""
    c = helper.make_node
    tri = np.tril(np.ones((6, 6), bool))
    nodes = [
        c("Where", ["tri", "zero", "ninf"], ["mask"], name="/Where"),
        c("Add", ["x", "mask"], ["s"], name="/Add"),
        c("Cast", ["scale_i"], ["scale"], to=1, name="/Cast"),
        c("Mul", ["s", "scale"], ["y"], name="/Mul"),
    ]
    consts = {"tri": tri, "zero": np.array(0.0, np.float32), "ninf": np.array(-1e9, np.float32),
              "scale_i": np.arange(36, dtype=np.int64).reshape(6, 6)}
    model = make_model(nodes, {"x": (np.float32, (2, 6, 6))}, ["y"], consts)
    code = assert_parity(model)
    members = _members(code)
    assert "causal_mask" in members, code
    assert not any(re.match(r"(Where|Cast|Constant)(_|$)", m) for m in members), code


# -- a namespace every weight is in (Caffe2's `gpu_0/`) is left out at the top level ------------------------


def test_the_namespace_of_every_weight_is_left_out_of_top_level_names():
    """Caffe2 exports name every blob `gpu_0/...`: the top level says `self.fc6`, `construct(self, data_0)`,
    as a cell leaves out its own path, and the weight map still gives each weight's source name."""
    from mindconverter.backend.checkpoint import weight_map

    c = helper.make_node
    nodes = [
        c("Gemm", ["gpu_0/data_0", "gpu_0/fc6_w_0", "gpu_0/fc6_b_0"], ["gpu_0/fc6_1"], transB=1),
        c("Relu", ["gpu_0/fc6_1"], ["gpu_0/fc6_2"]),
        c("Gemm", ["gpu_0/fc6_2", "gpu_0/fc7_w_0", "gpu_0/fc7_b_0"], ["gpu_0/softmax"], transB=1),
    ]
    inits = {"gpu_0/fc6_w_0": rand(8, 4), "gpu_0/fc6_b_0": rand(8, seed=2), "gpu_0/fc7_w_0": rand(3, 8, seed=3),
             "gpu_0/fc7_b_0": rand(3, seed=4)}
    model = make_model(nodes, {"gpu_0/data_0": (np.float32, (2, 4))}, ["gpu_0/softmax"], inits)
    code = assert_parity(model, expect_layers=("self.fc6 = nn.Dense(4, 8)", "self.fc7 = nn.Dense(8, 3)",
                                               "def construct(self, data_0):"))
    assert "gpu_0" not in code, code
    gen = convert_model(model)[0]
    rows = {r["source_weight"]["name"]: r["converted_weight"]["name"] for r in weight_map("m", gen.checkpoint)["m"]}
    assert rows == {"gpu_0/fc6_w_0": "fc6.weight", "gpu_0/fc6_b_0": "fc6.bias", "gpu_0/fc7_w_0": "fc7.weight",
                    "gpu_0/fc7_b_0": "fc7.bias"}, rows


def test_a_name_shared_by_two_layers_is_not_a_namespace():
    """`fc_1`, `fc_2` share `fc_`, which is part of their names, not a namespace (`/` or `.`): kept."""
    c = helper.make_node
    nodes = [c("Gemm", ["x", "fc_1_w", "fc_1_b"], ["h"], transB=1), c("Gemm", ["h", "fc_2_w", "fc_2_b"], ["y"], transB=1)]
    inits = {"fc_1_w": rand(4, 4), "fc_1_b": rand(4, seed=2), "fc_2_w": rand(4, 4, seed=3), "fc_2_b": rand(4, seed=4)}
    code = convert_model(make_model(nodes, {"x": (np.float32, (2, 4))}, ["y"], inits))[0].code
    assert "self.fc_1 = " in code and "self.fc_2 = " in code, code


# -- several outputs: construct returns them under the source's output names -------------------------


def _returned(names: str) -> str:
    return unwrap(generate(parse(f"""
      func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {{
        %0 = "onnx.Relu"(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("/act/Relu")
        %1 = "onnx.Sigmoid"(%0) : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("/gate/Sigmoid")
        %2 = "onnx.Tanh"(%0) : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("/Tanh")
        "ir.return"(%0, %1, %2) {{names = {names}}} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> ()
      }}""")).code)


def test_several_outputs_are_returned_under_their_source_names():
    code = _returned('["hidden", "Gate", "output_2"]')
    # `output_2` says nothing its position does not: that value keeps its own name.
    assert "hidden = self.act(x)" in code and "gate = self.gate(hidden)" in code, code
    assert "return hidden, gate, tanh" in code, code
    numbered = _returned('["output_0", "output_1", "592"]')
    assert "hidden" not in numbered and "592" not in numbered, numbered


# -- a comment where a constant needs explaining ------------------------------------------------------------


def test_a_constant_folded_from_a_source_expression_says_where_it_came_from():
    """`x * sqrt(c)` with a Constant `c` (torch's way for a literal): fold-constants computes sqrt(c); the
    member says which node it was folded from (a bare list of numbers does not), a weight says nothing."""
    c = helper.make_node
    squares = helper.make_tensor("c", onnx.TensorProto.FLOAT, [4], [1.0, 4.0, 9.0, 16.0])
    nodes = [c("Constant", [], ["c"], name="/scale/Constant", value=squares), c("Sqrt", ["c"], ["s"], name="/scale/Sqrt"),
             c("Mul", ["x", "s"], ["m"], name="/Mul"), c("Add", ["m", "bias"], ["y"], name="/Add")]
    inits = {"bias": np.array([0.5, 1.5, 2.5, 3.5], np.float32)}
    code = assert_parity(make_model(nodes, {"x": (np.float32, (2, 4))}, ["y"], inits))
    lines = code.split("\n")
    folded = next(i for i, line in enumerate(lines) if "ms.Tensor([1.0, 2.0, 3.0, 4.0]" in line)
    assert lines[folded - 1].strip() == "# folded from /scale/Sqrt", code
    assert code.count("# folded from") == 1, code  # not on `bias`


def test_a_constant_the_instances_share_located_in_the_first_is_named_alike_in_each():
    """Llama's rotary cos is folded once, at a node of layers.0, and read by every layer: each instance names it the
    same way (not `layers_0` in layers.1), so one class serves both layers."""
    c = helper.make_node
    inits = {"table": rand(2, 3, 4), "axes": np.array([0], np.int64)}
    nodes = [c("Unsqueeze", ["table", "axes"], ["cos"], name="/layers.0/Unsqueeze")]
    x = "x"
    for i in range(2):
        inits |= {f"layers.{i}.fc.weight": rand(4, 4, seed=i)}
        nodes += [
            c("MatMul", [x, f"layers.{i}.fc.weight"], [f"h{i}"], name=f"/layers.{i}/fc/MatMul"),
            c("Mul", [f"h{i}", "cos"], [f"y{i}"], name=f"/layers.{i}/Mul"),
        ]
        x = f"y{i}"
    code = assert_parity(make_model(nodes, {"x": (np.float32, (1, 2, 3, 4))}, [x], inits))
    assert "layers_0" not in code and "*[LayerBlock() for _ in range(2)]" in code, code


def test_modules_whose_equal_initial_weights_torch_reads_from_one_initializer_stay_two():
    """torch's export gives ln_1 and ln_2 (both ones/zeros) one initializer: two modules, not a second call."""
    c = helper.make_node
    nodes = [
        c("LayerNormalization", ["x", "g", "b"], ["h"], name="/ln_1/LayerNormalization", axis=-1),
        c("Relu", ["h"], ["r"], name="/act/Relu"),
        c("LayerNormalization", ["r", "g", "b"], ["y"], name="/ln_2/LayerNormalization", axis=-1),
    ]
    model = make_model(nodes, {"x": (np.float32, (3, 4))}, ["y"], {"g": np.ones(4, np.float32), "b": np.zeros(4, np.float32)})
    assert_parity(model, expect_layers=("self.ln_1 = nn.LayerNorm", "self.ln_2 = nn.LayerNorm"))
