"""PassManager: pipelines, verification after each pass, IR dumps and clear failures."""

import pytest

from mindconverter.errors import ArgumentError, PassError
from mindconverter.ir import Value, parse
from mindconverter.ir.core import Builder
from mindconverter.ir.types import DType, TensorType
from mindconverter.passes.manager import PASSES, PassManager, register_pass

TEXT = """
func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "onnx.Identity"(%x) : (tensor<2xf32>) -> tensor<2xf32> loc("Identity_0")
  %1 = "onnx.Relu"(%0) : (tensor<2xf32>) -> tensor<2xf32> loc("Relu_1")
  "ir.return"(%1) : (tensor<2xf32>) -> ()
}
"""


def test_dump_ir_writes_one_file_per_stage(tmp_path):
    module = parse(TEXT)
    records = PassManager(["cleanup", "dce"], dump_dir=tmp_path, source_name="m.onnx").run(module)
    assert [r.name for r in records] == ["cleanup", "dce"]
    assert [r.changed for r in records] == [True, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00-frontend.ir", "01-cleanup.ir", "02-dce.ir"]
    first = (tmp_path / "01-cleanup.ir").read_text()
    assert first.startswith("// mindconverter-ir v1  source: m.onnx  after: cleanup\n")
    assert "onnx.Identity" not in first
    assert parse(first) is not None  # dumps parse back


def test_print_ir_after_all_prints_each_pass():
    printed = []
    PassManager(["cleanup", "dce"], print_after_all=True, print_fn=printed.append).run(parse(TEXT))
    assert len(printed) == 2 and "after: cleanup" in printed[0] and "after: dce" in printed[1]


def test_unknown_pass_is_an_argument_error():
    with pytest.raises(ArgumentError, match="unknown pass 'fold-everything'"):
        PassManager(["cleanup", "fold-everything"])


def test_a_pass_that_breaks_the_ir_is_named_and_its_output_dumped(tmp_path):
    @register_pass("test-break-ssa")
    def break_ssa(module, ctx):
        """Uses a value that is never defined (a deliberately buggy pass)."""
        relu = [op for op in module.ops() if op.name == "onnx.Relu"][0]
        relu.operands[0] = Value(TensorType(DType.F32, (2,)))
        return True

    try:
        with pytest.raises(PassError, match="pass 'test-break-ssa' produced invalid IR") as info:
            PassManager(["cleanup", "test-break-ssa"], dump_dir=tmp_path).run(parse(TEXT))
        assert "ran: cleanup" in info.value.where
        assert "bug in 'test-break-ssa'" in info.value.fix
        assert (tmp_path / "02-test-break-ssa.failed.ir").exists()
    finally:
        PASSES.pop("test-break-ssa")


def test_a_crashing_pass_becomes_a_pass_error():
    @register_pass("test-crash")
    def crash(module, ctx):
        """Raises (a deliberately buggy pass)."""
        raise ZeroDivisionError("boom")

    try:
        with pytest.raises(PassError, match="pass 'test-crash' crashed: ZeroDivisionError: boom"):
            PassManager(["test-crash"]).run(parse(TEXT))
    finally:
        PASSES.pop("test-crash")


def test_after_pass_hook_sees_every_pass():
    seen = []
    PassManager(["cleanup", "dce"], after_pass=lambda n, m, c: seen.append((n, c))).run(parse(TEXT))
    assert seen == [("cleanup", True), ("dce", False)]


def test_builder_made_ops_verify():
    module = parse(TEXT)
    relu = [op for op in module.ops() if op.name == "onnx.Relu"][0]
    Builder.after(relu).create("onnx.Neg", [relu.result], [relu.result.type], loc=("Neg_9",))
    PassManager(["dce"]).run(module)  # the unused Neg is dead code
    assert not any(op.name == "onnx.Neg" for op in module.ops())


def test_print_ir_after_named_pass_and_after_change_only():
    printed = []
    PassManager(["cleanup", "dce"], print_after=["dce"], print_fn=printed.append).run(parse(TEXT))
    assert len(printed) == 1 and "after: dce" in printed[0]
    printed.clear()
    PassManager(["cleanup", "dce"], print_after_change=True, print_fn=printed.append).run(parse(TEXT))
    assert len(printed) == 1 and "after: cleanup" in printed[0]  # dce changed nothing
    with pytest.raises(ArgumentError, match="--print-ir-after names unknown pass 'nope'"):
        PassManager(["cleanup"], print_after=["nope"])


def test_print_ir_after_failure_shows_the_broken_ir():
    @register_pass("test-break-print")
    def brk(module, ctx):
        """Uses an undefined value (a deliberately buggy pass)."""
        relu = [op for op in module.ops() if op.name == "onnx.Relu"][0]
        relu.operands[0] = Value(TensorType(DType.F32, (2,)))
        return True

    printed = []
    try:
        with pytest.raises(PassError):
            PassManager(["test-break-print"], print_after_failure=True, print_fn=printed.append).run(parse(TEXT))
        assert len(printed) == 1 and "after: test-break-print (failed)" in printed[0]
    finally:
        PASSES.pop("test-break-print")


def test_before_pass_hook_sees_the_ir_before_each_pass():
    seen = []
    PassManager(["cleanup", "dce"], before_pass=lambda n, m: seen.append((n, any(o.name == "onnx.Identity" for o in m.ops())))).run(parse(TEXT))
    assert seen == [("cleanup", True), ("dce", False)]


def test_dumps_save_weights_that_passes_create(tmp_path):
    import numpy as np

    from mindconverter.weights_io import load_weights

    module = parse("""
    func @main(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
      %a = "ir.param"() {key = "a"} : () -> tensor<2x2xf32>
      %0 = "onnx.Neg"(%a) : (tensor<2x2xf32>) -> tensor<2x2xf32> loc("Neg_0")
      %1 = "onnx.Add"(%x, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("Add_1")
      "ir.return"(%1) : (tensor<2x2xf32>) -> ()
    }""")
    module.weights.set("a", np.arange(4, dtype=np.float32).reshape(2, 2), origin="a")
    PassManager(["fold-constants", "dce"], dump_dir=tmp_path).run(module)
    arrays, origins = load_weights(tmp_path / "weights.npz")
    assert "a" not in arrays and len(arrays) == 1  # only the folded weight, not the model's own
    (key, value), = arrays.items()
    np.testing.assert_array_equal(value, -np.arange(4, dtype=np.float32).reshape(2, 2))
    assert f'key = "{key}"' in (tmp_path / "01-fold-constants.ir").read_text()


def test_a_plugin_loaded_twice_replaces_its_own_passes(tmp_path):
    from mindconverter.passes.manager import load_plugin

    plugin = tmp_path / "twice.py"
    plugin.write_text("from mindconverter.passes.manager import register_pass\n\n\n"
                      "@register_pass('test-twice')\ndef twice(module, ctx):\n    \"\"\"Does nothing.\"\"\"\n    return False\n")
    try:
        load_plugin(plugin)
        first = PASSES["test-twice"].fn
        load_plugin(plugin)
        assert PASSES["test-twice"].fn is not first
        clash = tmp_path / "clash.py"
        clash.write_text("from mindconverter.passes.manager import register_pass\n\n\n"
                         "@register_pass('cleanup')\ndef mine(module, ctx):\n    return False\n")
        with pytest.raises(ArgumentError, match="pass 'cleanup' is already registered") as info:
            load_plugin(clash)
        assert info.value.where == f"{clash}:4"
    finally:
        PASSES.pop("test-twice", None)
