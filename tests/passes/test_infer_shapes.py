"""infer-shapes: types get more precise, symbols survive, known sizes are never lost."""

from mindconverter.ir import DType, Sym, TensorType
from mindconverter.passes.infer_shapes import merge
from mindconverter.passes.testing import check_pass


def test_unknown_types_are_inferred_and_symbols_kept():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?Nx3x8x8xf32>) -> tensor<*xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx3x8x8xf32>) -> tensor<*xf32>
        %1 = "onnx.GlobalAveragePool"(%0) : (tensor<*xf32>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x1x1xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x8x8xf32>
        %1 = "onnx.GlobalAveragePool"(%0) : (tensor<?Nx3x8x8xf32>) -> tensor<?Nx3x1x1xf32>
        "ir.return"(%1) : (tensor<?Nx3x1x1xf32>) -> ()
      }""")


def test_reshape_shape_is_propagated_from_constants():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<2x3x4xf32>) -> tensor<*xf32> {
        %0 = "ir.const"() {value = dense<[2, -1]>} : () -> tensor<2xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
        %0 = "ir.const"() {value = dense<[2, -1]>} : () -> tensor<2xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
        "ir.return"(%1) : (tensor<2x12xf32>) -> ()
      }""")


def test_fully_typed_ir_is_unchanged():
    check_pass("infer-shapes", changed=False, before="""
      func @main(%x: tensor<?Nx4xf32>) -> tensor<?Nx4xf32> {
        %0 = "onnx.Relu"(%x) : (tensor<?Nx4xf32>) -> tensor<?Nx4xf32>
        "ir.return"(%0) : (tensor<?Nx4xf32>) -> ()
      }""")


def test_merge_prefers_sizes_over_symbols_over_unknown():
    from mindconverter.ir.types import UNKNOWN

    old = TensorType(DType.F32, (Sym("N"), UNKNOWN, 3))
    new = TensorType(DType.F32, (UNKNOWN, 5, Sym("M")))
    assert merge(old, new) == TensorType(DType.F32, (Sym("N"), 5, 3))
    assert merge(old, TensorType(DType.F32, None)) == old


def test_exporter_symbols_unify_with_the_inputs_symbols_everywhere():
    # %0 is declared with the exporter's ?unk__3; adding it to %x (batch) proves unk__3 == batch.
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?batchx4xf32>, %y: tensor<?unk__3x4xf32>) -> tensor<*xf32> {
        %0 = "onnx.Relu"(%y) : (tensor<?unk__3x4xf32>) -> tensor<?unk__3x4xf32>
        %1 = "onnx.Add"(%0, %x) : (tensor<?unk__3x4xf32>, tensor<?batchx4xf32>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?batchx4xf32>, %y: tensor<?batchx4xf32>) -> tensor<?batchx4xf32> {
        %0 = "onnx.Relu"(%y) : (tensor<?batchx4xf32>) -> tensor<?batchx4xf32>
        %1 = "onnx.Add"(%0, %x) : (tensor<?batchx4xf32>, tensor<?batchx4xf32>) -> tensor<?batchx4xf32>
        "ir.return"(%1) : (tensor<?batchx4xf32>) -> ()
      }""")


def test_a_declared_exporter_symbol_takes_the_size_the_rule_proves():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?bx?sx32xf32>) -> (tensor<?bx?sx?unk__15x8xf32>, tensor<?bx?unk__15x?sx8xf32>) {
        %0 = "ir.const"() {value = dense<[0, 0, 4, 8]>} : () -> tensor<4xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<?bx?sx32xf32>, tensor<4xi64>) -> tensor<?bx?sx?unk__15x8xf32>
        %2 = "onnx.Transpose"(%1) {perm = [0, 2, 1, 3]} : (tensor<?bx?sx?unk__15x8xf32>) -> tensor<?bx?unk__15x?sx8xf32>
        "ir.return"(%1, %2) : (tensor<?bx?sx?unk__15x8xf32>, tensor<?bx?unk__15x?sx8xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?bx?sx32xf32>) -> (tensor<?bx?sx4x8xf32>, tensor<?bx4x?sx8xf32>) {
        %0 = "ir.const"() {value = dense<[0, 0, 4, 8]>} : () -> tensor<4xi64>
        %1 = "onnx.Reshape"(%x, %0) : (tensor<?bx?sx32xf32>, tensor<4xi64>) -> tensor<?bx?sx4x8xf32>
        %2 = "onnx.Transpose"(%1) {perm = [0, 2, 1, 3]} : (tensor<?bx?sx4x8xf32>) -> tensor<?bx4x?sx8xf32>
        "ir.return"(%1, %2) : (tensor<?bx?sx4x8xf32>, tensor<?bx4x?sx8xf32>) -> ()
      }""")


