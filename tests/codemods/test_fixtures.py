"""Every before/after pair, for every target and strategy.

For each case and mode: the output is the expected file (or the input,
unchanged, when there is none), the expected file parses, a second run on it
changes nothing, the prefilter does not change the outcome, and the rules
reported are the ones listed in ``expected_findings.json``.
``WABA_MIGRATE_UPDATE_FIXTURES=1`` rewrites the expected files instead.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from pathlib import Path

import libcst as cst
import pytest

from codemods.engine import process_source
from codemods.prefilter import may_match
from tests.codemods.conftest import (
    FIXTURES,
    MODES,
    case_id,
    cases,
    expected_path,
    manifest,
    options,
    outcome,
)

UPDATE = os.environ.get("WABA_MIGRATE_UPDATE_FIXTURES") == "1"
CASES = cases()
PAIRS = [(c, m) for c in CASES for m in MODES]


def _diff(a: str, b: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "expected",
                                        "got"))


@pytest.mark.parametrize(("case", "mode"), PAIRS, ids=[f"{case_id(c)}[{m}]" for c, m in PAIRS])
def test_rewrite_matches_expected(case: Path, mode: str) -> None:
    source = case.read_bytes()
    out = outcome(case, mode)
    assert out.error is None, out.error
    got = out.new_data if out.new_data is not None else source
    exp_file = expected_path(case, mode)
    if UPDATE:
        if out.new_data is None:
            exp_file.unlink(missing_ok=True)
        else:
            exp_file.write_bytes(got)
    expected = exp_file.read_bytes() if exp_file.exists() else source
    assert got == expected, _diff(expected.decode(), got.decode())


@pytest.mark.parametrize(("case", "mode"), PAIRS, ids=[f"{case_id(c)}[{m}]" for c, m in PAIRS])
def test_expected_parses_and_is_stable(case: Path, mode: str) -> None:
    exp_file = expected_path(case, mode)
    if not exp_file.exists():
        pytest.skip("case is a no-op for this mode")
    data = exp_file.read_bytes()
    ast.parse(data)
    cst.parse_module(data)
    again = process_source(data, options(mode))
    assert again.error is None
    assert again.new_data is None, "second run changed the file"


@pytest.mark.parametrize(("case", "mode"), PAIRS, ids=[f"{case_id(c)}[{m}]" for c, m in PAIRS])
def test_prefilter_never_hides_a_finding(case: Path, mode: str) -> None:
    """A file the byte prefilter skips must be one the rules find nothing in."""
    if not may_match(case.read_bytes()):
        out = outcome(case, mode)
        assert out.findings == []
        assert out.new_data is None


def test_findings_match_the_manifest() -> None:
    listed = manifest()
    got: dict[str, dict[str, list[str]]] = {}
    for case in CASES:
        got[case_id(case)] = {m: sorted({f.rule for f in outcome(case, m).findings})
                              for m in MODES}
    if UPDATE:
        (FIXTURES / "expected_findings.json").write_text(
            json.dumps(got, indent=1, sort_keys=True) + "\n")
        listed = got
    assert got == listed


def test_noop_cases_report_nothing() -> None:
    for case in CASES:
        if case.parent.name != "noop":
            continue
        for m in MODES:
            out = outcome(case, m)
            assert out.findings == [], (case_id(case), m, out.findings)
            assert out.new_data is None
