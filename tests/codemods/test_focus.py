"""Parsing only the statements a rule can look at never changes what scan reports.

Every check runs the whole engine twice, with ``codemods.focus`` and without it
(``Options(focus=False)``), and asserts the same findings and the same error:
on every fixture in every mode (as it is, and next to unrelated code and data),
on every bench caller style inside real modules, and on the installed packages.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from codemods.engine import Options, process_source
from codemods.focus import NOTHING, focus
from codemods.prefilter import may_match
from tests.codemods.conftest import MODES, case_id, cases

BENCH = Path(__file__).resolve().parents[2] / "bench" / "codemods_scan.py"

CALLER = '''
import requests


def send(host, token, to, text):
    url = "%s/v1/messages" % host
    return requests.post(url, json={"to": to, "type": "text", "text": {"body": text}},
                         headers={"Authorization": "Bearer " + token})
'''

#: Unrelated code: functions and a class that read each other, no rule's word in them.
UNRELATED = '''

def _unrelated_total(values):
    return sum(v * 2 for v in values)


class _UnrelatedCounter:
    def __init__(self):
        self.seen = 0

    def bump(self, values):
        self.seen += _unrelated_total(values)
        return self.seen


_UNRELATED_DEFAULT = _UnrelatedCounter()
'''


def table(name: str = "TOWNS", rows: int = 900, value: str = "Wabash") -> str:
    """A generated lookup table in the style of a data module (about 30 KB)."""
    body = "".join(f'    "k{i:04d}": ("{value}", {i}, {i / 7:.3f}),\n' for i in range(rows))
    return f"{name} = {{\n{body}}}\n"


def scans(data: bytes, opts: Options) -> tuple[list[dict[str, object]], object]:
    out = process_source(data, opts)
    return [f.as_json() for f in out.findings], out.error


def same_scan(data: bytes, opts: Options | None = None) -> list[dict[str, object]]:
    """The findings with focus, asserted equal (with the error) to those without it."""
    opts = opts or Options()
    found = scans(data, opts)
    assert found == scans(data, replace(opts, focus=False))
    return found[0]


def _after_header(source: bytes) -> int:
    """The line after the docstring and ``from __future__`` imports."""
    at = 0
    for stmt in ast.parse(source).body:
        if (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__") or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            at = stmt.end_lineno or at
            continue
        break
    return at


def padded(source: bytes, before: str, after: str) -> bytes:
    at = _after_header(source)
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return b"".join([*lines[:at], before.encode(), *lines[at:], after.encode()])


def test_an_unrelated_table_is_blanked_and_the_caller_keeps_its_place() -> None:
    data = (table() + CALLER).encode()
    reduced = focus(data)
    assert reduced is not None
    assert reduced.count(b"\n") == data.count(b"\n")
    assert b"Wabash" not in reduced and b"/v1/messages" in reduced
    found = same_scan(data)
    assert found and all(int(str(f["line"])) > table().count("\n") for f in found)


def test_unrelated_code_is_blanked_and_code_the_caller_uses_is_kept() -> None:
    helper = "\n\ndef body_of(to, text):\n    return dict(to=to, kind=text)\n"
    user = "\n\ndef shout(host, token, to, text):\n    return send(host, token, to, text)\n"
    data = (UNRELATED + CALLER + helper + user).encode()
    reduced = focus(data)
    assert reduced is not None and reduced.count(b"\n") == data.count(b"\n")
    assert b"_UnrelatedCounter" not in reduced and b"body_of" not in reduced
    assert b"def send(" in reduced and b"def shout(" in reduced  # the caller's user stays
    assert same_scan(data)


def test_a_name_bound_twice_stays_bound_twice() -> None:
    """A kept constant rebound elsewhere: the rebinding is kept (the name stays unknown)."""
    data = (CALLER + '\nURL = "https://waba.360dialog.io/v1/messages"\n' + UNRELATED
            + "\nURL = _unrelated_total([1])\n").encode()
    reduced = focus(data)
    assert reduced is not None and b"URL = _unrelated_total" in reduced
    assert b"def _unrelated_total" in reduced and b"class _UnrelatedCounter" not in reduced
    same_scan(data)


def segments(count: int = 12, word: str = "log") -> str:
    """A data module in the style of idna's uts46data: functions that return table segments,
    joined at module level; one segment holds a plain rule word."""
    out = []
    for n in range(count):
        rows = "".join(f"        (0x{n * 100 + i:X}, 'M', '{word if (n, i) == (3, 5) else 'x'}'),\n"
                       for i in range(100))
        out.append(f"def _seg_{n}():\n    return [\n{rows}    ]\n\n\n")
    joined = " + ".join(f"_seg_{n}()" for n in range(count))
    return "".join(out) + f"DATA = tuple({joined})\n"


def test_a_plain_word_in_a_function_does_not_pull_in_its_module_level_users() -> None:
    data = (segments() + CALLER).encode()
    reduced = focus(data)
    assert reduced is not None and reduced.count(b"\n") == data.count(b"\n")
    assert b"def _seg_3()" in reduced and b"def _seg_4()" not in reduced
    assert b"DATA = tuple" not in reduced
    assert same_scan(data)


def test_a_function_that_reads_evidence_still_flows_into_module_level_code() -> None:
    """A def with only a plain word of its own, but reading an On-Prem URL constant: the
    module-level statement that uses what it returns is kept."""
    source = ('import requests\n\nBASE = "https://waba.360dialog.io"\n\n\n'
              'def build(kind):\n    return BASE if kind == "name" else BASE.upper()\n\n\n'
              'TARGET = build(None)\n\n\n'
              'def send(to, text):\n    return requests.post(BASE, json={"to": to, '
              '"type": "text", "text": {"body": text}})\n')
    data = (UNRELATED + source).encode()
    reduced = focus(data)
    assert reduced is not None and b"TARGET = build" in reduced
    assert b"_UnrelatedCounter" not in reduced
    # ... as it is when the def holds no word at all
    assert focus(data.replace(b'"name"', b'"other"')) == reduced.replace(b'"name"', b'"other"')
    assert same_scan(data)


@pytest.mark.parametrize("source", [
    table().replace('"k0007"', '"to"') + CALLER,  # a key a rule compares with
    table(value="https://waba.360dialog.io") + CALLER,  # part of an On-Prem URL
    table(value="/v1/media") + CALLER,
    table() + CALLER + "\nsend(TOWNS, 't', 'x', 'y')\n",  # read by a kept call
])
def test_tables_a_rule_can_see_are_kept(source: str) -> None:
    reduced = focus(source.encode())
    assert reduced is None or b"Wabash" in reduced or b"k0001" in reduced
    same_scan(source.encode())


def validators(count: int = 6) -> str:
    """Generated schema validators in the style of fastjsonschema's output: rule words
    ("type", "content-type") everywhere, and big literal details in what they raise."""
    schema = "{" + ", ".join(f"'field{i}': {{'type': 'string', 'format': 'content-type'}}"
                             for i in range(40)) + "}"
    out = ["class SchemaError(ValueError):\n    pass\n\n\n"]
    for n in range(count):
        out.append(
            f"def validate_{n}(data):\n"
            f"    if not isinstance(data, dict):\n"
            f"        raise SchemaError('data must be object', value=data,\n"
            f"                          definition={schema}, rule='type')\n"
            f"    if 'content-type' in data and not isinstance(data['content-type'], str):\n"
            f"        raise SchemaError(\n"
            f"            'data.content-type must be string',\n"
            f"            definition={{\n"
            + "".join(f"                'k{i}': ['type', {i}, -{i}, None, (True, b'x')],\n"
                      for i in range(8))
            + "            },\n"
            f"        )\n"
            f"    return validate_{n + 1}(data) if {n} < {count - 1} else data\n\n\n")
    return "".join(out)


def test_literals_a_kept_function_raises_are_emptied_in_place() -> None:
    data = (validators() + CALLER).encode()
    reduced = focus(data)
    assert reduced is not None and len(reduced) == len(data)
    assert reduced.count(b"\n") == data.count(b"\n")
    assert b"'field3'" not in reduced and b"'k7'" not in reduced
    assert b"def validate_5(data):" in reduced and b"rule='type'" in reduced
    assert same_scan(data)


@pytest.mark.parametrize("detail", [
    "'https://waba.360dialog.io/v1/messages'",  # part of an On-Prem URL: kept
    "'/v1/media'",
    "'x' * 300",  # not a literal
    "[body, 'type']",  # reads a name
])
def test_raised_details_a_rule_can_see_are_kept(detail: str) -> None:
    pad = ", ".join(f"'pad{i}'" for i in range(300))
    raises = "".join(f"\n\ndef check_{n}(body):\n    if not body:\n        raise ValueError("
                     f"'no body', details=[{pad}, {detail}])\n    return body['messages']\n"
                     for n in range(8))
    data = (CALLER + raises).encode()
    reduced = focus(data)
    assert reduced is None or (detail.encode() in reduced and b"'pad7'" in reduced)
    same_scan(data)
    # the same with a pure literal: emptied
    plain = data.replace(detail.encode(), b"'other'")
    reduced = focus(plain)
    assert reduced is not None and b"def check_7(body):" in reduced
    assert b"'pad7'" not in reduced and b"'other'" not in reduced
    same_scan(plain)


def test_a_declared_host_keeps_the_table() -> None:
    data = (table(value="node.example.internal") + CALLER).encode()
    assert focus(data) is not None
    assert focus(data, ["node.example.internal"]) is None
    same_scan(data, Options(onprem_hosts=frozenset({"node.example.internal"})))


def test_a_file_with_nothing_to_look_at_is_not_parsed() -> None:
    data = (UNRELATED + table()).encode()
    assert focus(data) == NOTHING
    assert same_scan(data) == []


def test_a_sender_is_kept_though_it_names_no_rule_word() -> None:
    """The file's senders decide whether its payloads go to an unknown URL (WM908)."""
    builder = '\n\ndef text_message(wa_id, text):\n    return {"to": wa_id, "type": "text", ' \
              '"text": {"body": text}}\n'
    sender = "\n\ndef push(u, b):\n    import requests\n\n    return requests.post(u, b)\n"
    data = (UNRELATED + builder + sender).encode()
    reduced = focus(data)
    assert reduced is not None and b"def push(" in reduced
    rules = {f["rule"] for f in same_scan(data)}
    assert "WM908" in rules


