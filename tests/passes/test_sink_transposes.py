"""sink-transposes: NHWC<->NCHW transposes move below the ops they commute with and cancel (IR text in/out, and same values)."""

import numpy as np
import pytest

from mindconverter.ir.parser import parse
from mindconverter.passes.testing import check_pass, run_pass_on_text
from mindconverter.runtime_check.evaluate import run_ir

MERGE_NON_IDENTITY = (
    """
    func @main(%x: tensor<1x2x3x4xf32>) -> tensor<1x4x2x3xf32> {
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x2x3x4xf32>) -> tensor<1x3x4x2xf32> loc("t1")
      %1 = "onnx.Transpose"(%0) {perm = [0, 2, 3, 1]} : (tensor<1x3x4x2xf32>) -> tensor<1x4x2x3xf32> loc("t2")
      "ir.return"(%1) : (tensor<1x4x2x3xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x2x3x4xf32>) -> tensor<1x4x2x3xf32> {
      %0 = "onnx.Transpose"(%x) {perm = [0, 3, 1, 2]} : (tensor<1x2x3x4xf32>) -> tensor<1x4x2x3xf32> loc("t2")
      "ir.return"(%0) : (tensor<1x4x2x3xf32>) -> ()
    }""",
)


def test_merge_non_identity():
    """Two transposes compose into one."""
    before, after = MERGE_NON_IDENTITY
    check_pass("sink-transposes", changed=True, before=before, after=after)

BIAS_AND_RESIDUAL = (
    """
    func @main(%x: tensor<1x8x4x4xf32>, %y: tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
      %w = "ir.const"() {value = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]>} : () -> tensor<8xf32>
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %1 = "onnx.Mul"(%0, %w) : (tensor<1x4x4x8xf32>, tensor<8xf32>) -> tensor<1x4x4x8xf32> loc("bn/mul")
      %2 = "onnx.Transpose"(%y) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t2")
      %3 = "onnx.Add"(%1, %2) : (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("add")
      %4 = "onnx.Add"(%3, %3) : (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("add2")
      %5 = "onnx.Transpose"(%4) {perm = [0, 3, 1, 2]} : (tensor<1x4x4x8xf32>) -> tensor<1x8x4x4xf32> loc("t3")
      "ir.return"(%5) : (tensor<1x8x4x4xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x8x4x4xf32>, %y: tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
      %0 = "ir.const"() {value = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]>} : () -> tensor<8xf32>
      %1 = "ir.const"() {value = dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]], [[5.0]], [[6.0]], [[7.0]], [[8.0]]]]>} : () -> tensor<1x8x1x1xf32>
      %2 = "onnx.Mul"(%x, %1) : (tensor<1x8x4x4xf32>, tensor<1x8x1x1xf32>) -> tensor<1x8x4x4xf32> loc("bn/mul")
      %3 = "onnx.Add"(%2, %y) : (tensor<1x8x4x4xf32>, tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> loc("add")
      %4 = "onnx.Add"(%3, %3) : (tensor<1x8x4x4xf32>, tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> loc("add2")
      "ir.return"(%4) : (tensor<1x8x4x4xf32>) -> ()
    }""",
)


def test_bias_and_residual():
    """A per-channel constant is permuted to NCHW; a residual Add of two NHWC views runs in NCHW; the pair cancels."""
    before, after = BIAS_AND_RESIDUAL
    check_pass("sink-transposes", changed=True, before=before, after=after)

