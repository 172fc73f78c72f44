"""The engine's guarantees, one test each: parse, revert, idempotence, untouched code."""

from __future__ import annotations

import ast

import pytest

from codemods.engine import Options, process_source
from codemods.rules import select_codes
from shim.mapping.hosts import Target
from tests.codemods.conftest import MODES, cases, expected_path, rewrite

SEND = '''import requests

URL = "https://waba.360dialog.io/v1/messages"


def send(key, to, text):
    return requests.post(URL, headers={"D360-API-KEY": key},
                         json={"to": to, "type": "text", "text": {"body": text}})
'''
#: the same request with a field Cloud has no place for: its fix is unsafe
SEND_TTL = SEND.replace('"body": text}}', '"body": text}, "ttl": 60}')

UNRELATED = '''

# --- unrelated code below: must survive byte for byte ---
class  Odd :   # spacing kept
    """A docstring with "quotes" and https://example.com/v2/things."""

    def m(self,a,  b = { "x" : 1 }):
        return (a +
                b["x"])  # trailing comment


def table():
    return {"to": "unrelated", "type": "row"} if False else {"name": "n"}
'''


def test_unparsable_file_is_reported_with_its_location() -> None:
    out = process_source(b'import requests\nprint "hi"\n', Options(rewrite=True))
    assert out.error is not None and out.error.type == "syntax-error"
    assert out.error.line == 2
    assert out.new_data is None and out.findings == []


def test_output_that_does_not_parse_is_reverted() -> None:
    out = process_source(SEND.encode(), Options(rewrite=True, fault="invalid-output"))
    assert out.error is not None and out.error.type == "invalid-output"
    assert "WM101" in out.error.message
    assert out.new_data is None and not out.applied
    assert out.findings  # still reported


def test_a_crash_in_a_rule_is_a_result_not_an_exception() -> None:
    out = process_source(SEND.encode(), Options(rewrite=True, fault="crash"))
    assert out.error is not None and out.error.type == "internal-error"


def test_scan_reports_without_rewriting() -> None:
    out = process_source(SEND_TTL.encode(), Options())
    assert out.new_data is None
    assert {f.rule for f in out.findings} == {"WM101", "WM301", "WM305"}
    # one unsafe part makes the whole request unsafe: it is applied whole or not at all
    assert {f.fix for f in out.findings} == {"unsafe"}


def test_unsafe_fixes_wait_for_the_flag() -> None:
    held = rewrite(SEND_TTL)
    assert held.new_data is not None and b'"ttl": 60' in held.new_data
    assert b"waba-v2" not in held.new_data and b"messaging_product" not in held.new_data
    assert b"# waba-migrate: WM305: held back" in held.new_data  # the request is marked
    assert held.held_unsafe == 3 and not held.applied
    unsafe = rewrite(SEND_TTL, unsafe=True)
    assert unsafe.new_data is not None and b"ttl" not in unsafe.new_data
    assert b"waba-v2" in unsafe.new_data and b"held back" not in unsafe.new_data
    assert unsafe.applied["WM305"] == 1
    assert rewrite(held.new_data).new_data is None  # the marker is written once


def test_select_and_ignore_limit_what_changes() -> None:
    urls_only = rewrite(SEND, codes=select_codes(["WM1"]))
    assert urls_only.new_data is not None
    assert b"waba-v2.360dialog.io/messages" in urls_only.new_data
    assert b"messaging_product" not in urls_only.new_data
    assert {f.rule for f in urls_only.findings} == {"WM101"}
    no_product = rewrite(SEND, codes=select_codes([], ["WM301"]))
    assert no_product.new_data is not None and b"messaging_product" not in no_product.new_data


@pytest.mark.parametrize("mode", list(MODES))
def test_unrelated_code_and_comments_are_untouched(mode: str) -> None:
    for case in cases():
        source = case.read_bytes() + UNRELATED.encode()
        out = rewrite(source, mode)
        assert out.error is None
        got = out.new_data or source
        assert got.endswith(UNRELATED.encode()), case
        before = case.read_bytes().decode()
        after = got.decode()
        for line in before.splitlines():
            if line.lstrip().startswith("#"):
                assert line in after.splitlines(), (case, line)


def test_cloud_shaped_code_is_untouched() -> None:
    source = '''import os
import requests

D360 = "https://waba-v2.360dialog.io"
GRAPH = "https://graph.facebook.com/v24.0/" + os.environ["PHONE_ID"]
HEADERS = {"D360-API-KEY": os.environ["KEY"]}


def send(to, text):
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text", "text": {"preview_url": True, "body": text}}
    requests.post(D360 + "/messages", json=body, headers=HEADERS)
    requests.post(f"{GRAPH}/messages", json=body, headers={"Authorization": "Bearer t"})
    requests.post(D360 + "/v1/configs/webhook", json={"url": "https://x"}, headers=HEADERS)


def read(mid):
    return requests.post(D360 + "/messages", headers=HEADERS, json={
        "messaging_product": "whatsapp", "status": "read", "message_id": mid})
'''
    for mode in MODES:
        out = rewrite(source, mode)
        assert out.findings == [] and out.new_data is None, (mode, out.findings)