def test_mc_ops_and_onnx_ops_of_one_func_are_inferred_together():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?bx?sx8xf32>) -> tensor<*xf32> {
        %w = "ir.param"() {key = "w"} : () -> tensor<16x8xf32>
        %g = "ir.param"() {key = "g"} : () -> tensor<16xf32>
        %0 = "mc.dense"(%x, %w) : (tensor<?bx?sx8xf32>, tensor<16x8xf32>) -> tensor<?bx?sx16xf32>
        %1 = "onnx.Relu"(%0) : (tensor<?bx?sx16xf32>) -> tensor<*xf32>
        %2 = "mc.layer_norm"(%1, %g) : (tensor<*xf32>, tensor<16xf32>) -> tensor<*xf32>
        %3 = "onnx.ReduceSum"(%2) {keepdims = 0} : (tensor<*xf32>) -> tensor<*xf32>
        "ir.return"(%3) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?bx?sx8xf32>) -> tensor<f32> {
        %w = "ir.param"() {key = "w"} : () -> tensor<16x8xf32>
        %g = "ir.param"() {key = "g"} : () -> tensor<16xf32>
        %0 = "mc.dense"(%x, %w) : (tensor<?bx?sx8xf32>, tensor<16x8xf32>) -> tensor<?bx?sx16xf32>
        %1 = "onnx.Relu"(%0) : (tensor<?bx?sx16xf32>) -> tensor<?bx?sx16xf32>
        %2 = "mc.layer_norm"(%1, %g) : (tensor<?bx?sx16xf32>, tensor<16xf32>) -> tensor<?bx?sx16xf32>
        %3 = "onnx.ReduceSum"(%2) {keepdims = 0} : (tensor<?bx?sx16xf32>) -> tensor<f32>
        "ir.return"(%3) : (tensor<f32>) -> ()
      }""")


def test_ops_without_a_rule_use_onnx_inference_next_to_mc_ops():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<2x5x3x3xf32>) -> tensor<*xf32> {
        %0 = "mc.gelu"(%x) : (tensor<2x5x3x3xf32>) -> tensor<2x5x3x3xf32>
        %1 = "onnx.Det"(%0) : (tensor<2x5x3x3xf32>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<2x5x3x3xf32>) -> tensor<2x5xf32> {
        %0 = "mc.gelu"(%x) : (tensor<2x5x3x3xf32>) -> tensor<2x5x3x3xf32>
        %1 = "onnx.Det"(%0) : (tensor<2x5x3x3xf32>) -> tensor<2x5xf32>
        "ir.return"(%1) : (tensor<2x5xf32>) -> ()
      }""")


