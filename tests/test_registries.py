"""Pass and emitter modules are found on disk (no hand-kept lists), and pass options are typed fields."""

from __future__ import annotations

import sys
from pathlib import Path

import mindconverter
from mindconverter.backend.registry import load_emitters
from mindconverter.opt import main as opt_main
from mindconverter.passes.manager import PASSES, PassContext, load_builtin_passes
from mindconverter.passes.restore_dropout import DropoutOptions

PACKAGE = Path(mindconverter.__file__).parent


def test_every_pass_module_on_disk_is_loaded():
    load_builtin_passes()
    machinery = {"manager", "pattern", "testing", "__init__"}
    for path in (PACKAGE / "passes").glob("*.py"):
        if path.stem not in machinery:
            assert f"mindconverter.passes.{path.stem}" in sys.modules, path
    modules = {spec.fn.__module__ for spec in PASSES.values()}
    assert "mindconverter.passes.sink_transposes" in modules and "mindconverter.passes.fold_constants" in modules


def test_every_emitter_module_on_disk_is_loaded():
    load_emitters()
    for path in (PACKAGE / "backend" / "emitters").glob("*.py"):
        if path.stem != "__init__":
            assert f"mindconverter.backend.emitters.{path.stem}" in sys.modules, path


def test_pass_options_are_read_typed_by_their_kebab_case_names():
    ctx = PassContext(options={"dropout-rate": "0.25", "dropout-rates": {"/drop": 0.1}, "other": 1})
    assert ctx.options_of(DropoutOptions) == DropoutOptions(dropout_rate=0.25, dropout_rates={"/drop": 0.1})
    assert PassContext().options_of(DropoutOptions).dropout_rate == 0.5


def test_help_passes_shows_each_option_with_type_and_default(capsys):
    assert opt_main(["--help-passes"]) == 0
    out = capsys.readouterr().out
    assert "fold-limit (int, default 268435456): results with more elements stay unfolded" in out
    assert "    dropout-rate (float, default 0.5)" in out and "module-classes (dict[str, str], default {})" in out