def test_second_run_changes_nothing() -> None:
    for case in cases():
        for mode in MODES:
            exp = expected_path(case, mode)
            if exp.exists():
                assert rewrite(exp.read_bytes(), mode).new_data is None, (case, mode)


def test_manual_comments_are_added_once() -> None:
    source = ('import requests\n\n'
              'def check(key, phone):\n'
              '    return requests.post("https://waba.360dialog.io/v1/contacts",\n'
              '                         json={"blocking": "wait", "contacts": [phone]})\n')
    first = rewrite(source)
    assert first.new_data is not None
    assert first.new_data.count(b"# waba-migrate: WM901:") == 1
    assert rewrite(first.new_data).new_data is None


def test_comment_above_the_first_statement_converges() -> None:
    """Comments above a module's first statement land in the module header on re-parse."""
    source = ('NODE, VERSION = "https://wa-node:9090", "v1"  # whatsapp node\n'
              'TEXT = {"recipient_type": "individual", "to": "1", "type": "text", '
              '"text": {"body": "x"}}\n')
    first = rewrite(source)
    assert first.error is None and first.new_data is not None
    assert first.new_data.startswith(b"# waba-migrate: WM907:")
    assert rewrite(first.new_data).new_data is None


def test_libcst_round_trip_quirk_does_not_reformat_the_file() -> None:
    """libcst drops the space in ``except X :`` (LibCST#1457); the rewrite must not."""
    source = SEND + "\n\ndef f():\n    try:\n        pass\n    except OSError :\n        pass\n"
    out = rewrite(source)
    assert out.error is None and out.new_data is not None
    assert b"    except OSError :\n" in out.new_data
    assert b"waba-v2.360dialog.io" in out.new_data


def test_encoding_and_line_endings_are_kept() -> None:
    latin = ("# -*- coding: latin-1 -*-\n# Grüße\n" + SEND).encode("latin-1")
    out = rewrite(latin)
    assert out.new_data is not None
    assert "Grüße".encode("latin-1") in out.new_data
    assert b"waba-v2.360dialog.io" in out.new_data
    crlf = SEND.replace("\n", "\r\n").encode()
    out = rewrite(crlf)
    assert out.new_data is not None
    assert out.new_data.count(b"\r\n") == out.new_data.count(b"\n")


def test_every_unsafe_rewrite_parses() -> None:
    for case in cases():
        for mode in MODES:
            out = rewrite(case.read_bytes(), mode, unsafe=True)  # safe ones: the fixtures
            assert out.error is None, (case, mode, out.error)
            if out.new_data is not None:
                ast.parse(out.new_data)


def test_meta_settings_are_defined_before_use() -> None:
    out = rewrite(SEND, "meta")
    assert out.new_data is not None
    text = out.new_data.decode()
    assert text.index("WHATSAPP_PHONE_NUMBER_ID = os.environ") < text.index("URL = f")
    namespace: dict[str, object] = {}
    env = {"WHATSAPP_PHONE_NUMBER_ID": "123", "GRAPH_API_VERSION": "v99.0"}
    import os

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        exec(compile(text.replace("import requests", ""), "<m>", "exec"), namespace)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert namespace["URL"] == "https://graph.facebook.com/v99.0/123/messages"


def test_target_and_strategy_come_from_options() -> None:
    meta = process_source(SEND.encode(), Options(target=Target.META, rewrite=True))
    assert meta.new_data is not None and b"graph.facebook.com" in meta.new_data
    shim = process_source(SEND.encode(), Options(strategy="shim", rewrite=True))
    assert shim.new_data is not None
    assert shim.new_data.startswith(b"from shim.compat import requests\n")
    assert b"waba.360dialog.io/v1/messages" in shim.new_data


TRICKY = '''# header comment
"""Docstring."""
import os; import sys


@decorator(
    "x")
# comment between
@other
def f(a,
      b="https://waba.360dialog.io/v1/messages"):
    return a + \\
        b


x = 1; y = """multi
line"""; z = {"to": x,
              "type": "text"}


class C:  # trailing
    u = "/v1/media"

    async def g(self):
        return await h(f"{self.u}/{1}")
'''


@pytest.mark.parametrize("source", ["tricky", "fixtures"])
def test_fast_positions_equal_libcst_positions(source: str) -> None:
    import libcst as cst

    from codemods.facts import collect

    sources = [TRICKY.encode()] if source == "tricky" else [c.read_bytes() for c in cases()]
    for data in sources:
        module = cst.parse_module(data)
        facts = collect(module, data)
        full = facts._all_positions()
        for node in list(facts.parents)[::3]:
            r = full[node]
            assert facts.pos(node) == (r.start.line, r.start.column + 1), node
