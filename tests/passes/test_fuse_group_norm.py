"""fuse-group-norm: torch's GroupNorm export (Reshape, InstanceNormalization without weights, Reshape, * w + b)
becomes mc.group_norm with its weights stored as (C,)."""

from mindconverter.passes.testing import check_pass, run_pass_on_text

BEFORE = """
            func @main(%x: tensor<?Nx8x10xf32>) -> tensor<?Nx8x10xf32> {
              %w = "ir.const"() {value = dense<[[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0]]>} : () -> tensor<8x1xf32>
              %b = "ir.const"() {value = dense<[[0.5], [0.5], [0.5], [0.5], [0.5], [0.5], [0.5], [-0.5]]>} : () -> tensor<8x1xf32>
              %0 = "ir.const"() {value = dense<[0, 2, -1]>} : () -> tensor<3xi64>
              %1 = "onnx.Reshape"(%x, %0) : (tensor<?Nx8x10xf32>, tensor<3xi64>) -> tensor<?Nx2x40xf32> loc("/norm/Reshape")
              %2 = "ir.const"() {value = dense<[1.0, 1.0]>} : () -> tensor<2xf32>
              %3 = "ir.const"() {value = dense<[0.0, 0.0]>} : () -> tensor<2xf32>
              %4 = "onnx.InstanceNormalization"(%1, %2, %3) {epsilon = 1e-05} : (tensor<?Nx2x40xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?Nx2x40xf32> loc("/norm/InstanceNormalization")
              %5 = "onnx.Shape"(%x) : (tensor<?Nx8x10xf32>) -> tensor<3xi64> loc("/norm/Shape")
              %6 = "onnx.Reshape"(%4, %5) : (tensor<?Nx2x40xf32>, tensor<3xi64>) -> tensor<?Nx8x10xf32> loc("/norm/Reshape_1")
              %7 = "onnx.Mul"(%6, %w) : (tensor<?Nx8x10xf32>, tensor<8x1xf32>) -> tensor<?Nx8x10xf32> loc("/norm/Mul")
              %8 = "onnx.Add"(%7, %b) : (tensor<?Nx8x10xf32>, tensor<8x1xf32>) -> tensor<?Nx8x10xf32> loc("/norm/Add")
              "ir.return"(%8) : (tensor<?Nx8x10xf32>) -> ()
            }"""


def test_torch_group_norm_export_with_dynamic_batch_becomes_group_norm():
    check_pass("fuse-group-norm", changed=True, before=BEFORE, after="""
      func @main(%x: tensor<?Nx8x10xf32>) -> tensor<?Nx8x10xf32> {
        %0 = "ir.const"() {value = dense<[[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0]]>} : () -> tensor<8x1xf32>
        %1 = "ir.const"() {value = dense<[[0.5], [0.5], [0.5], [0.5], [0.5], [0.5], [0.5], [-0.5]]>} : () -> tensor<8x1xf32>
        %2 = "ir.const"() {value = dense<[0, 2, -1]>} : () -> tensor<3xi64>
        %3 = "ir.const"() {value = dense<[1.0, 1.0]>} : () -> tensor<2xf32>
        %4 = "ir.const"() {value = dense<[0.0, 0.0]>} : () -> tensor<2xf32>
        %5 = "onnx.Shape"(%x) : (tensor<?Nx8x10xf32>) -> tensor<3xi64> loc("/norm/Shape")
        %6 = "ir.const"() {value = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]>} : () -> tensor<8xf32>
        %7 = "ir.const"() {value = dense<[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, -0.5]>} : () -> tensor<8xf32>
        %8 = "mc.group_norm"(%x, %6, %7) {num_groups = 2} : (tensor<?Nx8x10xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?Nx8x10xf32> loc(fused["/norm/Reshape", "/norm/InstanceNormalization", "/norm/Reshape_1", "/norm/Mul", "/norm/Add"])
        "ir.return"(%8) : (tensor<?Nx8x10xf32>) -> ()
      }""")


def test_an_intermediate_value_used_elsewhere_stays():
    before = BEFORE.replace("-> tensor<?Nx8x10xf32> {", "-> (tensor<?Nx8x10xf32>, tensor<?Nx2x40xf32>) {").replace(
        '"ir.return"(%8) : (tensor<?Nx8x10xf32>) -> ()',
        '"ir.return"(%8, %4) : (tensor<?Nx8x10xf32>, tensor<?Nx2x40xf32>) -> ()')
    got, changed = run_pass_on_text("fuse-group-norm", before)
    assert not changed and "mc.group_norm" not in got and '"ir.return"(%10, %6)' in got, got
