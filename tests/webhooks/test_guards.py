"""ASGI and WSGI guards in front of real handlers, over loopback."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from shim.translate.types import OnPremWebhook
from shim.webhooks import (
    OnPremWebhookApp,
    WebhookAuth,
    WebhookGuard,
    WSGIWebhookGuard,
    onprem_bodies,
    onprem_view,
    sign,
)
from tests.relay.loopback import ServerThread, cloud_event, encode

AUTH = WebhookAuth.build(app_secrets=["old", "new"], verify_token="tok")
HANDSHAKE = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "987"}


def legacy_handler_app() -> Starlette:
    """An On-Prem-era handler; only its payload expression was wrapped."""

    async def webhook(request: Request) -> Response:
        data = onprem_view(await request.body())
        texts = [m["text"]["body"] for m in data.get("messages", [])]
        return JSONResponse({"texts": texts, "from": data["contacts"][0]["wa_id"]})

    async def status(request: Request) -> Response:
        return PlainTextResponse("up")

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]),
                             Route("/status", status)])


@pytest.fixture(scope="module")
def asgi_url() -> Iterator[str]:
    guarded = WebhookGuard(legacy_handler_app(), AUTH, paths={"/webhook"}, max_body=64 * 1024)
    with ServerThread(guarded) as server:
        yield server.url


def check_guard(client: httpx.Client, url: str) -> None:
    raw = encode(cloud_event([("111", "m1", "one"), ("111", "m2", "two")]))
    ok = client.post(url, content=raw, headers={"x-hub-signature-256": sign("new", raw),
                                                 "content-type": "application/json"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"texts": ["one", "two"], "from": "111"}
    assert client.post(url, content=raw).status_code == 401
    bad = client.post(url, content=raw, headers={"x-hub-signature-256": sign("x", raw)})
    assert bad.status_code == 403 and "does not match" in bad.json()["error"]
    shake = client.get(url, params=HANDSHAKE)
    assert (shake.status_code, shake.text) == (200, "987")
    assert client.get(url, params={**HANDSHAKE, "hub.verify_token": "no"}).status_code == 403
    big = b"{" + b" " * (64 * 1024) + b"}"
    assert client.post(url, content=big, headers={"x-hub-signature-256": sign("new", big)}
                       ).status_code == 413


def test_asgi_guard(asgi_url: str) -> None:
    with httpx.Client() as client:
        check_guard(client, f"{asgi_url}/webhook")
        assert client.get(f"{asgi_url}/status").text == "up"  # unguarded paths pass


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def django_style_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)  # request.body
    data = onprem_view(json.loads(body))
    texts = [m["text"]["body"] for m in data.get("messages", [])]
    out = json.dumps({"texts": texts, "from": data["contacts"][0]["wa_id"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


def test_wsgi_guard() -> None:
    guarded = WSGIWebhookGuard(django_style_app, AUTH, paths={"/webhook"}, max_body=64 * 1024)
    server = make_server("127.0.0.1", 0, guarded, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client() as client:
            check_guard(client, f"http://127.0.0.1:{server.server_port}/webhook")
    finally:
        server.shutdown()
        server.server_close()


def test_onprem_webhook_app_calls_the_handler_per_body() -> None:
    seen: list[OnPremWebhook] = []
    fail = threading.Event()

    def handler(item: OnPremWebhook) -> None:  # a sync handler runs in a thread pool
        if fail.is_set():
            raise RuntimeError("app bug")
        seen.append(item)

    body = cloud_event([("111", "m1", "x")])
    body["entry"].append(cloud_event([("222", "m2", "y")], phone_number_id="999")["entry"][0])
    raw = encode(body)
    headers = {"x-hub-signature-256": sign("old", raw), "content-type": "application/json"}
    with ServerThread(OnPremWebhookApp(handler, AUTH)) as server, httpx.Client() as client:
        assert client.post(server.url, content=raw, headers=headers).status_code == 200
        assert [(i.phone_number_id, i.body["messages"][0]["id"]) for i in seen] == [
            ("106540352242922", "m1"), ("999", "m2")]
        assert [i.body for i in seen] == [i.body for i in onprem_bodies(raw)]
        text = {**headers, "content-type": "text/plain"}
        assert client.post(server.url, content=raw, headers=text).status_code == 415
        junk = b"not json"
        junk_headers = {"x-hub-signature-256": sign("old", junk),
                        "content-type": "application/json"}
        response = client.post(server.url, content=junk, headers=junk_headers)
        assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
        fail.set()
        failed = client.post(server.url, content=raw, headers=headers)
        assert failed.status_code == 500 and "redeliver" in failed.json()["error"]


def test_an_onprem_app_bound_to_a_number_refuses_changes_for_others(
        caplog: pytest.LogCaptureFixture) -> None:
    """One endpoint per number, each with its own secret: a valid secret cannot inject
    events for the other number through this endpoint."""
    caplog.set_level(logging.WARNING, logger="shim.webhooks.security")
    seen: list[OnPremWebhook] = []
    body = cloud_event([("111", "m1", "x")])
    body["entry"].append(cloud_event([("222", "m2", "y")], phone_number_id="999")["entry"][0])
    raw = encode(body)
    headers = {"x-hub-signature-256": sign("old", raw), "content-type": "application/json"}
    app = OnPremWebhookApp(seen.append, AUTH, phone_number_id="106540352242922")
    with ServerThread(app) as server, httpx.Client() as client:
        assert client.post(server.url, content=raw, headers=headers).status_code == 200
    assert [i.body["messages"][0]["id"] for i in seen] == ["m1"]
    (event,) = [r for r in caplog.records if r.name == "shim.webhooks.security"]
    assert '"999"' in event.getMessage() and "106540352242922" in event.getMessage()
    # the same binding for handlers that read the payload themselves
    assert [i.phone_number_id for i in onprem_bodies(raw, phone_number_id="999")] == ["999"]
    assert onprem_view(raw, waba_id="nope") == {}
    assert len(onprem_bodies(raw)) == 2  # unbound: everything, as before
