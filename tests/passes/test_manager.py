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