def test_mc_cell_is_inferred_through_its_region():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?bx8xf32>) -> tensor<*xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%a: tensor<*xf32>):
          %1 = "onnx.Relu"(%a) : (tensor<*xf32>) -> tensor<*xf32>
          "ir.yield"(%1) : (tensor<*xf32>) -> ()
        }) {name = "block"} : (tensor<?bx8xf32>) -> tensor<*xf32>
        "ir.return"(%0) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?bx8xf32>) -> tensor<?bx8xf32> {
        %0 = "mc.cell"(%x) ({
        ^bb(%a: tensor<?bx8xf32>):
          %1 = "onnx.Relu"(%a) : (tensor<?bx8xf32>) -> tensor<?bx8xf32>
          "ir.yield"(%1) : (tensor<?bx8xf32>) -> ()
        }) {name = "block"} : (tensor<?bx8xf32>) -> tensor<?bx8xf32>
        "ir.return"(%0) : (tensor<?bx8xf32>) -> ()
      }""")


def test_if_results_keep_what_both_branches_agree_on():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%c: tensor<bool>, %x: tensor<?bx8xf32>) -> tensor<*xf32> {
        %0 = "onnx.If"(%c) ({
          %1 = "onnx.Relu"(%x) : (tensor<?bx8xf32>) -> tensor<*xf32>
          "ir.yield"(%1) : (tensor<*xf32>) -> ()
        }, {
          %2 = "ir.const"() {value = dense<[0, 4]>} : () -> tensor<2xi64>
          %3 = "onnx.Reshape"(%x, %2) : (tensor<?bx8xf32>, tensor<2xi64>) -> tensor<*xf32>
          "ir.yield"(%3) : (tensor<*xf32>) -> ()
        }) : (tensor<bool>) -> tensor<*xf32>
        "ir.return"(%0) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%c: tensor<bool>, %x: tensor<?bx8xf32>) -> tensor<?bx?xf32> {
        %0 = "onnx.If"(%c) ({
          %1 = "onnx.Relu"(%x) : (tensor<?bx8xf32>) -> tensor<?bx8xf32>
          "ir.yield"(%1) : (tensor<?bx8xf32>) -> ()
        }, {
          %2 = "ir.const"() {value = dense<[0, 4]>} : () -> tensor<2xi64>
          %3 = "onnx.Reshape"(%x, %2) : (tensor<?bx8xf32>, tensor<2xi64>) -> tensor<?bx4xf32>
          "ir.yield"(%3) : (tensor<?bx4xf32>) -> ()
        }) : (tensor<bool>) -> tensor<?bx?xf32>
        "ir.return"(%0) : (tensor<?bx?xf32>) -> ()
      }""")


def test_a_rule_contradicting_a_declared_size_is_a_model_error():
    import pytest

    from mindconverter.errors import PassError
    from mindconverter.passes.testing import run_pass_on_text

    with pytest.raises(PassError, match=r"'onnx.Transpose' contradict each other: the result is declared tensor<3x2xf32> "
                                        r"but the op gives tensor<4x2xf32>") as info:
        run_pass_on_text("infer-shapes", """
          func @main(%x: tensor<2x4xf32>) -> tensor<3x2xf32> {
            %0 = "onnx.Transpose"(%x) : (tensor<2x4xf32>) -> tensor<3x2xf32> loc("/t/Transpose")
            "ir.return"(%0) : (tensor<3x2xf32>) -> ()
          }""")
    assert 'loc("/t/Transpose")' in info.value.where and info.value.code == 4000001