def test_crlf_lines_decorators_and_a_shared_line_keep_their_places() -> None:
    crlf = (table() + CALLER).replace("\n", "\r\n").encode()
    assert focus(crlf) is not None
    same_scan(crlf)
    decorated = ("import functools\n\n\n@functools.lru_cache\ndef cached(x):\n    return x\n"
                 + table() + CALLER).encode()
    reduced = focus(decorated)
    assert reduced is not None and b"@functools" not in reduced
    same_scan(decorated)
    shared = ("X = 1; " + table() + CALLER).encode()
    assert focus(shared) is None


def test_rewrite_parses_the_whole_file() -> None:
    data = (table() + CALLER).encode()
    out = process_source(data, Options(rewrite=True))
    assert out.new_data is not None and table().encode() in out.new_data


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_every_fixture_reports_the_same(case: Path, mode: str) -> None:
    """As it is, and between unrelated code and data (which are blanked)."""
    target, strategy = MODES[mode]
    opts = Options(target=target, strategy=strategy)  # type: ignore[arg-type]
    source = case.read_bytes()
    same_scan(source, opts)
    pad = padded(source, table("PAD_A", 200) + UNRELATED, UNRELATED.replace("_unrelated",
                                                                               "_other"))
    reduced = focus(pad)
    assert reduced is not None and b"PAD_A" not in reduced and b"_other_total" not in reduced
    same_scan(pad, opts)


@cache
def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codemods_scan_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _installed() -> list[Path]:
    sources: list[Path] = _bench().installed_sources()
    return sources


def test_installed_candidates_report_the_same() -> None:
    """Every installed file the prefilter passes (its findings, if any, are the same)."""
    candidates = [p for p in _installed() if may_match(p.read_bytes())]
    assert candidates
    for path in candidates:
        for mode in ("360dialog", "meta-shim"):
            target, strategy = MODES[mode]
            same_scan(path.read_bytes(), Options(target=target,  # type: ignore[arg-type]
                                                 strategy=strategy))


@pytest.mark.parametrize("style", range(15))
def test_every_bench_caller_style_inside_real_modules(style: int) -> None:
    """Each caller style appended to real modules (every 400th installed file, shifted by
    style): found, and reported the same with and without focus."""
    bench = _bench()
    caller = bench.CALLERS[style].format(n=style).encode()
    sources = _installed()[style * 25::400]
    assert sources
    for n, path in enumerate(sources):
        mode = sorted(MODES)[n % len(MODES)]
        target, strategy = MODES[mode]
        found = same_scan(path.read_bytes() + b"\n" + caller,
                          Options(target=target, strategy=strategy))  # type: ignore[arg-type]
        assert found, (path, mode)