CONCAT_SOFTMAX_REDUCE = (
    """
    func @main(%x: tensor<1x8x4x4xf32>, %y: tensor<1x8x4x4xf32>) -> tensor<1x16x1x4xf32> {
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %1 = "onnx.Transpose"(%y) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t2")
      %2 = "onnx.Concat"(%0, %1) {axis = -1} : (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x16xf32> loc("concat")
      %3 = "onnx.Softmax"(%2) {axis = 3} : (tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32> loc("softmax")
      %4 = "onnx.ReduceMean"(%3) {axes = [1], keepdims = 1} : (tensor<1x4x4x16xf32>) -> tensor<1x1x4x16xf32> loc("mean")
      %5 = "onnx.Transpose"(%4) {perm = [0, 3, 1, 2]} : (tensor<1x1x4x16xf32>) -> tensor<1x16x1x4xf32> loc("t3")
      "ir.return"(%5) : (tensor<1x16x1x4xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x8x4x4xf32>, %y: tensor<1x8x4x4xf32>) -> tensor<1x16x1x4xf32> {
      %0 = "onnx.Concat"(%x, %y) {axis = 1} : (tensor<1x8x4x4xf32>, tensor<1x8x4x4xf32>) -> tensor<1x16x4x4xf32> loc("concat")
      %1 = "onnx.Softmax"(%0) {axis = 1} : (tensor<1x16x4x4xf32>) -> tensor<1x16x4x4xf32> loc("softmax")
      %2 = "onnx.ReduceMean"(%1) {axes = [2], keepdims = 1} : (tensor<1x16x4x4xf32>) -> tensor<1x16x1x4xf32> loc("mean")
      "ir.return"(%2) : (tensor<1x16x1x4xf32>) -> ()
    }""",
)


def test_concat_softmax_reduce():
    """Concat, Softmax and ReduceMean axes are mapped through the perm."""
    before, after = CONCAT_SOFTMAX_REDUCE
    check_pass("sink-transposes", changed=True, before=before, after=after)