def test_static_types_are_inferred():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<*xf32> {
        %0 = "onnx.Conv"(%x, %w) {pads = [1, 1, 1, 1]} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<*xf32>
        %1 = "onnx.Flatten"(%0) : (tensor<*xf32>) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x256xf32> {
        %0 = "onnx.Conv"(%x, %w) {pads = [1, 1, 1, 1]} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
        %1 = "onnx.Flatten"(%0) : (tensor<1x4x8x8xf32>) -> tensor<1x256xf32>
        "ir.return"(%1) : (tensor<1x256xf32>) -> ()
      }""")


def test_unifier_prefers_input_then_user_names():
    from mindconverter.passes.infer_shapes import Unifier

    u = Unifier(inputs={"batch"}, outputs=set())
    u.equate(Sym("unk__3"), Sym("Addunk__3_dim_0"))
    u.equate(Sym("Addunk__3_dim_0"), Sym("batch"))
    u.equate(Sym("s0"), Sym("tokens"))
    u.equate(Sym("unk__9"), 12)
    u.equate(Sym("batch"), 4)  # the inputs' own symbols stay dynamic
    assert u.resolve(Sym("unk__3")) == Sym("batch")
    assert u.resolve(Sym("s0")) == Sym("tokens")
    assert u.resolve(Sym("unk__9")) == 12
    assert u.resolve(Sym("batch")) == Sym("batch")


def test_static_shapes_never_reach_sympy(monkeypatch):
    from mindconverter.ir import symbolic

    def no_sympy(d):
        raise AssertionError(f"static inference used sympy for {d!r}")

    monkeypatch.setattr(symbolic, "to_sympy", no_sympy)
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<*xf32> {
        %0 = "onnx.Conv"(%x, %w) {strides = [2, 2]} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<*xf32>
        %1 = "onnx.MaxPool"(%0) {ceil_mode = 1, kernel_shape = [2, 2], strides = [2, 2]} : (tensor<*xf32>) -> tensor<*xf32>
        %2 = "ir.const"() {value = dense<[0, -1]>} : () -> tensor<2xi64>
        %3 = "onnx.Reshape"(%1, %2) : (tensor<*xf32>, tensor<2xi64>) -> tensor<*xf32>
        %4 = "onnx.Concat"(%3, %3) {axis = 1} : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
        "ir.return"(%4) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x32xf32> {
        %0 = "onnx.Conv"(%x, %w) {strides = [2, 2]} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32>
        %1 = "onnx.MaxPool"(%0) {ceil_mode = 1, kernel_shape = [2, 2], strides = [2, 2]} : (tensor<1x4x3x3xf32>) -> tensor<1x4x2x2xf32>
        %2 = "ir.const"() {value = dense<[0, -1]>} : () -> tensor<2xi64>
        %3 = "onnx.Reshape"(%1, %2) : (tensor<1x4x2x2xf32>, tensor<2xi64>) -> tensor<1x16xf32>
        %4 = "onnx.Concat"(%3, %3) {axis = 1} : (tensor<1x16xf32>, tensor<1x16xf32>) -> tensor<1x32xf32>
        "ir.return"(%4) : (tensor<1x32xf32>) -> ()
      }""")


