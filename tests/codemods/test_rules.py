"""The rule registry: stable codes, working examples, every rule exercised by a fixture."""

from __future__ import annotations

import ast
import re

import pytest

from codemods.engine import Options, process_source
from codemods.payloads import FIELD_RULE_CODES, RUNTIME_RULES
from codemods.rules import RULES, RULES_BY_CODE, UnknownRuleError, select_codes
from shim.mapping import fields
from shim.mapping.hosts import Target
from tests.codemods.conftest import manifest

#: Codes are a contract (docs, --select, pre-commit configs): never renumber, never reuse.
STABLE_CODES = (
    "WM101", "WM102", "WM103", "WM201", "WM202", "WM301", "WM302", "WM303", "WM304", "WM305",
    "WM306", "WM307", "WM308", "WM401", "WM402", "WM501", "WM502", "WM503", "WM901", "WM902",
    "WM903", "WM904", "WM905", "WM906", "WM907", "WM908", "WM909", "WM910", "WM911", "WM912",
    "WM913", "WM914", "WM915", "WM916", "WM917", "WM918",
)


def test_codes_are_stable_and_unique() -> None:
    assert tuple(r.code for r in RULES) == STABLE_CODES
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_is_documented_data(rule: object) -> None:
    r = RULES_BY_CODE[getattr(rule, "code")]  # noqa: B009
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name)
    assert r.fix in ("safe", "unsafe", "manual")
    assert r.summary.strip() and "\n" not in r.summary
    assert r.category
    if r.code.startswith("WM9"):
        assert r.fix == "manual"
    ast.parse(r.before)
    ast.parse(r.after)
    assert r.before != r.after


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_example_is_what_the_rule_does(rule: object) -> None:
    r = RULES_BY_CODE[getattr(rule, "code")]  # noqa: B009
    options = Options(target=Target(r.target), strategy=r.strategy, codes=frozenset({r.code}),
                      unsafe=True, rewrite=True)
    out = process_source(r.before.encode(), options)
    assert out.error is None
    assert {f.rule for f in out.findings} == {r.code}
    assert (out.new_data or b"").decode() == r.after
    if r.fix != "manual":
        assert out.applied[r.code] >= 1
    again = process_source(r.after.encode(), options)
    assert again.new_data is None


def test_every_rule_is_exercised_by_a_fixture() -> None:
    seen = {code for modes in manifest().values() for codes in modes.values() for code in codes}
    assert seen == set(STABLE_CODES)


def test_every_send_field_rule_has_a_code() -> None:
    """A new row in the mapping table must be given a rule code (or it is never reported)."""
    for rule in fields.SEND_RULES:
        if rule.onprem in RUNTIME_RULES:  # value-dependent: the translator's job alone
            assert rule.onprem not in FIELD_RULE_CODES
            continue
        assert rule.onprem in FIELD_RULE_CODES, rule
        assert FIELD_RULE_CODES[rule.onprem] in RULES_BY_CODE


def test_select_and_ignore() -> None:
    assert select_codes() == frozenset(STABLE_CODES)
    assert select_codes(["WM1"]) == {"WM101", "WM102", "WM103"}
    assert select_codes(["wm301,WM302", "WM9"], ["WM90"]) == {
        "WM301", "WM302", "WM910", "WM911", "WM912", "WM913", "WM914", "WM915", "WM916",
        "WM917", "WM918"}
    assert select_codes(["ALL"], ["WM3", "WM4", "WM5", "WM9"]) == {
        "WM101", "WM102", "WM103", "WM201", "WM202"}
    with pytest.raises(UnknownRuleError, match="WM777"):
        select_codes(["WM777"])
    with pytest.raises(UnknownRuleError):
        select_codes([], ["X1"])
