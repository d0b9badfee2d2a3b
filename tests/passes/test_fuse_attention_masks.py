"""fuse-attention with masked_fill / torch.where masks: a Where filling the scores becomes mc.attention's fill_mask and fill."""

import pytest
from test_fuse_attention import DIV_DROPOUT
from test_fuse_attention_dynamic import assert_stays

from mindconverter.passes.testing import check_pass, run_pass_on_text

S4 = "tensor<2x2x4x4xf32>"
C = "tensor<2x1x1x4xbool>"
M = "tensor<2x1x4x4xf32>"
HEAD = """
      func @main(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>, %c: tensor<2x1x1x4xbool>{m}) -> tensor<2x4x8xf32> {{
        %0 = "ir.const"() {{value = dense<[2, 4, 2, 4]>}} : () -> tensor<4xi64>
        %1 = "ir.const"() {{value = dense<[0, 0, -1]>}} : () -> tensor<3xi64>
        %2 = "ir.const"() {{value = dense<2.0>}} : () -> tensor<f32>
        %3 = "ir.const"() {{value = dense<0.1>}} : () -> tensor<f32>
        %4 = "ir.const"() {{value = dense<false>}} : () -> tensor<bool>"""
LOC = ('"/attn/Reshape", "/attn/Transpose", "/attn/Reshape_1", "/attn/Transpose_1", "/attn/Reshape_2", "/attn/Transpose_2", '
       '"/attn/MatMul", {middle}, "/attn/Softmax", "/attn/drop/Dropout", "/attn/MatMul_1", "/attn/Transpose_3", "/attn/Reshape_3"')
QKV = "tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>"


def masked(where: str, extra_args: str = f", %c: {C}") -> str:
    """DIV_DROPOUT (torch's scores / sqrt(d), softmax, dropout) with `where` (defining %20) between the scores and the Softmax."""
    return (DIV_DROPOUT.replace("%v: tensor<2x4x8xf32>)", f"%v: tensor<2x4x8xf32>{extra_args})")
            .replace('%13 = "onnx.Softmax"(%12)', where + '\n        %13 = "onnx.Softmax"(%20)'))


# scores.masked_fill(c, -1e9) after the scale.
MASKED_FILL = masked(f'''%19 = "ir.const"() {{value = dense<-1.0e9>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %20 = "onnx.Where"(%c, %19, %12) : ({C}, tensor<f32>, {S4}) -> {S4} loc("/attn/Where")''')


def test_masked_fill_of_the_scores_becomes_the_fill_mask():
    check_pass("fuse-attention", changed=True, before=MASKED_FILL, after=HEAD.format(m="") + f"""
        %5 = "ir.const"() {{value = dense<-1000000000.0>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %6 = "mc.attention"(%q, %k, %v, none, %c) {{num_heads = 2, scale = 0.5, dropout = 0.1, fill = -1000000000.0}} : ({QKV}, none, {C}) -> tensor<2x4x8xf32> loc(fused[{LOC.format(middle='"/attn/Div", "/attn/Where"')}])
        "ir.return"(%6) : (tensor<2x4x8xf32>) -> ()
      }}""")


# masked_fill(c, -1e4) before `/ sqrt(d)`: the division scales the fill too (-5000 where c holds).
BEFORE_SCALE = (masked(f'''%19 = "ir.const"() {{value = dense<-1.0e4>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %20 = "onnx.Where"(%c, %19, %11) : ({C}, tensor<f32>, {S4}) -> {S4} loc("/attn/Where")
        %21 = "onnx.Div"(%20, %2) : ({S4}, tensor<f32>) -> {S4} loc("/attn/Div")''')
                .replace(f'''        %12 = "onnx.Div"(%11, %2) : ({S4}, tensor<f32>) -> {S4} loc("/attn/Div")\n''', "")
                .replace('"onnx.Softmax"(%20)', '"onnx.Softmax"(%21)'))


def test_a_fill_before_the_scale_is_scaled_with_the_scores():
    check_pass("fuse-attention", changed=True, before=BEFORE_SCALE, after=HEAD.format(m="") + f"""
        %5 = "ir.const"() {{value = dense<-10000.0>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %6 = "mc.attention"(%q, %k, %v, none, %c) {{num_heads = 2, scale = 0.5, dropout = 0.1, fill = -5000.0}} : ({QKV}, none, {C}) -> tensor<2x4x8xf32> loc(fused[{LOC.format(middle='"/attn/Where", "/attn/Div"')}])
        "ir.return"(%6) : (tensor<2x4x8xf32>) -> ()
      }}""")


# Legacy GPT-2: torch.where(causal, scores, finfo.min) + attention_mask: c marks the kept places, so it is negated.
CAUSAL = masked(f'''%19 = "ir.const"() {{value = dense<-3.4028235e+38>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %22 = "onnx.Where"(%c, %12, %19) : ({C}, {S4}, tensor<f32>) -> {S4} loc("/attn/Where")
        %20 = "onnx.Add"(%22, %m) : ({S4}, {M}) -> {S4} loc("/attn/Add")''', f", %c: {C}, %m: {M}")


