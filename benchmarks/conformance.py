"""Run the whole ONNX node conformance suite and print the pass rate per op type.

    .venv/bin/python benchmarks/conformance.py [--only PREFIX ...] [--jobs 2] [--write-expected]

The same command as `python -m tests.conformance.runner` (see tests/conformance/runner.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conformance.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
