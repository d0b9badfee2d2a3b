"""The generated scripts of the light models, the Keras fixture and a torch ResNet-50 equal tests/golden/ (reviewed as diffs).

After an intended change: `PYTHONPATH=$PWD .venv/bin/python tools/update_golden.py`, then review `git diff tests/golden`.
"""

from __future__ import annotations

import ast

import pytest
from golden_cases import CASES, GOLDEN_DIR, generated_code


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_script_equals_the_golden_file(case):
    if case.startswith("torch_"):
        pytest.importorskip("torch")
    expected = (GOLDEN_DIR / f"{case}.py").read_text()
    code = generated_code(case)
    ast.parse(code)
    assert code == expected, f"tests/golden/{case}.py differs: run tools/update_golden.py and review the diff"
