"""ONNX conformance in CI: a deterministic sample of recorded passes must still pass.

The whole suite (about 1,900 cases) runs from `python -m tests.conformance.runner` (or
benchmarks/conformance.py); here one passing case per op type plus every 10th other passing case
run in-process, which keeps this module to a few minutes on 2 cores with `pytest -n 2`.
"""

from __future__ import annotations

import pytest

from tests.conformance.runner import (
    EXPECTED,
    classify,
    collect_node_cases,
    load_expected,
    run_named_case,
    run_suite,
)

RECORDED = load_expected()
EVERY = 10


def ci_sample(expected: dict[str, dict]) -> list[str]:
    """The first passing case of every op type, plus every EVERY-th other passing case (sorted by name)."""
    passing = sorted(name for name, rec in expected.items() if rec["status"] == "pass")
    first: dict[str, str] = {}
    for name in passing:
        first.setdefault(expected[name]["op"], name)
    chosen = set(first.values()) | set(passing[::EVERY])
    return sorted(chosen)


@pytest.mark.parametrize("name", ci_sample(RECORDED))
def test_recorded_pass_still_passes(name):
    result = run_named_case(name)
    assert result["status"] == "pass", f"{name} was recorded as passing and now fails: {result['reason']}"


def test_expected_file_lists_every_node_case():
    collected = set(collect_node_cases())
    missing, stale = sorted(collected - set(RECORDED)), sorted(set(RECORDED) - collected)
    assert not missing and not stale, (
        f"{EXPECTED.name} is out of date: missing {missing[:10]} ({len(missing)}), unknown {stale[:10]} ({len(stale)}); "
        "rerun `python -m tests.conformance.runner --write-expected`"
    )


def test_every_known_failure_has_a_reason():
    assert all(rec["reason"] for rec in RECORDED.values() if rec["status"] != "pass")


def test_inexpressible_cases_are_classified_not_run():
    cases = collect_node_cases()
    assert classify(cases["test_sequence_insert_at_back"])[0].startswith("non-tensor type")
    assert classify(cases["test_equal_string"])[0] == "string tensor"
    assert classify(cases["test_bernoulli"])[0] == "random op"
    assert classify(cases["test_abs"]) is None


def test_supported_ops_doc_is_up_to_date():
    from tests.conformance.supported_ops import DOC, render

    assert DOC.read_text() == render(), "docs/supported_ops.md is stale: run tools/gen_supported_ops.py"


@pytest.mark.slow
def test_whole_suite_has_no_regressions():
    results = run_suite(progress=False)
    regressions = {n: results[n]["reason"] for n, rec in RECORDED.items() if rec["status"] == "pass" and results[n]["status"] != "pass"}
    assert not regressions, regressions