PAD_SLICE_REDUCESUM = (
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> tensor<1x8x1x2xf32> {
      %p = "ir.const"() {value = dense<[0, 1, 0, 0, 0, 0, 2, 0]>} : () -> tensor<8xi64>
      %s = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %e = "ir.const"() {value = dense<[3]>} : () -> tensor<1xi64>
      %a = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
      %r = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %1 = "onnx.Pad"(%0, %p) {mode = "constant"} : (tensor<1x4x4x8xf32>, tensor<8xi64>) -> tensor<1x5x6x8xf32> loc("pad")
      %2 = "onnx.Slice"(%1, %s, %e, %a) : (tensor<1x5x6x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x5x2x8xf32> loc("slice")
      %3 = "onnx.ReduceSum"(%2, %r) {keepdims = 1} : (tensor<1x5x2x8xf32>, tensor<1xi64>) -> tensor<1x1x2x8xf32> loc("sum")
      %4 = "onnx.Transpose"(%3) {perm = [0, 3, 1, 2]} : (tensor<1x1x2x8xf32>) -> tensor<1x8x1x2xf32> loc("t2")
      "ir.return"(%4) : (tensor<1x8x1x2xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> tensor<1x8x1x2xf32> {
      %0 = "ir.const"() {value = dense<[0, 1, 0, 0, 0, 0, 2, 0]>} : () -> tensor<8xi64>
      %1 = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %2 = "ir.const"() {value = dense<[3]>} : () -> tensor<1xi64>
      %3 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64>
      %4 = "ir.const"() {value = dense<[1]>} : () -> tensor<1xi64>
      %5 = "ir.const"() {value = dense<[0, 0, 1, 0, 0, 0, 0, 2]>} : () -> tensor<8xi64> loc("pad")
      %6 = "onnx.Pad"(%x, %5) {mode = "constant"} : (tensor<1x8x4x4xf32>, tensor<8xi64>) -> tensor<1x8x5x6xf32> loc("pad")
      %7 = "ir.const"() {value = dense<[3]>} : () -> tensor<1xi64> loc("slice")
      %8 = "onnx.Slice"(%6, %1, %2, %7) : (tensor<1x8x5x6xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x8x5x2xf32> loc("slice")
      %9 = "ir.const"() {value = dense<[2]>} : () -> tensor<1xi64> loc("sum")
      %10 = "onnx.ReduceSum"(%8, %9) {keepdims = 1} : (tensor<1x8x5x2xf32>, tensor<1xi64>) -> tensor<1x8x1x2xf32> loc("sum")
      "ir.return"(%10) : (tensor<1x8x1x2xf32>) -> ()
    }""",
)


def test_pad_slice_reducesum():
    """Pad's pads, Slice's axes and ReduceSum's axes input are mapped through the perm."""
    before, after = PAD_SLICE_REDUCESUM
    check_pass("sink-transposes", changed=True, before=before, after=after)

BATCHNORM_IN_NCHW = (
    """
    func @main(%x: tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> {
      %g = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %b = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %m = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %v = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %0 = "onnx.Transpose"(%x) {perm = [0, 3, 1, 2]} : (tensor<1x4x4x8xf32>) -> tensor<1x8x4x4xf32> loc("t1")
      %1 = "onnx.BatchNormalization"(%0, %g, %b, %m, %v) {epsilon = 0.001} : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32> loc("bn")
      %2 = "onnx.Transpose"(%1) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t2")
      %3 = "onnx.Transpose"(%2) {perm = [0, 3, 1, 2]} : (tensor<1x4x4x8xf32>) -> tensor<1x8x4x4xf32> loc("t3")
      %4 = "onnx.Relu"(%3) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> loc("relu")
      %5 = "onnx.Transpose"(%4) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t4")
      "ir.return"(%5) : (tensor<1x4x4x8xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> {
      %0 = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %1 = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %2 = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %3 = "ir.const"() {value = dense<[1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5]>} : () -> tensor<8xf32>
      %4 = "onnx.Transpose"(%x) {perm = [0, 3, 1, 2]} : (tensor<1x4x4x8xf32>) -> tensor<1x8x4x4xf32> loc("t1")
      %5 = "onnx.BatchNormalization"(%4, %0, %1, %2, %3) {epsilon = 0.001} : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32> loc("bn")
      %6 = "onnx.Relu"(%5) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> loc("relu")
      %7 = "onnx.Transpose"(%6) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t4")
      "ir.return"(%7) : (tensor<1x4x4x8xf32>) -> ()
    }""",
)


def test_batchnorm_in_nchw():
    """tf2onnx's NCHW->NHWC->NCHW pair around a BatchNorm cancels; a perm moving the channel axis does not pass the BatchNorm."""
    before, after = BATCHNORM_IN_NCHW
    check_pass("sink-transposes", changed=True, before=before, after=after)

STAYS_MULTI_USER_AND_RESHAPE = (
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> (tensor<1x128xf32>, tensor<1x4x4x8xf32>) {
      %s = "ir.const"() {value = dense<[1, 128]>} : () -> tensor<2xi64>
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %1 = "onnx.Reshape"(%0, %s) : (tensor<1x4x4x8xf32>, tensor<2xi64>) -> tensor<1x128xf32> loc("flatten")
      %2 = "onnx.Relu"(%0) : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("relu")
      "ir.return"(%1, %2) : (tensor<1x128xf32>, tensor<1x4x4x8xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> (tensor<1x128xf32>, tensor<1x4x4x8xf32>) {
      %0 = "ir.const"() {value = dense<[1, 128]>} : () -> tensor<2xi64>
      %1 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %2 = "onnx.Reshape"(%1, %0) : (tensor<1x4x4x8xf32>, tensor<2xi64>) -> tensor<1x128xf32> loc("flatten")
      %3 = "onnx.Relu"(%1) : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("relu")
      "ir.return"(%2, %3) : (tensor<1x128xf32>, tensor<1x4x4x8xf32>) -> ()
    }""",
)


def test_stays_multi_user_and_reshape():
    """A transpose with two users, one a Reshape, stays."""
    before, after = STAYS_MULTI_USER_AND_RESHAPE
    check_pass("sink-transposes", changed=False, before=before, after=after)

GLOBAL_POOL_KEEPDIMS_0 = (
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> tensor<1x8xf32> {
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x8x4x4xf32>) -> tensor<1x4x4x8xf32> loc("t1")
      %1 = "onnx.Relu"(%0) : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("relu")
      %2 = "onnx.ReduceMean"(%1) {axes = [1, 2], keepdims = 0} : (tensor<1x4x4x8xf32>) -> tensor<1x8xf32> loc("gap")
      "ir.return"(%2) : (tensor<1x8xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x8x4x4xf32>) -> tensor<1x8xf32> {
      %0 = "onnx.Relu"(%x) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> loc("relu")
      %1 = "onnx.ReduceMean"(%0) {axes = [2, 3], keepdims = 0} : (tensor<1x8x4x4xf32>) -> tensor<1x8xf32> loc("gap")
      "ir.return"(%1) : (tensor<1x8xf32>) -> ()
    }""",
)


def test_global_pool_keepdims_0():
    """Keras' global pooling (ReduceMean over H, W, keepdims=0) leaves no transpose behind."""
    before, after = GLOBAL_POOL_KEEPDIMS_0
    check_pass("sink-transposes", changed=True, before=before, after=after)

REDUCE_KEEPDIMS_0_KEEPS_A_SMALLER_PERM = (
    """
    func @main(%x: tensor<2x3x4x5xf32>) -> tensor<2x5x4xf32> {
      %0 = "onnx.Transpose"(%x) {perm = [0, 3, 2, 1]} : (tensor<2x3x4x5xf32>) -> tensor<2x5x4x3xf32> loc("t1")
      %1 = "onnx.ReduceMax"(%0) {axes = [-1], keepdims = 0} : (tensor<2x5x4x3xf32>) -> tensor<2x5x4xf32> loc("max")
      "ir.return"(%1) : (tensor<2x5x4xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<2x3x4x5xf32>) -> tensor<2x5x4xf32> {
      %0 = "onnx.ReduceMax"(%x) {axes = [1], keepdims = 0} : (tensor<2x3x4x5xf32>) -> tensor<2x4x5xf32> loc("max")
      %1 = "onnx.Transpose"(%0) {perm = [0, 2, 1]} : (tensor<2x4x5xf32>) -> tensor<2x5x4xf32> loc("t1")
      "ir.return"(%1) : (tensor<2x5x4xf32>) -> ()
    }""",
)


def test_reduce_keepdims_0_keeps_a_smaller_perm():
    """A keepdims=0 reduction keeps the perm of the remaining axes."""
    before, after = REDUCE_KEEPDIMS_0_KEEPS_A_SMALLER_PERM
    check_pass("sink-transposes", changed=True, before=before, after=after)

SQUEEZE_OF_SIZE_ONE_AXES = (
    """
    func @main(%x: tensor<1x56x1x1xf32>) -> tensor<56xf32> {
      %a = "ir.const"() {value = dense<[0, 1, 2]>} : () -> tensor<3xi64>
      %0 = "onnx.Transpose"(%x) {perm = [0, 2, 3, 1]} : (tensor<1x56x1x1xf32>) -> tensor<1x1x1x56xf32> loc("t1")
      %1 = "onnx.Squeeze"(%0, %a) : (tensor<1x1x1x56xf32>, tensor<3xi64>) -> tensor<56xf32> loc("squeeze")
      "ir.return"(%1) : (tensor<56xf32>) -> ()
    }""",
    """
    func @main(%x: tensor<1x56x1x1xf32>) -> tensor<56xf32> {
      %0 = "ir.const"() {value = dense<[0, 1, 2]>} : () -> tensor<3xi64>
      %1 = "ir.const"() {value = dense<[0, 2, 3]>} : () -> tensor<3xi64> loc("squeeze")
      %2 = "onnx.Squeeze"(%x, %1) : (tensor<1x56x1x1xf32>, tensor<3xi64>) -> tensor<56xf32> loc("squeeze")
      "ir.return"(%2) : (tensor<56xf32>) -> ()
    }""",
)


def test_squeeze_of_size_one_axes():
    """Squeezing the size-1 axes of a transposed value squeezes the matching axes; no transpose is left."""
    before, after = SQUEEZE_OF_SIZE_ONE_AXES
    check_pass("sink-transposes", changed=True, before=before, after=after)


@pytest.mark.parametrize("case", [MERGE_NON_IDENTITY, BIAS_AND_RESIDUAL, CONCAT_SOFTMAX_REDUCE, PAD_SLICE_REDUCESUM, BATCHNORM_IN_NCHW, STAYS_MULTI_USER_AND_RESHAPE, GLOBAL_POOL_KEEPDIMS_0, REDUCE_KEEPDIMS_0_KEEPS_A_SMALLER_PERM, SQUEEZE_OF_SIZE_ONE_AXES], ids=['merge_non_identity', 'bias_and_residual', 'concat_softmax_reduce', 'pad_slice_reducesum', 'batchnorm_in_nchw', 'stays_multi_user_and_reshape', 'global_pool_keepdims_0', 'reduce_keepdims_0_keeps_a_smaller_perm', 'squeeze_of_size_one_axes'])
def test_rewritten_ir_computes_the_same(case):
    before, _ = case
    after, _ = run_pass_on_text("sink-transposes", before)
    rng = np.random.default_rng(0)
    module = parse(before)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = run_ir(module, inputs).outputs
    got = run_ir(parse(after), inputs).outputs
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
