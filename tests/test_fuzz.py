"""tools/fuzz.py: a small fixed-seed budget in CI, and its classifier catches what it must."""

from __future__ import annotations

import pytest

from tools import fuzz as fuzz_tool  # the worker process imports it by this name

FUZZ = vars(fuzz_tool)


def test_fixed_seed_budget_has_only_acceptable_outcomes():
    summary = FUZZ["fuzz"](cases=80, seed=2024, timeout=60, check_fraction=0.1, log=lambda *_: None)
    assert not summary["findings"], summary["findings"][:3]
    assert summary["outcomes"].get("converted", 0) > 10 and summary["outcomes"].get("coded", 0) > 10, summary


def test_cases_are_reproducible():
    import random

    seeds = FUZZ["seed_models"]()
    a = FUZZ["Mutator"](random.Random("5:17"), seeds).case()
    b = FUZZ["Mutator"](random.Random("5:17"), seeds).case()
    assert a["model"] == b["model"] and a["mutations"] == b["mutations"]


@pytest.fixture
def converted(tmp_path):
    """A real conversion of a seed model, and the arguments the classifier reads."""
    from mindconverter.cli import main

    model = tmp_path / "m.onnx"
    model.write_bytes(FUZZ["seed_models"]()["mlp"])
    out = tmp_path / "out"
    argv = ["--model_file", str(model), "--output", str(out), "--check", "off"]
    assert main(["-q", *argv]) == 0
    return tmp_path, out, argv


def test_classifier_accepts_a_real_conversion(converted):
    case_dir, out, argv = converted
    assert FUZZ["_check_success"](case_dir, out, argv, {str(out): {}}, False) == {"outcome": "converted"}


def test_classifier_flags_injected_code_partial_outputs_and_replaced_files(converted):
    case_dir, out, argv = converted
    check = FUZZ["_check_success"]
    script = out / "m.py"
    original = script.read_text()
    script.write_text(original + "\n__import__('os').system('true')\n")
    assert check(case_dir, out, argv, {str(out): {}}, False)["outcome"] == "injection"
    script.write_text(original + "\nraise RuntimeError('broken')\n")
    assert check(case_dir, out, argv, {str(out): {}}, False)["outcome"] == "broken-script"
    script.write_text(original)
    assert check(case_dir, out, argv, {str(out): {"m.py": "an older digest"}}, False)["outcome"] == "changed"
    (out / "m.ckpt").unlink()
    assert check(case_dir, out, argv, {str(out): {}}, False)["outcome"] == "partial"
