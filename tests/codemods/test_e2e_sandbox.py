"""Rewritten code really talks Cloud: run it against the 360dialog and Meta sandboxes.

A small On-Prem client (sends with ``json.dumps`` and top-level ``preview_url``,
a ``PUT`` read receipt, a Django-style webhook view) is rewritten by the CLI,
imported with its key from the env, its base URL constant pointed at a sandbox on
loopback, and used. The untouched original is run against the same sandbox as the
control. (A base URL read from the env is not rewritten at all: the codemod cannot
check where it points, so such a request is held whole with a WM905 marker.)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from click.testing import CliRunner

from shim.cli import main
from shim.sandbox import RunningSandbox, running_sandbox
from tests.conftest import load_example

CLIENT = '''"""An On-Premise API v1 client, its key from the env like production code."""

import json
import os

import requests

WABA_URL = "https://waba.360dialog.io"
HEADERS = {"D360-API-KEY": os.environ.get("WABA_KEY", ""), "Content-Type": "application/json"}


def send_text(to, text, preview=False):
    body = {"recipient_type": "individual", "to": to, "type": "text", "preview_url": preview,
            "text": {"body": text}}
    r = requests.post(WABA_URL + "/v1/messages", headers=HEADERS, data=json.dumps(body),
                      timeout=10)
    return r.status_code, r.json()


def mark_read(message_id):
    r = requests.put(f"{WABA_URL}/v1/messages/{message_id}", headers=HEADERS,
                     json={"status": "read"}, timeout=10)
    return r.status_code


def webhook(request):
    data = json.loads(request.body)
    texts = [(m["from"], m["text"]["body"]) for m in data.get("messages", [])
             if m["type"] == "text"]
    return texts, [c["wa_id"] for c in data.get("contacts", [])]
'''
CUSTOMER = "4915112345678"


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, RunningSandbox]]:
    with running_sandbox("360dialog", open_windows=True) as d360, \
            running_sandbox("meta", open_windows=True) as meta:
        yield {"360dialog": d360, "meta": meta}


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def _env(monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, target: str) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("GRAPH_API_VERSION", raising=False)  # the rewritten default is used
    if target == "meta":
        monkeypatch.setenv("WABA_KEY", sandbox.access_token)
        monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", sandbox.phone_number_id)
    else:
        monkeypatch.setenv("WABA_KEY", sandbox.api_key)


def _cloud_webhook_request() -> SimpleNamespace:
    return SimpleNamespace(body=json.dumps(load_example("cloud-webhook-inbound-text")).encode())


@pytest.mark.parametrize("target", ["360dialog", "meta"])
def test_rewritten_client_works_on_cloud(
    target: str, sandboxes: dict[str, RunningSandbox], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = sandboxes[target]
    sandbox.reset()
    path = tmp_path / "client.py"
    path.write_text(CLIENT)
    result = CliRunner().invoke(main, ["rewrite", str(path), "--target", target, "--write"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    _env(monkeypatch, sandbox, target)
    client = _load(path, f"client_{target.replace('360', 'd360')}")
    cloud = {"360dialog": "https://waba-v2.360dialog.io", "meta": "https://graph.facebook.com"}
    assert cloud[target] == client.WABA_URL
    monkeypatch.setattr(client, "WABA_URL", sandbox.base_url)  # the Cloud host, on loopback

    status, reply = client.send_text(CUSTOMER, "see https://example.com", preview=True)
    assert status == 200, reply
    sent = sandbox.outbox()[-1]["body"]
    assert sent["messaging_product"] == "whatsapp"
    assert sent["text"] == {"preview_url": True, "body": "see https://example.com"}
    assert reply["messages"][0]["id"]

    inbound = sandbox.inbound(CUSTOMER, "hello")
    assert client.mark_read(inbound["id"]) == 200

    texts, wa_ids = client.webhook(_cloud_webhook_request())
    assert texts == [("16505551234", "Does it come in another color?")]
    assert wa_ids == ["16505551234"]


def test_the_original_does_not_work_on_cloud(
    sandboxes: dict[str, RunningSandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: without the rewrite the same calls fail, so the test above can fail."""
    sandbox = sandboxes["360dialog"]
    sandbox.reset()
    path = tmp_path / "original.py"
    path.write_text(CLIENT)
    _env(monkeypatch, sandbox, "360dialog")
    original = _load(path, "client_original")
    monkeypatch.setattr(original, "WABA_URL", sandbox.base_url)
    status, _ = original.send_text(CUSTOMER, "hi")
    assert status >= 400
    assert original.webhook(_cloud_webhook_request()) == ([], [])