def test_torch_where_keeping_the_scores_and_an_additive_mask_give_both_masks():
    check_pass("fuse-attention", changed=True, before=CAUSAL, after=HEAD.format(m=f", %m: {M}") + f"""
        %5 = "ir.const"() {{value = dense<-3.4028235e+38>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %6 = "onnx.Not"(%c) : ({C}) -> {C} loc("/attn/Where")
        %7 = "mc.attention"(%q, %k, %v, %m, %6) {{num_heads = 2, scale = 0.5, dropout = 0.1, fill = -3.4028235e+38}} : ({QKV}, {M}, {C}) -> tensor<2x4x8xf32> loc(fused[{LOC.format(middle='"/attn/Div", "/attn/Where", "/attn/Add"')}])
        "ir.return"(%7) : (tensor<2x4x8xf32>) -> ()
      }}""")


def test_a_constant_keep_mask_is_negated_into_a_constant():
    # A static export's causal slice folds to a constant: its negation is one too, not a Not run per forward.
    before = NOT.replace('''%21 = "onnx.Not"(%c) : (tensor<2x1x1x4xbool>) -> tensor<2x1x1x4xbool> loc("/attn/Not")''',
                         '''%21 = "ir.const"() {value = dense<[[[[true, true, false, true]]]]>} : () -> tensor<1x1x1x4xbool> loc("/attn/Causal")''')
    before = before.replace(f'"onnx.Where"(%21, %12, %19) : ({C},', '"onnx.Where"(%21, %12, %19) : (tensor<1x1x1x4xbool>,')
    got, changed = run_pass_on_text("fuse-attention", before)
    assert changed
    assert '"ir.const"() {value = dense<[[[[false, false, true, false]]]]>} : () -> tensor<1x1x1x4xbool> loc("/attn/Where")' in got, got
    assert "onnx.Not" not in got and "onnx.Where" not in got, got


# torch.where(~c, scores, -inf): the Not's operand is the fill mask, and the Not goes.
NOT = masked(f'''%19 = "ir.const"() {{value = dense<-inf>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %21 = "onnx.Not"(%c) : ({C}) -> {C} loc("/attn/Not")
        %20 = "onnx.Where"(%21, %12, %19) : ({C}, {S4}, tensor<f32>) -> {S4} loc("/attn/Where")''')


def test_a_negated_keep_mask_is_used_as_it_was_before_the_not():
    check_pass("fuse-attention", changed=True, before=NOT, after=HEAD.format(m="") + f"""
        %5 = "ir.const"() {{value = dense<-inf>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %6 = "mc.attention"(%q, %k, %v, none, %c) {{num_heads = 2, scale = 0.5, dropout = 0.1}} : ({QKV}, none, {C}) -> tensor<2x4x8xf32> loc(fused[{LOC.format(middle='"/attn/Div", "/attn/Where"')}])
        "ir.return"(%6) : (tensor<2x4x8xf32>) -> ()
      }}""")


NEAR_MISSES = {
    # The fill is data, not a constant.
    "fill from data": (MASKED_FILL.replace(f"%c: {C})", f"%c: {C}, %f: tensor<f32>)").replace('"onnx.Where"(%c, %19, %12)', '"onnx.Where"(%c, %f, %12)'),
                       "the Where before the Softmax fills with no scalar constant"),
    # A fill of per-head values broadcasts the scores to more heads: not one fill value.
    "fill broadcasts the scores": (MASKED_FILL.replace("%c: tensor<2x1x1x4xbool>)", "%c: tensor<2x4x4x4xbool>)")
                                   .replace(f'"onnx.Where"(%c, %19, %12) : ({C}, tensor<f32>, {S4}) -> {S4}',
                                            f'"onnx.Where"(%c, %19, %12) : (tensor<2x4x4x4xbool>, tensor<f32>, {S4}) -> tensor<2x4x4x4xf32>')
                                   .replace('"onnx.Softmax"(%20) {axis = -1} : (tensor<2x2x4x4xf32>)', '"onnx.Softmax"(%20) {axis = -1} : (tensor<2x4x4x4xf32>)'),
                                   "the masked fill broadcasts the scores to a bigger shape"),
    # masked_fill after the additive mask: the fill would have to replace the mask too (not the order mc.attention has).
    "fill after the additive mask": (masked(f'''%19 = "ir.const"() {{value = dense<-1.0e9>}} : () -> tensor<f32> loc("/attn/Constant_9")
        %22 = "onnx.Add"(%12, %m) : ({S4}, {M}) -> {S4} loc("/attn/Add")
        %20 = "onnx.Where"(%c, %19, %22) : ({C}, tensor<f32>, {S4}) -> {S4} loc("/attn/Where")''', f", %c: {C}, %m: {M}"),
                                     "the scores are not a MatMul (of the scaled heads)"),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_misses_stay_and_explain_why(case):
    assert_stays(*NEAR_MISSES[case])
