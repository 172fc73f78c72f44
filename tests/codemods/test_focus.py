"""Blanking large data tables before the libcst parse never changes what scan reports."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from codemods.engine import Options, process_source
from codemods.focus import FOCUS_MIN, focus
from tests.codemods.conftest import MODES, case_id, cases

CALLER = '''
import requests


def send(host, token, to, text):
    url = "%s/v1/messages" % host
    return requests.post(url, json={"to": to, "type": "text", "text": {"body": text}},
                         headers={"Authorization": "Bearer " + token})
'''


def table(name: str = "TOWNS", rows: int = 900, value: str = "Wabash") -> str:
    """A generated lookup table in the style of a data module (about 30 KB)."""
    body = "".join(f'    "k{i:04d}": ("{value}", {i}, {i / 7:.3f}),\n' for i in range(rows))
    return f"{name} = {{\n{body}}}\n"


def findings(data: bytes, opts: Options) -> list[dict[str, object]]:
    out = process_source(data, opts)
    assert out.error is None, out.error
    return [f.as_json() for f in out.findings]


def same_scan(data: bytes, opts: Options | None = None) -> list[dict[str, object]]:
    opts = opts or Options()
    found = findings(data, opts)
    assert found == findings(data, replace(opts, focus=False))
    return found


def test_an_unrelated_table_is_blanked_and_the_caller_keeps_its_place() -> None:
    data = (table() + CALLER).encode()
    assert len(data) >= FOCUS_MIN
    reduced = focus(data)
    assert reduced is not None
    assert reduced.count(b"\n") == data.count(b"\n")
    assert b"Wabash" not in reduced and b"/v1/messages" in reduced
    found = same_scan(data)
    assert found and all(int(str(f["line"])) > table().count("\n") for f in found)


@pytest.mark.parametrize("source", [
    table() + CALLER + "\nprint(len(TOWNS))\n",  # read elsewhere
    table() + CALLER + "\nTOWNS = {}\n",  # bound twice
    table().replace('"k0007"', '"to"') + CALLER,  # a key a rule compares with
    table(value="https://waba.360dialog.io") + CALLER,  # part of an On-Prem URL
    table(value="/v1/media") + CALLER,
    "def helper():\n    return 1\n\n\n" + table().replace('"Wabash"', "helper()") + CALLER,
])
def test_tables_a_rule_can_see_are_kept(source: str) -> None:
    assert focus(source.encode()) is None
    same_scan(source.encode())


def test_a_declared_host_keeps_the_table() -> None:
    data = (table(value="node.example.internal") + CALLER).encode()
    assert focus(data) is not None
    assert focus(data, ["node.example.internal"]) is None
    same_scan(data, Options(onprem_hosts=frozenset({"node.example.internal"})))


def test_code_is_never_blanked() -> None:
    code = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(1200))
    assert focus((code + CALLER).encode()) is None


def test_crlf_lines_and_a_shared_line_keep_their_places() -> None:
    crlf = (table() + CALLER).replace("\n", "\r\n").encode()
    assert focus(crlf) is not None
    same_scan(crlf)
    shared = ("X = 1; " + table() + CALLER).encode()
    assert focus(shared) is None


def test_rewrite_parses_the_whole_file() -> None:
    data = (table() + CALLER).encode()
    out = process_source(data, Options(rewrite=True))
    assert out.new_data is not None and table().encode() in out.new_data


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_every_fixture_reports_the_same_next_to_a_table(case: Path) -> None:
    """A table before and after each case: blanked, and the scan reports what it did."""
    source = case.read_bytes()
    tree = ast.parse(source)
    at = 0
    for stmt in tree.body:  # after the docstring and ``from __future__`` imports
        if (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__") or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            at = stmt.end_lineno or at
            continue
        break
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    padded = b"".join([*lines[:at], table("PAD_A", 700).encode(), *lines[at:],
                       table("PAD_B", 70).encode()])
    reduced = focus(padded)
    assert reduced is not None and b"PAD_A" not in reduced and b"PAD_B" not in reduced
    for mode in ("360dialog", "meta-shim"):  # both targets, both strategies
        target, strategy = MODES[mode]
        same_scan(padded, Options(target=target, strategy=strategy))  # type: ignore[arg-type]
