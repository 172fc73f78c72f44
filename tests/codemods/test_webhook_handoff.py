"""A webhook body handed to a function of the same module is judged by what that function does."""

from __future__ import annotations

from tests.codemods.conftest import rewrite

HEAD = b"from flask import request\n\n\n"
VIEW = b"""def hook():
    payload = request.get_json()
    handle(payload)
    return ""
"""


def changed(data: bytes | None) -> bytes:
    assert data is not None
    return data


def test_a_callee_that_reads_webhook_keys_makes_it_a_webhook_body() -> None:
    src = HEAD + b"""def handle(body):
    for status in body.get("statuses", []):
        print(status["id"])
    if "messages" in body:
        print(body["messages"][0]["from"])


""" + VIEW
    out = rewrite(src, "360dialog")
    assert out.findings and {f.rule for f in out.findings} == {"WM401"}
    assert b"payload = onprem_view(request.get_json())" in changed(out.new_data)


def test_a_callee_that_writes_to_the_body_is_reported_not_wrapped() -> None:
    src = HEAD + b"""def handle(body):
    body["statuses"] = [s for s in body.get("statuses", []) if s["status"] != "sent"]
    forward(body)


""" + VIEW
    out = rewrite(src, "360dialog")
    assert {f.rule for f in out.findings} == {"WM402"}
    assert b"onprem_view(" not in (out.new_data or src).replace(b"# waba-migrate", b"")


def test_a_callee_that_only_passes_the_body_on_is_reported_not_wrapped() -> None:
    src = HEAD + b"""def handle(body):
    forward(body)


""" + VIEW
    out = rewrite(src, "360dialog")
    assert "WM401" not in {f.rule for f in out.findings}
    assert b"onprem_view(request" not in (out.new_data or src)


def test_a_callee_from_another_module_is_a_plain_hand_off() -> None:
    src = HEAD + b"from handlers import handle\n\n\n" + VIEW
    out = rewrite(src, "360dialog")
    assert "WM401" not in {f.rule for f in out.findings}
