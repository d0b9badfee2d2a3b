"""Rewrite tests/golden/*.py from the current code generator (then review the diff with `git diff tests/golden`).

    PYTHONPATH=$PWD .venv/bin/python tools/update_golden.py [CASE ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from golden_cases import CASES, GOLDEN_DIR, generated_code  # noqa: E402 - after the path set-up


def main(argv: list[str]) -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for case in argv or CASES:
        path = GOLDEN_DIR / f"{case}.py"
        code = generated_code(case)
        changed = not path.exists() or path.read_text() != code
        path.write_text(code)
        print(f"{'updated' if changed else 'same   '} {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
