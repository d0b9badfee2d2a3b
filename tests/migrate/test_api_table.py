"""Every API-table entry runs: torch snippet vs its conversion, same inputs, four call styles.

One parametrised test per entry (PYNATIVE, classic target, and mint where the entry has its own
mint mapping); entries without a test must state why (`untested`), which the table loader enforces.
"""

from __future__ import annotations

import pytest

from mindconverter.migrate.table import load_table
from tests.migrate.api_harness import run_entry

TABLE = load_table()
TESTED = sorted(n for n, e in TABLE.entries.items() if e.test is not None)
MINT = sorted(n for n in TESTED if TABLE.entries[n].mint_override)


def _params(names):
    """One pytest param per entry; `slow = true` in an entry's test (recurrent layers, attention) marks it slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if TABLE.entries[n].test.get("slow") else n for n in names]


@pytest.fixture(scope="module", autouse=True)
def _pynative():
    import mindspore as ms

    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.mark.parametrize("name", _params(TESTED))
def test_entry_classic(name):
    run_entry(TABLE.entries[name], "classic")


@pytest.mark.parametrize("name", _params(MINT))
def test_entry_mint(name):
    run_entry(TABLE.entries[name], "mint")


def test_table_size_and_reasons():
    assert len(TABLE) >= 400, f"the table has {len(TABLE)} entries"
    for entry in TABLE.entries.values():
        assert entry.test is not None or len(entry.untested) > 10, f"{entry.name}: no test and no reason"


def test_every_target_exists_in_mindspore():
    """Also for entries without a test: each classic and mint target names a real MindSpore API."""
    from mindconverter.migrate.names import is_mindspore_reference

    missing = []
    for entry in TABLE.entries.values():
        for view in (entry, entry.for_target("mint")):
            target = view.ms
            if target and not target.startswith(".") and not is_mindspore_reference(target):
                missing.append((entry.name, target))
    assert not missing, missing
