"""structure-modules: ops of each source scope move into an mc.cell region; optional sub-modules get absent copies."""

from mindconverter.ir import parse, print_module, verify
from mindconverter.ir.dialect import lower_to_onnx
from mindconverter.passes.structure_modules import op_path, scope_path
from mindconverter.passes.testing import check_pass, run_pass_on_text

BLOCKS = """
  func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
    %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/act/Relu")
    %1 = "onnx.Neg"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/skip/Neg")
    %2 = "onnx.Abs"(%1) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/skip/Abs")
    %3 = "onnx.Add"(%0, %2) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/Add")
    %4 = "onnx.Relu"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.1/act/Relu")
    %5 = "onnx.Add"(%4, %3) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.1/Add")
    "ir.return"(%5) : (tensor<1x4xf32>) -> ()
  }"""


def test_scopes_become_nested_cells_and_a_missing_submodule_an_absent_one():
    check_pass("structure-modules", changed=True, before=BLOCKS, after="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%1: tensor<1x4xf32>):
          %2 = "mc.cell"(%1) ({
          ^bb(%3: tensor<1x4xf32>):
            %4 = "onnx.Relu"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/act/Relu")
            %5 = "mc.cell"(%3) ({
            ^bb(%6: tensor<1x4xf32>):
              %7 = "onnx.Neg"(%6) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/skip/Neg")
              %8 = "onnx.Abs"(%7) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/skip/Abs")
              "ir.yield"(%8) : (tensor<1x4xf32>) -> ()
            }) {name = "blocks.0.skip", optional = true} : (tensor<1x4xf32>) -> tensor<1x4xf32>
            %9 = "onnx.Add"(%4, %5) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.0/Add")
            "ir.yield"(%9) : (tensor<1x4xf32>) -> ()
          }) {name = "blocks.0"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          %10 = "mc.cell"(%2) ({
          ^bb(%11: tensor<1x4xf32>):
            %12 = "onnx.Relu"(%11) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.1/act/Relu")
            %13 = "mc.cell"(%11) ({
            ^bb(%14: tensor<1x4xf32>):
              "ir.yield"(%14) : (tensor<1x4xf32>) -> ()
            }) {name = "blocks.1.skip", absent = true, optional = true} : (tensor<1x4xf32>) -> tensor<1x4xf32>
            %15 = "onnx.Add"(%12, %13) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("/blocks/blocks.1/Add")
            "ir.yield"(%15) : (tensor<1x4xf32>) -> ()
          }) {name = "blocks.1"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          "ir.yield"(%10) : (tensor<1x4xf32>) -> ()
        }) {name = "blocks"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
        "ir.return"(%0) : (tensor<1x4xf32>) -> ()
      }""")


def test_unscoped_ops_and_one_op_scopes_stay_flat():
    check_pass("structure-modules", changed=False, before="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
        %1 = "onnx.Neg"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/fc/Neg")
        %2 = "onnx.Tanh"(%1) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/act/Tanh")
        "ir.return"(%2) : (tensor<1x4xf32>) -> ()
      }""")


def test_a_scope_whose_result_is_used_between_its_ops_is_left_to_its_parent():
    check_pass("structure-modules", changed=False, before="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/a/Relu")
        %1 = "onnx.Neg"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/b/Neg")
        %2 = "onnx.Add"(%0, %1) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("/a/Add")
        "ir.return"(%2) : (tensor<1x4xf32>) -> ()
      }""")


def test_scope_paths_of_torch_and_tf_names():
    assert scope_path("/layer1/layer1.0/conv1/Conv") == ("layer1", "0", "conv1")
    assert scope_path("/layers.0/attn/MatMul") == ("layers", "0", "attn")
    assert scope_path("block_1_expand/Conv2D") == ("block_1_expand",)
    assert scope_path("Conv_3") == ()
    module = parse('''
      func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<2xf32>) -> tensor<2xf32> loc(fused["/fc/MatMul", "/fc/Add"])
        "ir.return"(%0) : (tensor<2xf32>) -> ()
      }''')
    assert op_path(module.main.body.ops[0]) == ("fc",)


def test_lowering_inlines_the_cells_back_to_the_original_ops():
    text, _ = run_pass_on_text("structure-modules", BLOCKS)
    structured = parse(text)
    lowered = lower_to_onnx(structured)
    verify(lowered)
    assert not any(op.dialect == "mc" for op in lowered.ops())
    assert [op.name for op in lowered.main.body.ops] == [
        "onnx.Relu", "onnx.Neg", "onnx.Abs", "onnx.Add", "onnx.Relu", "onnx.Add", "ir.return"]
    assert "mc.cell" in print_module(structured)  # the input is not modified


def test_source_class_names_come_from_the_module_classes_option():
    text, _ = run_pass_on_text("structure-modules", BLOCKS, {"module-classes": {"blocks.0": "Residual", "blocks.1": "Residual"}})
    assert text.count('cls = "Residual"') == 2
