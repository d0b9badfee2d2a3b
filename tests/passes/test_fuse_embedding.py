"""fuse-embedding: rows gathered from a weight table become mc.embedding; other Gathers stay."""

from mindconverter.passes.testing import check_pass


def test_gather_from_a_weight_table_becomes_embedding():
    check_pass("fuse-embedding", changed=True, before="""
      func @main(%ids: tensor<2x5xi64>) -> tensor<2x5x8xf32> {
        %embed.weight = "ir.param"() {key = "embed.weight"} : () -> tensor<100x8xf32>
        %0 = "onnx.Gather"(%embed.weight, %ids) : (tensor<100x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32> loc("/embed/Gather")
        "ir.return"(%0) : (tensor<2x5x8xf32>) -> ()
      }""", after="""
      func @main(%ids: tensor<2x5xi64>) -> tensor<2x5x8xf32> {
        %embed.weight = "ir.param"() {key = "embed.weight"} : () -> tensor<100x8xf32>
        %0 = "mc.embedding"(%ids, %embed.weight) : (tensor<2x5xi64>, tensor<100x8xf32>) -> tensor<2x5x8xf32> loc("/embed/Gather")
        "ir.return"(%0) : (tensor<2x5x8xf32>) -> ()
      }""")


def test_gather_along_another_axis_or_from_a_runtime_tensor_stays():
    check_pass("fuse-embedding", changed=False, before="""
      func @main(%ids: tensor<3xi64>, %x: tensor<100x8xf32>) -> (tensor<100x3xf32>, tensor<3x8xf32>) {
        %w = "ir.param"() {key = "w"} : () -> tensor<100x8xf32>
        %0 = "onnx.Gather"(%w, %ids) {axis = 1} : (tensor<100x8xf32>, tensor<3xi64>) -> tensor<100x3xf32> loc("g0")
        %1 = "onnx.Gather"(%x, %ids) : (tensor<100x8xf32>, tensor<3xi64>) -> tensor<3x8xf32> loc("g1")
        "ir.return"(%0, %1) : (tensor<100x3xf32>, tensor<3x8xf32>) -> ()
      }""")
