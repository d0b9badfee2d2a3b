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


def test_a_module_wrapping_one_sub_module_keeps_its_own_cell():
    """UNet's `inc = DoubleConv(...)` holding only `block = nn.Sequential(...)`: the cell `inc` holds the cell `inc.block`.

    Without its own cell the sub-module would take the wrapper's place and the checkpoint key
    `inc.block.0.weight` would lose its `inc`.
    """
    check_pass("structure-modules", changed=True, before="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "onnx.Neg"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/inc/block/block.0/Neg")
        %1 = "onnx.Relu"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/inc/block/block.1/Relu")
        %2 = "onnx.Tanh"(%1) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/head/Tanh")
        "ir.return"(%2) : (tensor<1x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%1: tensor<1x4xf32>):
          %2 = "mc.cell"(%1) ({
          ^bb(%3: tensor<1x4xf32>):
            %4 = "onnx.Neg"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/inc/block/block.0/Neg")
            %5 = "onnx.Relu"(%4) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/inc/block/block.1/Relu")
            "ir.yield"(%5) : (tensor<1x4xf32>) -> ()
          }) {name = "inc.block"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          "ir.yield"(%2) : (tensor<1x4xf32>) -> ()
        }) {name = "inc"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
        %6 = "onnx.Tanh"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/head/Tanh")
        "ir.return"(%6) : (tensor<1x4xf32>) -> ()
      }""")


def test_a_one_item_container_gets_no_absent_copy_of_a_longer_ones_item():
    """`layer1 = nn.Sequential(block, block)`, `layer2 = nn.Sequential(block)`: layer2 holds one item, no optional `layer2.1`."""
    def block(path: str, x: str, n: int) -> str:
        return f"""
        %{n} = "onnx.Neg"(%{x}) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/{path}/neg/Neg")
        %{n + 1} = "onnx.Relu"(%{n}) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("/{path}/act/Relu")"""

    before = f"""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {{{block("layer1/layer1.0", "x", 0)}{block("layer1/layer1.1", "1", 2)}{
        block("layer2/layer2.0", "3", 4)}
        "ir.return"(%5) : (tensor<1x4xf32>) -> ()
      }}"""
    text, changed = run_pass_on_text("structure-modules", before)
    assert changed and "absent" not in text and "optional" not in text, text
    assert '{name = "layer2"}' in text and '{name = "layer2.0"}' in text, text


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
    assert scope_path("block_1_expand/Conv2D") == ("block_1", "expand")  # Keras: layer `expand` of block `block_1`
    assert scope_path("dense/BiasAdd") == ("dense",)
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
    # torch's containers name no kind of block: the scope does (`blocks` -> a class named from the scope)
    text, _ = run_pass_on_text("structure-modules", BLOCKS, {"module-classes": {"blocks": "Sequential", "blocks.0": "Residual"}})
    assert 'cls = "Sequential"' not in text and text.count('cls = "Residual"') == 1


# ------------------------------------------------------------------------------------------------
# Without source scopes: repeated structure (structure_repeats) becomes cells.

RESIDUAL_BLOCKS = """
  func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
    %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
    %1 = "onnx.Neg"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_1")
    %2 = "onnx.Add"(%1, %x) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_2")
    %3 = "onnx.Relu"(%2) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_3")
    %4 = "onnx.Neg"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_4")
    %5 = "onnx.Add"(%4, %2) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_5")
    %6 = "onnx.Tanh"(%5) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Tanh_6")
    "ir.return"(%6) : (tensor<1x4xf32>) -> ()
  }"""


def test_repeated_residual_blocks_without_scopes_become_a_stage_of_cells():
    check_pass("structure-modules", changed=True, before=RESIDUAL_BLOCKS, after="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%1: tensor<1x4xf32>):
          %2 = "mc.cell"(%1) ({
          ^bb(%3: tensor<1x4xf32>):
            %4 = "onnx.Relu"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
            %5 = "onnx.Neg"(%4) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_1")
            %6 = "onnx.Add"(%5, %3) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_2")
            "ir.yield"(%6) : (tensor<1x4xf32>) -> ()
          }) {name = "stage1.0", cls = "ResidualBlock"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          %7 = "mc.cell"(%2) ({
          ^bb(%8: tensor<1x4xf32>):
            %9 = "onnx.Relu"(%8) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_3")
            %10 = "onnx.Neg"(%9) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_4")
            %11 = "onnx.Add"(%10, %8) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_5")
            "ir.yield"(%11) : (tensor<1x4xf32>) -> ()
          }) {name = "stage1.1", cls = "ResidualBlock"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          "ir.yield"(%7) : (tensor<1x4xf32>) -> ()
        }) {name = "stage1"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
        %12 = "onnx.Tanh"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Tanh_6")
        "ir.return"(%12) : (tensor<1x4xf32>) -> ()
      }""")


