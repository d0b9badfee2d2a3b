"""mc.attention emitted as the ScaledDotProductAttention Cell, checked against onnxruntime on the ONNX attention it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_parity, make_model
from onnx import helper

COVERS = {"mc.attention"}

B, T, S, H, DH = 2, 3, 5, 2, 4


def attention_nodes(scale_on: str = "scores", mask: bool = False, dropout: bool = False) -> list:
    """torch-style multi-head attention on q (B, T, H*DH), k and v (B, S, H*DH), output (B, T, H*DH)."""
    c = helper.make_node
    nodes = [
        c("Reshape", ["q", "heads"], ["q4"], name="/attn/Reshape"),
        c("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3], name="/attn/Transpose"),
        c("Reshape", ["k", "heads"], ["k4"], name="/attn/Reshape_1"),
        c("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1], name="/attn/Transpose_1"),
        c("Reshape", ["v", "heads"], ["v4"], name="/attn/Reshape_2"),
        c("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3], name="/attn/Transpose_2"),
    ]
    if scale_on == "scores":  # q @ k^T / sqrt(d)
        nodes += [c("MatMul", ["qh", "kt"], ["qk"], name="/attn/MatMul"), c("Div", ["qk", "sqrt_d"], ["s"], name="/attn/Div")]
    else:  # F.scaled_dot_product_attention: q and k each times d ** -0.25
        nodes += [c("Mul", ["qh", "quarter"], ["qs"], name="/attn/Mul"), c("Mul", ["kt", "quarter"], ["ks"], name="/attn/Mul_1"),
                  c("MatMul", ["qs", "ks"], ["s"], name="/attn/MatMul")]
    if mask:
        nodes.append(c("Add", ["s", "mask"], ["sm"], name="/attn/Add"))
    nodes.append(c("Softmax", ["sm" if mask else "s"], ["p"], axis=-1, name="/attn/Softmax"))
    if dropout:
        nodes.append(c("Dropout", ["p", "ratio", "training"], ["pd"], name="/attn/drop/Dropout"))
    nodes += [
        c("MatMul", ["pd" if dropout else "p", "vh"], ["o"], name="/attn/MatMul_1"),
        c("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3], name="/attn/Transpose_3"),
        c("Reshape", ["ot", "merged"], ["y"], name="/attn/Reshape_3"),
    ]
    return nodes


CONSTS = {
    "heads": np.array([0, 0, H, DH], np.int64), "merged": np.array([0, 0, H * DH], np.int64),
    "sqrt_d": np.array(np.sqrt(DH), np.float32), "quarter": np.array([DH ** -0.25], np.float32),
    "ratio": np.array(0.1, np.float32), "training": np.array(False),
}


@pytest.mark.parametrize(("scale_on", "mask", "dropout"), [("scores", False, False), ("scores", True, True), ("q_and_k", True, False)])
def test_attention_becomes_a_scaled_dot_product_attention_cell(scale_on, mask, dropout):
    inputs = {"q": (np.float32, (B, T, H * DH)), "k": (np.float32, (B, S, H * DH)), "v": (np.float32, (B, S, H * DH))}
    if mask:
        inputs["mask"] = (np.float32, (B, 1, 1, S))
    model = make_model(attention_nodes(scale_on, mask, dropout), inputs, ["y"], CONSTS)
    code = assert_parity(model)
    assert "class ScaledDotProductAttention(nn.Cell)" in code, code
    scale = "0.5" if scale_on == "scores" else "0.49999997"  # (4 ** -0.25) ** 2 in float32
    layer = f"ScaledDotProductAttention(2, {scale}{', dropout=0.1' if dropout else ''})"
    assert layer in code, code
    assert f"(q, k, v{', mask' if mask else ''})" in code, code
    assert "self.softmax(scores, masked=" in code and "ops.reshape(" not in code.split("class MindSporeModel")[1], code
    assert "return ops.softmax(scores)" in code, code  # unmasked: MindSpore's one softmax kernel


def masked_fill_nodes(fill_first: bool, mask: bool) -> list:
    """attention_nodes with the scaled scores masked by Where(c, fill, s) (masked_fill) or Where(c, s, fill) (torch.where)."""
    nodes = attention_nodes("scores", mask=False)
    at = next(i for i, n in enumerate(nodes) if n.op_type == "Softmax")
    where = helper.make_node("Where", ["c", "fill", "s"] if fill_first else ["c", "s", "fill"], ["sw"], name="/attn/Where")
    added = [where] + ([helper.make_node("Add", ["sw", "mask"], ["sm"], name="/attn/Add")] if mask else [])
    nodes[at].input[0] = "sm" if mask else "sw"
    return nodes[:at] + added + nodes[at:]


@pytest.mark.parametrize(("fill", "fill_first", "mask"), [
    (-np.inf, True, False), (np.finfo(np.float32).min, True, True), (-1e9, False, False), (-1e4, False, True)])
def test_masked_fill_becomes_the_fill_mask_exactly_even_for_fully_masked_rows(fill, fill_first, mask):
    inputs = {"q": (np.float32, (B, T, H * DH)), "k": (np.float32, (B, S, H * DH)), "v": (np.float32, (B, S, H * DH)),
              "c": (np.bool_, (B, 1, T, S))}
    if mask:
        inputs["mask"] = (np.float32, (B, 1, 1, S))
    model = make_model(masked_fill_nodes(fill_first, mask), inputs, ["y"], {**CONSTS, "fill": np.array(fill, np.float32)})
    rng = np.random.default_rng(0)
    c = rng.random((B, 1, T, S)) < 0.5
    c[0, 0, 0, :] = fill_first  # a row masked whole: NaN with -inf (as in torch), uniform with a finite fill
    c[1, 0, 1, :] = not fill_first  # and one row kept whole
    feeds = {n: rng.standard_normal(shape).astype(np.float32) for n, (_, shape) in inputs.items() if n != "c"}
    code = assert_parity(model, {**feeds, "c": c})
    fill_text = '-float("inf")' if np.isinf(fill) else repr(float(str(np.float32(fill))))
    assert f"ScaledDotProductAttention(2, 0.5, fill={fill_text})" in code, code
    if fill_first:
        assert f"(q, k, v{', mask' if mask else ''}, fill_mask=c)" in code, code
    else:  # torch.where(c, s, fill) keeps the scores where c holds
        assert "fill_mask=ops.logical_not(" in code, code
