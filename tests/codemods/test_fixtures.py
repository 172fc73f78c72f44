"""Every before/after pair, for every target and strategy.

For each case and mode: the output is the expected file (or the input,
unchanged, when there is none), the expected file parses, a second run on it
changes nothing, the prefilter lets every case with findings through (and
exactly the cases listed in ``PREFILTER_SKIPS`` are skipped), and the rules
reported are the ones listed in ``expected_findings.json``. The payloads in
the expected files are checked against the Cloud models apart from the engine
(``test_fixture_payloads.py``).

Updating expected files: a mismatch prints its unified diff and a *diff id*
(a hash of the case, the mode and both contents). After reading the diff, run
the tests again with ``WABA_MIGRATE_UPDATE_FIXTURES=<id>[,<id>...]``: only the
expected files whose current diff has one of those ids are written; any other
mismatch still fails. ``WABA_MIGRATE_UPDATE_FIXTURES=1`` (update everything,
unseen) is refused. ``expected_findings.json`` works the same way.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import os
import re
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

UPDATE_VAR = "WABA_MIGRATE_UPDATE_FIXTURES"
CASES = cases()
PAIRS = [(c, m) for c in CASES for m in MODES]
#: The cases the byte prefilter must skip (and that must report nothing); all others pass it.
PREFILTER_SKIPS = frozenset({
    "noop/django_messages.py", "noop/except_spacing.py",
    "webhooks/sanic_loop.py",
})


def _approved() -> frozenset[str]:
    """The diff ids the person updating the fixtures has read (see the module docstring)."""
    raw = os.environ.get(UPDATE_VAR, "").strip()
    if not raw:
        return frozenset()
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids):
        pytest.fail(f"{UPDATE_VAR} takes the diff ids the failing tests print, after you "
                    f"have read those diffs (e.g. {UPDATE_VAR}=3f2a9c01b7de), not {raw!r}")
    return frozenset(ids)


def diff_id(name: str, old: bytes, new: bytes) -> str:
    h = hashlib.sha256()
    for part in (name.encode(), old, new):
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()[:12]


def _diff(a: str, b: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "expected",
                                        "got"))


def check_or_update(name: str, path: Path, got: bytes, default: bytes) -> None:
    """``path`` (``default`` when absent) must hold ``got``; written only for an approved id.

    Writing ``default`` means deleting ``path`` (a case that is a no-op in a mode
    has no expected file).
    """
    approved = _approved()
    expected = path.read_bytes() if path.exists() else default
    if got == expected:
        return
    did = diff_id(name, expected, got)
    if did in approved:
        if got == default:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(got)
        return
    pytest.fail(f"{name}: output differs from the expected file (diff id {did}; after "
                f"reading the diff, {UPDATE_VAR}={did} accepts it)\n"
                + _diff(expected.decode(), got.decode()), pytrace=False)


@pytest.mark.parametrize(("case", "mode"), PAIRS, ids=[f"{case_id(c)}[{m}]" for c, m in PAIRS])
def test_rewrite_matches_expected(case: Path, mode: str) -> None:
    source = case.read_bytes()
    out = outcome(case, mode)
    assert out.error is None, out.error
    got = out.new_data if out.new_data is not None else source
    check_or_update(f"{case_id(case)}[{mode}]", expected_path(case, mode), got, source)


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
    """The prefilter skips exactly the listed cases, and those report and change nothing."""
    skipped = case_id(case) in PREFILTER_SKIPS
    assert may_match(case.read_bytes()) is not skipped
    out = outcome(case, mode)
    if skipped:
        assert (out.findings, out.new_data) == ([], None)
        assert manifest()[case_id(case)][mode] == []
    else:  # the engine sees what the prefilter lets through, so nothing is lost
        assert out.error is None


def test_findings_match_the_manifest() -> None:
    got: dict[str, dict[str, list[str]]] = {}
    for case in CASES:
        got[case_id(case)] = {m: sorted({f.rule for f in outcome(case, m).findings})
                              for m in MODES}
    path = FIXTURES / "expected_findings.json"
    check_or_update("expected_findings.json", path,
                    (json.dumps(got, indent=1, sort_keys=True) + "\n").encode(), b"")
    assert json.loads(path.read_text()) == got


def test_noop_cases_report_nothing() -> None:
    for case in CASES:
        if case.parent.name != "noop":
            continue
        for m in MODES:
            out = outcome(case, m)
            assert out.findings == [], (case_id(case), m, out.findings)
            assert out.new_data is None


def test_the_update_switch_writes_only_diffs_that_were_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "case.after-meta.py"
    path.write_bytes(b"old\n")
    shown = diff_id("case[meta]", b"old\n", b"new\n")
    for value in ("1", "all", "0123456789ab,1"):
        monkeypatch.setenv(UPDATE_VAR, value)
        with pytest.raises(pytest.fail.Exception, match="takes the diff ids"):
            check_or_update("case[meta]", path, b"new\n", b"src\n")
        assert path.read_bytes() == b"old\n"
    monkeypatch.setenv(UPDATE_VAR, "0123456789ab")  # some other diff's id
    with pytest.raises(pytest.fail.Exception, match=f"diff id {shown}") as err:
        check_or_update("case[meta]", path, b"new\n", b"src\n")
    assert "-old\n+new" in str(err.value)
    assert path.read_bytes() == b"old\n"
    monkeypatch.setenv(UPDATE_VAR, f"0123456789ab,{shown}")
    check_or_update("case[meta]", path, b"new\n", b"src\n")
    assert path.read_bytes() == b"new\n"
    # an output equal to the input removes the expected file (a no-op in that mode)
    monkeypatch.setenv(UPDATE_VAR, diff_id("case[meta]", b"new\n", b"src\n"))
    check_or_update("case[meta]", path, b"src\n", b"src\n")
    assert not path.exists()