def test_reshape_by_a_shape_computed_from_shape_gather_concat():
    """Concat(Gather(Shape(x), [0, 1]), [12, 64]) is the tensor (?b, ?s, 12, 64)."""
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<?bx?sx768xf32>) -> tensor<*xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<?bx?sx768xf32>) -> tensor<3xi64>
        %1 = "ir.const"() {value = dense<[0, 1]>} : () -> tensor<2xi64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
        %3 = "ir.const"() {value = dense<[12, 64]>} : () -> tensor<2xi64>
        %4 = "onnx.Concat"(%2, %3) {axis = 0} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
        %5 = "onnx.Reshape"(%x, %4) : (tensor<?bx?sx768xf32>, tensor<4xi64>) -> tensor<*xf32>
        "ir.return"(%5) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<?bx?sx768xf32>) -> tensor<?bx?sx12x64xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<?bx?sx768xf32>) -> tensor<3xi64>
        %1 = "ir.const"() {value = dense<[0, 1]>} : () -> tensor<2xi64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
        %3 = "ir.const"() {value = dense<[12, 64]>} : () -> tensor<2xi64>
        %4 = "onnx.Concat"(%2, %3) {axis = 0} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
        %5 = "onnx.Reshape"(%x, %4) : (tensor<?bx?sx768xf32>, tensor<4xi64>) -> tensor<?bx?sx12x64xf32>
        "ir.return"(%5) : (tensor<?bx?sx12x64xf32>) -> ()
      }""")


def test_windowed_pad_to_a_multiple_and_window_partition():
    """Pad h to a multiple of 7 with (7 - h % 7) % 7 computed at run time, then cut into windows."""
    check_pass("infer-shapes", changed=True, before="""
      func @main(%x: tensor<1x?hx7x8xf32>) -> tensor<*xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<1x?hx7x8xf32>) -> tensor<4xi64>
        %1 = "ir.const"() {value = dense<1>} : () -> tensor<i64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
        %3 = "ir.const"() {value = dense<7>} : () -> tensor<i64>
        %4 = "onnx.Mod"(%2, %3) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %5 = "onnx.Sub"(%3, %4) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %6 = "onnx.Mod"(%5, %3) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %7 = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
        %8 = "onnx.Unsqueeze"(%6, %7) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
        %9 = "ir.const"() {value = dense<[0, 0, 0, 0, 0]>} : () -> tensor<5xi64>
        %10 = "ir.const"() {value = dense<[0, 0]>} : () -> tensor<2xi64>
        %11 = "onnx.Concat"(%9, %8, %10) {axis = 0} : (tensor<5xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<8xi64>
        %12 = "onnx.Pad"(%x, %11) : (tensor<1x?hx7x8xf32>, tensor<8xi64>) -> tensor<*xf32>
        %13 = "ir.const"() {value = dense<[1, -1, 7, 1, 7, 8]>} : () -> tensor<6xi64>
        %14 = "onnx.Reshape"(%12, %13) : (tensor<*xf32>, tensor<6xi64>) -> tensor<*xf32>
        "ir.return"(%14) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%x: tensor<1x?hx7x8xf32>) -> tensor<1x?((h + 6)//7)x7x1x7x8xf32> {
        %0 = "onnx.Shape"(%x) : (tensor<1x?hx7x8xf32>) -> tensor<4xi64>
        %1 = "ir.const"() {value = dense<1>} : () -> tensor<i64>
        %2 = "onnx.Gather"(%0, %1) {axis = 0} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
        %3 = "ir.const"() {value = dense<7>} : () -> tensor<i64>
        %4 = "onnx.Mod"(%2, %3) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %5 = "onnx.Sub"(%3, %4) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %6 = "onnx.Mod"(%5, %3) : (tensor<i64>, tensor<i64>) -> tensor<i64>
        %7 = "ir.const"() {value = dense<[0]>} : () -> tensor<1xi64>
        %8 = "onnx.Unsqueeze"(%6, %7) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
        %9 = "ir.const"() {value = dense<[0, 0, 0, 0, 0]>} : () -> tensor<5xi64>
        %10 = "ir.const"() {value = dense<[0, 0]>} : () -> tensor<2xi64>
        %11 = "onnx.Concat"(%9, %8, %10) {axis = 0} : (tensor<5xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<8xi64>
        %12 = "onnx.Pad"(%x, %11) : (tensor<1x?hx7x8xf32>, tensor<8xi64>) -> tensor<1x?(7*((h + 6)//7))x7x8xf32>
        %13 = "ir.const"() {value = dense<[1, -1, 7, 1, 7, 8]>} : () -> tensor<6xi64>
        %14 = "onnx.Reshape"(%12, %13) : (tensor<1x?(7*((h + 6)//7))x7x8xf32>, tensor<6xi64>) -> tensor<1x?((h + 6)//7)x7x1x7x8xf32>
        "ir.return"(%14) : (tensor<1x?((h + 6)//7)x7x1x7x8xf32>) -> ()
      }""")


def test_a_static_model_converts_without_importing_sympy():
    """Importing sympy takes about a second; static shapes are plain ints all the way."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys\n"
        "from mindconverter.frontend.onnx import load_onnx\n"
        "from mindconverter.passes.manager import run_default_pipeline\n"
        f"run_default_pipeline(load_onnx({str(root / 'examples' / 'tiny_convnet.onnx')!r}).module)\n"
        "print('sympy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_scan_stacks_its_per_step_outputs():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%s: tensor<2xf32>, %x: tensor<?tx2xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
        %0, %1 = "onnx.Scan"(%s, %x) ({
        ^bb(%a: tensor<2xf32>, %b: tensor<2xf32>):
          %2 = "onnx.Add"(%a, %b) : (tensor<2xf32>, tensor<2xf32>) -> tensor<*xf32>
          "ir.yield"(%2, %2) : (tensor<*xf32>, tensor<*xf32>) -> ()
        }) {num_scan_inputs = 1} : (tensor<2xf32>, tensor<?tx2xf32>) -> (tensor<*xf32>, tensor<*xf32>)
        "ir.return"(%0, %1) : (tensor<*xf32>, tensor<*xf32>) -> ()
      }""", after="""
      func @main(%s: tensor<2xf32>, %x: tensor<?tx2xf32>) -> (tensor<2xf32>, tensor<?tx2xf32>) {
        %0, %1 = "onnx.Scan"(%s, %x) ({
        ^bb(%a: tensor<2xf32>, %b: tensor<2xf32>):
          %2 = "onnx.Add"(%a, %b) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
          "ir.yield"(%2, %2) : (tensor<2xf32>, tensor<2xf32>) -> ()
        }) {num_scan_inputs = 1} : (tensor<2xf32>, tensor<?tx2xf32>) -> (tensor<2xf32>, tensor<?tx2xf32>)
        "ir.return"(%0, %1) : (tensor<2xf32>, tensor<?tx2xf32>) -> ()
      }""")


def test_loop_carried_values_and_scan_outputs():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%n: tensor<i64>, %c: tensor<bool>, %v: tensor<?bx3xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
        %0, %1 = "onnx.Loop"(%n, %c, %v) ({
        ^bb(%i: tensor<i64>, %cond: tensor<bool>, %x: tensor<?bx3xf32>):
          %2 = "onnx.Relu"(%x) : (tensor<?bx3xf32>) -> tensor<*xf32>
          %3 = "onnx.ReduceSum"(%2) {keepdims = 0} : (tensor<*xf32>) -> tensor<*xf32>
          "ir.yield"(%cond, %2, %3) : (tensor<bool>, tensor<*xf32>, tensor<*xf32>) -> ()
        }) : (tensor<i64>, tensor<bool>, tensor<?bx3xf32>) -> (tensor<*xf32>, tensor<*xf32>)
        "ir.return"(%0, %1) : (tensor<*xf32>, tensor<*xf32>) -> ()
      }""", after="""
      func @main(%n: tensor<i64>, %c: tensor<bool>, %v: tensor<?bx3xf32>) -> (tensor<?bx3xf32>, tensor<?xf32>) {
        %0, %1 = "onnx.Loop"(%n, %c, %v) ({
        ^bb(%i: tensor<i64>, %cond: tensor<bool>, %x: tensor<?bx3xf32>):
          %2 = "onnx.Relu"(%x) : (tensor<?bx3xf32>) -> tensor<?bx3xf32>
          %3 = "onnx.ReduceSum"(%2) {keepdims = 0} : (tensor<?bx3xf32>) -> tensor<f32>
          "ir.yield"(%cond, %2, %3) : (tensor<bool>, tensor<?bx3xf32>, tensor<f32>) -> ()
        }) : (tensor<i64>, tensor<bool>, tensor<?bx3xf32>) -> (tensor<?bx3xf32>, tensor<?xf32>)
        "ir.return"(%0, %1) : (tensor<?bx3xf32>, tensor<?xf32>) -> ()
      }""")


def test_loop_without_an_early_exit_stacks_m_steps():
    check_pass("infer-shapes", changed=True, before="""
      func @main(%v: tensor<?bx3xf32>) -> tensor<*xf32> {
        %0 = "ir.const"() {value = dense<5>} : () -> tensor<i64>
        %1 = "onnx.Loop"(%0, none) ({
        ^bb(%i: tensor<i64>, %cond: tensor<bool>):
          %2 = "onnx.Relu"(%v) : (tensor<?bx3xf32>) -> tensor<*xf32>
          "ir.yield"(%cond, %2) : (tensor<bool>, tensor<*xf32>) -> ()
        }) : (tensor<i64>, none) -> tensor<*xf32>
        "ir.return"(%1) : (tensor<*xf32>) -> ()
      }""", after="""
      func @main(%v: tensor<?bx3xf32>) -> tensor<5x?bx3xf32> {
        %0 = "ir.const"() {value = dense<5>} : () -> tensor<i64>
        %1 = "onnx.Loop"(%0, none) ({
        ^bb(%i: tensor<i64>, %cond: tensor<bool>):
          %2 = "onnx.Relu"(%v) : (tensor<?bx3xf32>) -> tensor<?bx3xf32>
          "ir.yield"(%cond, %2) : (tensor<bool>, tensor<?bx3xf32>) -> ()
        }) : (tensor<i64>, none) -> tensor<5x?bx3xf32>
        "ir.return"(%1) : (tensor<5x?bx3xf32>) -> ()
      }""")
