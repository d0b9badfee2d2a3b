"""docs/error_codes.md is generated from mindconverter/errors.py and lists every code once."""

from __future__ import annotations

import runpy

from helpers import ROOT

from mindconverter import errors


def test_error_codes_doc_is_up_to_date():
    tool = runpy.run_path(str(ROOT / "tools" / "gen_error_codes.py"))
    assert (ROOT / "docs" / "error_codes.md").read_text() == tool["render"](), "run tools/gen_error_codes.py"


def test_every_code_is_unique_and_in_its_group():
    tool = runpy.run_path(str(ROOT / "tools" / "gen_error_codes.py"))
    classes = tool["error_classes"]()
    assert len({c.code for c in classes}) == len(classes)
    groups = {errors.ArgumentError: 0, errors.ModelLoadError: 1, errors.FileWriteError: 2, errors.ConversionError: 3,
              errors.ParityError: 5, errors.RuntimeCheckError: 5}
    for cls in classes:
        for base, group in groups.items():
            if issubclass(cls, base):
                assert cls.code // 1_000_000 == group, cls
