"""The expected files run: their functions, called as their callers would, work on Cloud.

Each listed case's expected file (native modes) is imported and the named
functions are called against the 360dialog or Meta sandbox on loopback. The
files keep their production hosts, so ``requests`` in the loaded module is
swapped for a thin wrapper that sends the very same request to the sandbox
(host replaced, nothing else touched) and keeps each response. Every call
must get a 2xx answer, and every send must reach the sandbox's outbox as a
Cloud message. As a control, the untouched On-Prem file is refused the same
way (so these calls can fail).

Not run here: template sends (the sandbox needs each template registered with
its parameter count; their payloads are validated by
``test_fixture_payloads.py``), uploads and downloads, httpx/aiohttp code,
classes that need a configured instance, webhook views (run in
``test_e2e_sandbox.py``), and cases that are manual work by design.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from shim.sandbox import RunningSandbox, running_sandbox
from tests.codemods.conftest import FIXTURES, expected_path

CUSTOMER = "4915112345678"
TEXT_BODY = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text",
             "text": {"body": "hello"}}
KEY, MESSAGE_ID = object(), object()  # filled in per sandbox
#: case -> [(function, arguments, sends a message?)]
CALLS: dict[str, list[tuple[str, dict[str, Any], bool]]] = {
    "endpoints/interactive.py": [("ask", {"key": KEY, "to": CUSTOMER, "question": "Ok?"}, True)],
    "endpoints/location.py": [("send_store", {"key": KEY, "to": CUSTOMER}, True)],
    "endpoints/reply_context.py": [("reply", {"key": KEY, "to": CUSTOMER, "text": "yes",
                                              "message_id": MESSAGE_ID}, True)],
    "endpoints/text_preview.py": [("send_link", {"key": KEY, "to": CUSTOMER,
                                                 "link": "https://example.com"}, True)],
    # endpoints/media_message.py drops an audio caption (unsafe): held back whole by default
    "exchanges/media_sends.py": [
        ("send_invoice", {"api_key": KEY, "phone": CUSTOMER,
                          "pdf_link": "https://example.com/a.pdf"}, True),
        ("send_jingle", {"api_key": KEY, "phone": CUSTOMER,
                         "audio_link": "https://example.com/a.ogg"}, True),
        ("send_photo", {"api_key": KEY, "phone": CUSTOMER,
                        "image_link": "https://example.com/a.jpg"}, True)],
    "exchanges/read_receipt_local_id.py": [
        ("acknowledge", {"api_key": KEY, "inbound": {"id": MESSAGE_ID}}, False)],
    "endpoints/mark_read.py": [("mark_read", {"key": KEY, "message_id": MESSAGE_ID}, False)],
    "http/requests_module.py": [("send_text", {"key": KEY, "to": CUSTOMER, "text": "hi"}, True)],
    "payloads/assigned_json.py": [("send", {"key": KEY, "to": CUSTOMER, "text": "hi"}, True)],
    "payloads/inline_json.py": [("send", {"key": KEY, "to": CUSTOMER, "text": "hi"}, True)],
    "payloads/json_dumps_data.py": [
        ("send", {"key": KEY, "to": CUSTOMER, "text": "hi"}, True),
        ("send_inline", {"key": KEY, "to": CUSTOMER, "text": "hi"}, True)],
    "urls/fstring_host.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
    "urls/percent_format.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
    "urls/base_concat.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
    "urls/urljoin_no_slash.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
    "urls/full_literal.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
    "headers/d360_spellings.py": [("send", {"key": KEY, "payload": TEXT_BODY}, True)],
}
#: Cases whose URL is manual work in a mode (the file must say so with a marker instead).
MARKED_MANUAL = frozenset({("urls/percent_format.py", "meta")})
PROD_HOSTS = re.compile(r"^https://(waba-v2\.360dialog\.io|graph\.facebook\.com|"
                        r"waba\.360dialog\.io)")
CASES = [(case, mode) for case in CALLS for mode in ("360dialog", "meta")
         if expected_path(FIXTURES / case, mode).exists()]


class _ToSandbox:
    """``requests`` for the loaded module: the same request, sent to the sandbox's host."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.responses: list[requests.Response] = []

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 10)
        r = requests.request(method, PROD_HOSTS.sub(self.base, url), **kw)
        self.responses.append(r)
        return r

    def __getattr__(self, name: str) -> Callable[..., requests.Response]:
        if name not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(name)
        return lambda url, **kw: self.request(name.upper(), url, **kw)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, RunningSandbox]]:
    with running_sandbox("360dialog", open_windows=True) as d360, \
            running_sandbox("meta", open_windows=True) as meta:
        yield {"360dialog": d360, "meta": meta}


