"""The mc.* dialect: typed attributes, shape rules, and decompositions that compute what the ops mean."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mindconverter.errors import VerifyError
from mindconverter.ir import Builder, parse, verify
from mindconverter.ir.dialect import DIALECT, create, lower_to_onnx
from mindconverter.ir.dialect_verify import verify_dialect
from mindconverter.ir.types import DType, TensorType

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4)).astype(np.float32)
W = RNG.standard_normal((5, 4)).astype(np.float32)
B = RNG.standard_normal(5).astype(np.float32)
G = RNG.standard_normal(4).astype(np.float32)


def run_lowered(text: str, weights: dict[str, np.ndarray]) -> np.ndarray:
    """Lower the mc.* ops of `text` to ONNX and run it with onnxruntime on X."""
    import onnxruntime as ort

    from mindconverter.ir.core import WeightStore
    from mindconverter.ir.onnx_bridge import func_to_onnx

    store = WeightStore()
    for k, v in weights.items():
        store.set(k, v)
    module = parse(text, store)
    module.attrs["opset"] = 17
    verify_dialect(module)
    lowered = lower_to_onnx(module)
    verify(lowered)
    assert not any(op.dialect == "mc" for op in lowered.ops())
    model, _ = func_to_onnx(lowered)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": X})[0]


def one_op(op: str, result: str = "tensor<2x3x4xf32>", operands: str = "%x", types: str = "tensor<2x3x4xf32>",
           attrs: str = "", params: str = "") -> str:
    return f"""
      func @main(%x: tensor<2x3x4xf32>) -> {result} {{
        {params}
        %0 = "{op}"({operands}) {attrs} : ({types}) -> {result}
        "ir.return"(%0) : ({result}) -> ()
      }}"""


@pytest.mark.parametrize("transpose_w", [True, False])
def test_dense_decomposes_to_matmul_and_add(transpose_w):
    w = W if transpose_w else np.ascontiguousarray(W.T)
    wtype = "tensor<5x4xf32>" if transpose_w else "tensor<4x5xf32>"
    params = f'%w = "ir.param"() {{key = "w"}} : () -> {wtype}\n        %b = "ir.param"() {{key = "b"}} : () -> tensor<5xf32>'
    attrs = "" if transpose_w else "{transpose_w = false}"
    got = run_lowered(one_op("mc.dense", "tensor<2x3x5xf32>", "%x, %w, %b", f"tensor<2x3x4xf32>, {wtype}, tensor<5xf32>", attrs, params),
                      {"w": w, "b": B})
    np.testing.assert_allclose(got, X @ W.T + B, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_decomposes_to_its_formula(approximate):
    attrs = "" if approximate == "none" else '{approximate = "tanh"}'
    got = run_lowered(one_op("mc.gelu", attrs=attrs), {})
    if approximate == "none":
        want = 0.5 * X * (1 + np.vectorize(math.erf)(X / math.sqrt(2)))
    else:
        want = 0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_silu_and_layer_norm_decompose_to_their_formulas():
    np.testing.assert_allclose(run_lowered(one_op("mc.silu"), {}), X / (1 + np.exp(-X)), rtol=1e-5, atol=1e-6)
    params = '%g = "ir.param"() {key = "g"} : () -> tensor<4xf32>'
    got = run_lowered(one_op("mc.layer_norm", operands="%x, %g", types="tensor<2x3x4xf32>, tensor<4xf32>",
                             attrs="{epsilon = 0.001}", params=params), {"g": G})
    mean, var = X.mean(-1, keepdims=True), X.var(-1, keepdims=True)
    np.testing.assert_allclose(got, (X - mean) / np.sqrt(var + 1e-3) * G, rtol=1e-4, atol=1e-5)


def test_create_types_results_with_the_shape_rule_and_checks_attributes():
    module = parse(one_op("onnx.Relu"))
    relu = module.main.body.ops[0]
    w = Builder.before(relu).op1("ir.param", [], TensorType(DType.F32, (7, 4)), key="w")
    dense = create(Builder.before(relu), "mc.dense", [module.main.args[0], w])
    assert dense.result.type == TensorType(DType.F32, (2, 3, 7))
    with pytest.raises(ValueError):
        create(Builder.before(relu), "mc.gelu", [module.main.args[0]], approximate="fast")
    assert {"mc.dense", "mc.layer_norm", "mc.gelu", "mc.silu", "mc.cell"} <= set(DIALECT)


def test_verify_dialect_names_the_problem():
    bad = parse(one_op("mc.gelu", attrs='{approximate = "fast"}'))
    with pytest.raises(VerifyError, match="bad attributes for 'mc.gelu'"):
        verify_dialect(bad)
    wrong_shape = parse(one_op("mc.silu", result="tensor<2x3x5xf32>"))
    with pytest.raises(VerifyError, match="its shape rule gives"):
        verify_dialect(wrong_shape)


def test_embedding_decomposes_to_gather_rows():
    text = """
      func @main(%ids: tensor<2x3xi64>) -> tensor<2x3x4xf32> {
        %t = "ir.param"() {key = "t"} : () -> tensor<10x4xf32>
        %0 = "mc.embedding"(%ids, %t) : (tensor<2x3xi64>, tensor<10x4xf32>) -> tensor<2x3x4xf32>
        "ir.return"(%0) : (tensor<2x3x4xf32>) -> ()
      }"""
    module = parse(text)
    verify_dialect(module)
    lowered = lower_to_onnx(module)
    assert [op.name for op in lowered.main.body.ops] == ["ir.param", "onnx.Gather", "ir.return"]


def attention_reference(q, k, v, heads, scale, mask=None):
    """Multi-head attention in numpy on (batch, seq, heads * head_dim) tensors."""
    def split(x):
        b, t, d = x.shape
        return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) * scale
    if mask is not None:
        scores = scores + mask
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = (probs @ split(v)).transpose(0, 2, 1, 3)
    return out.reshape(*out.shape[:2], -1)


@pytest.mark.parametrize(("with_mask", "dropout"), [(False, 0.0), (True, 0.1)])
def test_attention_decomposes_to_multi_head_softmax_attention(with_mask, dropout):
    import onnxruntime as ort

    from mindconverter.ir.onnx_bridge import func_to_onnx

    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 8)).astype(np.float32)
    k, v = (rng.standard_normal((2, 5, 8)).astype(np.float32) for _ in range(2))
    mask = rng.standard_normal((2, 1, 1, 5)).astype(np.float32)
    args = "%q: tensor<2x3x8xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x5x8xf32>"
    operands, types = "%q, %k, %v", "tensor<2x3x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>"
    if with_mask:
        args, operands, types = args + ", %m: tensor<2x1x1x5xf32>", operands + ", %m", types + ", tensor<2x1x1x5xf32>"
    attrs = "{num_heads = 2, scale = 0.5" + (f", dropout = {dropout}" if dropout else "") + "}"
    module = parse(f"""
      func @main({args}) -> tensor<2x3x8xf32> {{
        %0 = "mc.attention"({operands}) {attrs} : ({types}) -> tensor<2x3x8xf32>
        "ir.return"(%0) : (tensor<2x3x8xf32>) -> ()
      }}""")
    module.attrs["opset"] = 17
    verify_dialect(module)
    lowered = lower_to_onnx(module)
    verify(lowered)
    names = [op.name for op in lowered.ops()]
    assert names.count("onnx.Reshape") == 4 and names.count("onnx.Softmax") == 1
    assert names.count("onnx.Dropout") == (1 if dropout else 0) and names.count("onnx.Add") == (1 if with_mask else 0)
    model, _ = func_to_onnx(lowered)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"q": q, "k": k, "v": v} | ({"m": mask} if with_mask else {})
    got = session.run(None, feeds)[0]
    want = attention_reference(q, k, v, 2, 0.5, mask if with_mask else None)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fill", [-np.inf, -1e9])
def test_attention_fill_mask_decomposes_to_a_where_before_the_additive_mask(fill):
    import onnxruntime as ort

    from mindconverter.ir.onnx_bridge import func_to_onnx

    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 3, 8)).astype(np.float32) for _ in range(3))
    mask = rng.standard_normal((2, 1, 1, 3)).astype(np.float32)
    filled = rng.random((2, 1, 3, 3)) < 0.4
    filled[1, 0, 2, :] = True  # a row filled whole: NaN with -inf (torch's softmax of all -inf), uniform otherwise
    t, c, m = "tensor<2x3x8xf32>", "tensor<2x1x3x3xbool>", "tensor<2x1x1x3xf32>"
    module = parse(f"""
      func @main(%q: {t}, %k: {t}, %v: {t}, %m: {m}, %c: {c}) -> {t} {{
        %0 = "mc.attention"(%q, %k, %v, %m, %c) {{num_heads = 2, scale = 0.5, fill = {fill}}} : ({t}, {t}, {t}, {m}, {c}) -> {t}
        "ir.return"(%0) : ({t}) -> ()
      }}""")
    module.attrs["opset"] = 17
    verify_dialect(module)
    lowered = lower_to_onnx(module)
    verify(lowered)
    model, _ = func_to_onnx(lowered)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"q": q, "k": k, "v": v, "m": mask, "c": filled})[0]
    with np.errstate(invalid="ignore"):
        want = attention_reference_filled(q, k, v, filled, np.float32(fill), mask)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.isnan(got[1, 2]).all() == np.isinf(fill)


def attention_reference_filled(q, k, v, filled, fill, mask):
    """where(filled, fill, q_h @ k_h^T * 0.5) + mask, softmax, @ v_h: 2 heads of 4 on (2, 3, 8) tensors, as torch computes it."""

    def split(x):
        return x.reshape(2, 3, 2, 4).transpose(0, 2, 1, 3)

    scores = np.where(filled, fill, split(q) @ split(k).transpose(0, 1, 3, 2) * np.float32(0.5)) + mask
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = (probs @ split(v)).transpose(0, 2, 1, 3)
    return out.reshape(2, 3, -1)


def test_attention_shape_rule_takes_the_value_width_and_checks_attributes():
    module = parse("""
      func @main(%q: tensor<?Nx3x8xf32>, %k: tensor<?Nx5x8xf32>, %v: tensor<?Nx5x4xf32>) -> tensor<?Nx3x8xf32> {
        "ir.return"(%q) : (tensor<?Nx3x8xf32>) -> ()
      }""")
    q, k, v = module.main.args
    ret = module.main.body.ops[0]
    op = create(Builder.before(ret), "mc.attention", [q, k, v], num_heads=2, scale=0.25)
    assert str(op.result.type) == "tensor<?Nx3x4xf32>"
    assert op.attrs == {"num_heads": 2, "scale": 0.25}
    with pytest.raises(ValueError, match="dropout must be in"):
        create(Builder.before(ret), "mc.attention", [q, k, v], num_heads=2, scale=0.25, dropout=1.0)
    with pytest.raises(ValueError, match="num_heads must be at least 1"):
        create(Builder.before(ret), "mc.attention", [q, k, v], num_heads=0, scale=0.25)


def test_verify_dialect_rejects_a_provably_different_symbolic_dim():
    def silu(result: str) -> str:
        return f"""
          func @main(%x: tensor<?bx3xf32>) -> {result} {{
            %0 = "mc.silu"(%x) : (tensor<?bx3xf32>) -> {result}
            "ir.return"(%0) : ({result}) -> ()
          }}"""

    verify_dialect(parse(silu("tensor<?cx3xf32>")))  # ?c may be ?b: nothing proves otherwise
    with pytest.raises(VerifyError, match=r"is tensor<\?\(2\*b\)x3xf32>, but its shape rule gives tensor<\?bx3xf32>"):
        verify_dialect(parse(silu("tensor<?(2*b)x3xf32>")))


def test_group_norm_decomposes_to_grouped_instance_norm_and_per_channel_weights():
    params = '%g = "ir.const"() {value = dense<[0.5, 2.0, -1.0]>} : () -> tensor<3xf32>'
    got = run_lowered(one_op("mc.group_norm", operands="%x, %g", types="tensor<2x3x4xf32>, tensor<3xf32>",
                             attrs="{num_groups = 1, epsilon = 0.001}", params=params), {})
    mean, var = X.mean((1, 2), keepdims=True), X.var((1, 2), keepdims=True)
    np.testing.assert_allclose(got, (X - mean) / np.sqrt(var + 1e-3) * np.array([0.5, 2.0, -1.0])[:, None], rtol=1e-4,
                               atol=1e-5)
