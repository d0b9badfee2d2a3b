"""Test setup: quiet MindSpore logs and make `helpers` (and `tests.helpers`) importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")  # MindSpore's C++ logging: errors only

TESTS = Path(__file__).resolve().parent
for path in (str(TESTS), str(TESTS.parent)):
    if path not in sys.path:
        sys.path.insert(0, path)
