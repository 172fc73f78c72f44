"""Run examples/legacy_bot for real: its WSGI app on loopback, its calls to a sandbox."""

from __future__ import annotations

import base64
import contextlib
import importlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from shim.sandbox import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = ROOT / "examples" / "legacy_bot"
PACKAGE = "legacy_bot"

CUSTOMER = "4915112345678"
STRANGER = "4915199999999"  # never wrote in: outside the 24 h window
RECEIPT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
TEMPLATE = {
    "name": "parcel_shipped",
    "language": "en",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your parcel {{2}} is on its way."}],
}


@dataclass
class Bot:
    whatsapp: ModuleType
    webhook: ModuleType
    app: ModuleType
    url: str


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _forget_bot() -> None:
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@contextlib.contextmanager
def running_bot(
    parent: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox: RunningSandbox,
    *,
    waba_url: str | None = "sandbox",
    api_key: str | None = None,
) -> Iterator[Bot]:
    """Import the bot package found in ``parent`` (configured by env, as in production).

    ``WABA_URL`` points at the sandbox unless ``waba_url`` is None (the bot's
    own default host stays, for the shim's drop-in to intercept).
    """
    if waba_url is None:
        monkeypatch.delenv("WABA_URL", raising=False)
    else:
        monkeypatch.setenv("WABA_URL", sandbox.base_url if waba_url == "sandbox" else waba_url)
    monkeypatch.setenv("D360_API_KEY", api_key or sandbox.api_key)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    _forget_bot()
    monkeypatch.syspath_prepend(str(parent))
    try:
        whatsapp = importlib.import_module(f"{PACKAGE}.whatsapp")
        webhook = importlib.import_module(f"{PACKAGE}.webhook")
        app = importlib.import_module(f"{PACKAGE}.app")
        assert Path(whatsapp.__file__ or "").parent == parent / PACKAGE
        with serve_wsgi(app.application) as url:
            sandbox.configure(webhook_url=f"{url}/webhook")
            yield Bot(whatsapp, webhook, app, url)
    finally:
        _forget_bot()


def rewrite_copy(parent: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Copy the bot under ``parent`` and run ``waba-migrate rewrite ... --write`` on the copy."""
    shutil.copytree(BOT_DIR, parent / PACKAGE)
    script = Path(sys.executable).with_name("waba-migrate")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "shim.cli"]
    return subprocess.run(
        [*command, "rewrite", str(parent / PACKAGE), "--target", "360dialog", "--write", *args],
        capture_output=True, text=True, timeout=120, cwd=parent,
    )


def add_template(sandbox: RunningSandbox) -> None:
    """The account's approved template the bot sends (a real account would have it)."""
    path = "/v1/configs/templates"
    with httpx.Client(base_url=sandbox.base_url, headers=sandbox.auth_headers) as http:
        http.post(path, json=TEMPLATE).raise_for_status()


def receipt_inbound() -> dict[str, Any]:
    return {"mime_type": "image/png", "data_base64": base64.b64encode(RECEIPT).decode()}


def outbox_for(sandbox: RunningSandbox, to: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.outbox() if m["to"] == to]


def all_delivered(deliveries: list[dict[str, Any]]) -> None:
    """Every webhook POST the sandbox made was answered 200 by the bot."""
    assert deliveries
    bad = [d for d in deliveries if d["state"] != "delivered" or d["attempts"] != 1]
    assert not bad, bad