def _load(path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
          ) -> tuple[ModuleType, _ToSandbox]:
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", sandbox.phone_number_id)
    monkeypatch.delenv("GRAPH_API_VERSION", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    name = "fixture_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop(name, None)
    wrapper = _ToSandbox(sandbox.base_url)
    module.requests = wrapper  # type: ignore[attr-defined]
    return module, wrapper


def _call(module: ModuleType, sandbox: RunningSandbox, key: str, fn: str,
          args: dict[str, Any]) -> None:
    bound = {k: (key if v is KEY else v) for k, v in args.items()}
    wanted = [v for v in bound.values() if v is MESSAGE_ID
              or (isinstance(v, dict) and MESSAGE_ID in v.values())]
    if wanted:
        mid = sandbox.inbound(CUSTOMER, "hello")["id"]

        def fill(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: fill(x) for k, x in v.items()}
            return mid if v is MESSAGE_ID else v

        bound = {k: fill(v) for k, v in bound.items()}
    getattr(module, fn)(**bound)


@pytest.mark.parametrize(("case", "mode"), CASES, ids=[f"{c}[{m}]" for c, m in CASES])
def test_expected_file_works_on_cloud(case: str, mode: str,
                                      sandboxes: dict[str, RunningSandbox],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = expected_path(FIXTURES / case, mode)
    if (case, mode) in MARKED_MANUAL:
        assert "# waba-migrate: WM9" in path.read_text()
        return
    sandbox = sandboxes[mode]
    sandbox.reset()
    key = sandbox.access_token if mode == "meta" else sandbox.api_key
    module, wire = _load(path, sandbox, monkeypatch)
    for fn, args, sends in CALLS[case]:
        before = len(sandbox.outbox())
        wire.responses.clear()
        _call(module, sandbox, key, fn, args)
        assert wire.responses, f"{fn} made no request"
        for r in wire.responses:
            assert 200 <= r.status_code < 300, (fn, r.request.method, r.url, r.text)
        outbox = sandbox.outbox()
        if sends:
            assert len(outbox) > before, f"{fn}: nothing reached the outbox"
            assert outbox[-1]["body"]["messaging_product"] == "whatsapp"
            assert outbox[-1]["body"]["to"] == CUSTOMER
        else:
            assert len(outbox) == before


@pytest.mark.parametrize("case", sorted(CALLS))
def test_the_on_prem_original_is_refused(case: str, sandboxes: dict[str, RunningSandbox],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same calls with the untouched file fail on Cloud."""
    sandbox = sandboxes["360dialog"]
    sandbox.reset()
    module, wire = _load(FIXTURES / case, sandbox, monkeypatch)
    fn, args, _ = CALLS[case][0]
    args = {k: v for k, v in args.items() if k != "payload"}
    if "payload" in CALLS[case][0][1]:
        args["payload"] = {k: v for k, v in TEXT_BODY.items() if k != "messaging_product"}
    with contextlib.suppress(requests.HTTPError):  # the caller checks the status itself
        _call(module, sandbox, sandbox.api_key, fn, args)
    assert wire.responses
    assert any(r.status_code >= 400 for r in wire.responses)
