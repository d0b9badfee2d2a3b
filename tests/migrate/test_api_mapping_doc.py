"""docs/api_mapping.md and the MindSpore name list are generated from the table and must be current."""

from __future__ import annotations

import sys

from mindconverter.migrate.names import NAMES_FILE
from tools.gen_api_mapping import DOC, render, render_names


def test_api_mapping_doc_is_current():
    assert DOC.read_text() == render(), "run tools/gen_api_mapping.py"


def test_mindspore_name_list_is_current():
    assert NAMES_FILE.read_text() == render_names(), "run tools/gen_api_mapping.py (MindSpore changed)"
    assert "mindspore.nn.Cell" in NAMES_FILE.read_text() and sys.modules.get("mindspore") is not None
