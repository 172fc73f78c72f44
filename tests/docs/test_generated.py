"""The reference pages are generated from the code; a stale page fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shim import docs_gen
from shim.mapping import endpoints, errors, fields

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("rel", sorted(docs_gen.render_all()))
def test_generated_page_is_current(rel: str) -> None:
    path = DOCS / rel
    assert path.is_file(), f"{rel} is missing: run python -m shim.docs_gen"
    fresh = docs_gen.render_all()[rel]
    assert path.read_text(encoding="utf-8") == fresh, (
        f"docs/{rel} is stale: run python -m shim.docs_gen"
    )


def test_check_reports_a_stale_page_and_write_fixes_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    assert docs_gen.check(docs) == []
    page = docs / "reference" / "errors.md"
    page.write_text(page.read_text(encoding="utf-8").replace("| 131047 |", "| 131048 |"))
    (docs / "reference" / "endpoints.md").unlink()
    assert sorted(docs_gen.check(docs)) == ["reference/endpoints.md", "reference/errors.md"]
    assert docs_gen.main(["--check", str(docs)]) == 1
    assert sorted(docs_gen.write(docs)) == ["reference/endpoints.md", "reference/errors.md"]
    assert docs_gen.main(["--check", str(docs)]) == 0


def test_endpoint_page_lists_every_row_of_the_endpoint_map() -> None:
    page = docs_gen.render_endpoints()
    for ep in endpoints.ENDPOINTS:
        assert f"`{ep.method} {ep.onprem_path}`" in page
    for item in endpoints.UNSUPPORTED:
        assert f"`{item.onprem_path}`" in page
        assert item.instead.replace("|", "\\|") in page


def test_error_page_lists_every_code_and_pair() -> None:
    page = docs_gen.render_errors()
    rows = {line for line in page.splitlines() if line.startswith("| ")}
    for code in errors.CLOUD_ERRORS:
        onprem = errors.cloud_to_onprem_code(code)
        assert any(r.startswith(f"| {code} |") and r.endswith(f"| {onprem} |") for r in rows), code
    for code in errors.ONPREM_ERRORS:
        assert any(r.startswith(f"| {code} |") for r in rows), code
    for pair in errors.ERROR_CODE_PAIRS:
        assert any(r.startswith(f"| {pair.cloud} | {pair.onprem} |") for r in rows), pair


def test_warning_page_lists_every_code_the_mapping_and_translators_emit() -> None:
    page = docs_gen.render_warnings()
    declared = {r.warning for r in (*fields.SEND_RULES, *fields.WEBHOOK_RULES) if r.warning}
    declared |= {
        value
        for name, value in vars(fields).items()
        if name.startswith("W_") and isinstance(value, str)
    }
    translators = ROOT / "shim" / "translate"
    emitted = set()
    for path in translators.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        emitted |= _quoted_codes(text)
    assert declared
    for code in declared | emitted:
        assert f"| {code} |" in page, code


def _quoted_codes(text: str) -> set[str]:
    return set(re.findall(r'TranslationWarning\(\s*"(W\d{3})"', text))


def test_field_page_lists_every_rule() -> None:
    page = docs_gen.render_fields()
    for rule in (*fields.SEND_RULES, *fields.WEBHOOK_RULES):
        if rule.onprem:
            assert f"`{rule.onprem}`" in page, rule.onprem


def test_config_page_lists_every_key() -> None:
    from shim import config

    page = docs_gen.render_config_keys()
    for name in config.ChannelConfig.model_fields:
        if name != "name":
            assert f"| `{name}` |" in page, name
    for name in config.RetryPolicy.model_fields:
        assert f"| `retry.{name}` |" in page
    for name in config.Timeouts.model_fields:
        assert f"| `timeouts.{name}` |" in page


def test_migration_page_is_the_top_level_guide() -> None:
    page = docs_gen.render_migration()
    assert page is not None
    source = (ROOT / "MIGRATION.md").read_text(encoding="utf-8")
    assert "](docs/" not in page
    assert page.count("\n") == source.count("\n") + 2


def test_codemod_page_shows_every_rule_with_before_and_after() -> None:
    from codemods.rules import RULES

    page = docs_gen.render_codemods()
    for rule in RULES:
        section = page.split(f"### {rule.code}\n", 1)[1].split("\n### ", 1)[0]
        assert rule.before.rstrip("\n") in section, rule.code
        assert rule.after.rstrip("\n") in section, rule.code
        assert f"--select {rule.code}" in section


def test_help_prints_usage_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shim.docs_gen", "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout and "--check" in done.stdout
    assert list(tmp_path.iterdir()) == []