def test_a_projection_shortcut_becomes_an_optional_downsample_and_the_whole_graph_is_never_one_cell():
    # block1 adds Neg(x) back (a projection), block2 adds its input back: one structure, one class.
    check_pass("structure-modules", changed=True, before="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
        %1 = "onnx.Sigmoid"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Sigmoid_1")
        %2 = "onnx.Neg"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_2")
        %3 = "onnx.Add"(%1, %2) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_3")
        %4 = "onnx.Relu"(%3) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_4")
        %5 = "onnx.Sigmoid"(%4) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Sigmoid_5")
        %6 = "onnx.Add"(%5, %3) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_6")
        "ir.return"(%6) : (tensor<1x4xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%1: tensor<1x4xf32>):
          %2 = "onnx.Relu"(%1) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
          %3 = "onnx.Sigmoid"(%2) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Sigmoid_1")
          %4 = "mc.cell"(%1) ({
          ^bb(%5: tensor<1x4xf32>):
            %6 = "onnx.Neg"(%5) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_2")
            "ir.yield"(%6) : (tensor<1x4xf32>) -> ()
          }) {name = "block1.downsample", optional = true} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          %7 = "onnx.Add"(%3, %4) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_3")
          "ir.yield"(%7) : (tensor<1x4xf32>) -> ()
        }) {name = "block1", cls = "ResidualBlock"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
        %8 = "mc.cell"(%0) ({
        ^bb(%9: tensor<1x4xf32>):
          %10 = "onnx.Relu"(%9) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_4")
          %11 = "onnx.Sigmoid"(%10) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Sigmoid_5")
          %12 = "mc.cell"(%9) ({
          ^bb(%13: tensor<1x4xf32>):
            "ir.yield"(%13) : (tensor<1x4xf32>) -> ()
          }) {name = "block2.downsample", absent = true, optional = true} : (tensor<1x4xf32>) -> tensor<1x4xf32>
          %14 = "onnx.Add"(%11, %12) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32> loc("Add_6")
          "ir.yield"(%14) : (tensor<1x4xf32>) -> ()
        }) {name = "block2", cls = "ResidualBlock"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
        "ir.return"(%8) : (tensor<1x4xf32>) -> ()
      }""")


def test_a_plain_chain_without_scopes_stays_flat():
    check_pass("structure-modules", changed=False, before="""
      func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Relu_0")
        %1 = "onnx.Neg"(%0) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Neg_1")
        %2 = "onnx.Tanh"(%1) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Tanh_2")
        %3 = "onnx.Sigmoid"(%2) : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("Sigmoid_3")
        "ir.return"(%3) : (tensor<1x4xf32>) -> ()
      }""")


def test_a_vgg_like_conv_relu_chain_stays_flat():
    # conv+relu repeats, but a 2-op unit is one layer and its activation, not a block (MIN_UNIT_OPS).
    check_pass("structure-modules", changed=False, before="""
      func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
        %w0 = "ir.param"() {key = "conv0.weight"} : () -> tensor<2x2x1x1xf32>
        %w1 = "ir.param"() {key = "conv1.weight"} : () -> tensor<2x2x1x1xf32>
        %w2 = "ir.param"() {key = "conv2.weight"} : () -> tensor<2x2x1x1xf32>
        %w3 = "ir.param"() {key = "conv3.weight"} : () -> tensor<2x2x1x1xf32>
        %0 = "onnx.Conv"(%x, %w0) : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> loc("Conv_0")
        %1 = "onnx.Relu"(%0) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("Relu_1")
        %2 = "onnx.Conv"(%1, %w1) : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> loc("Conv_2")
        %3 = "onnx.Relu"(%2) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("Relu_3")
        %4 = "onnx.Conv"(%3, %w2) : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> loc("Conv_4")
        %5 = "onnx.Relu"(%4) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("Relu_5")
        %6 = "onnx.Conv"(%5, %w3) : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> loc("Conv_6")
        %7 = "onnx.Relu"(%6) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("Relu_7")
        "ir.return"(%7) : (tensor<1x2x4x4xf32>) -> ()
      }""")


def test_unscoped_cells_lower_back_to_the_original_ops():
    text, _ = run_pass_on_text("structure-modules", RESIDUAL_BLOCKS)
    lowered = lower_to_onnx(parse(text))
    verify(lowered)
    assert [op.name for op in lowered.main.body.ops] == [
        "onnx.Relu", "onnx.Neg", "onnx.Add", "onnx.Relu", "onnx.Neg", "onnx.Add", "onnx.Tanh", "ir.return"]
