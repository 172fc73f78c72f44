"""Every translated On-Prem endpoint, end to end against the sandbox on both Cloud targets.

For each row of the endpoint map that goes to Cloud, one On-Prem call goes
through the shim client; the request that really left (captured on the wire by
an httpx event hook) is compared field by field with the Cloud request written
out here from the Cloud API reference, and the sandbox's state is read back to
show the call took effect. The expectations are written by hand, not taken from
the translators.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shim import Client
from shim.config import parse_config
from shim.mapping.endpoints import ENDPOINTS, Kind
from shim.sandbox import RunningSandbox, running_asgi, running_sandbox
from tests.client.conftest import D360_KEY, META_TOKEN
from tests.sandbox.helpers import WebhookReceiver

USER = "4915112345678"
TEMPLATE = "e2e_order_update"


@dataclass
class Wire:
    """Requests the shim really sent, in order."""

    requests: list[httpx.Request]

    def record(self, request: httpx.Request) -> None:
        request.read()  # a multipart upload streams: buffer it so it can be inspected
        self.requests.append(request)

    def only(self) -> httpx.Request:
        assert len(self.requests) == 1, [f"{r.method} {r.url}" for r in self.requests]
        return self.requests[0]

    def json(self) -> Any:
        return json.loads(self.only().content)


@dataclass
class Setup:
    sandbox: RunningSandbox
    client: Client
    wire: Wire
    hook: WebhookReceiver

    @property
    def meta(self) -> bool:
        return self.sandbox.api.value == "meta"

    def path(self, d360: str, meta: str) -> str:
        """The Cloud path on this target (Meta paths under the pinned Graph version)."""
        if not self.meta:
            return d360
        pnid, waba = self.sandbox.settings.phone_number_id, self.sandbox.settings.waba_id
        return "/v24.0" + meta.format(pnid=pnid, waba=waba)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.wire.requests.clear()
        response = self.client.request(method, path, **kwargs)
        assert response.is_success, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()  # answers Meta's verification challenge with "verify-me"
    with running_asgi(receiver.app()) as base_url:
        receiver.url = f"{base_url}/hook"
        yield receiver


@pytest.fixture(params=["360dialog", "meta"])
def setup(request: pytest.FixtureRequest, hook: WebhookReceiver) -> Iterator[Setup]:
    api = request.param
    with running_sandbox(api, api_key=D360_KEY, access_token=META_TOKEN,
                         open_windows=True) as sb:
        channel: dict[str, Any] = {"phone_number": "+15550000001", "backend": api,
                                   "base_url": sb.base_url, "verify_token": "env:T_VERIFY"}
        if api == "meta":
            channel.update(access_token="env:T_META_TOKEN",
                           phone_number_id=sb.settings.phone_number_id,
                           waba_id=sb.settings.waba_id)
        else:
            channel["api_key"] = "env:T_D360_KEY"
        wire = Wire([])
        http = httpx.Client(trust_env=False, timeout=10,
                            event_hooks={"request": [wire.record]})
        with http, Client(parse_config({"channels": {"c": channel}}), http=http) as client:
            yield Setup(sb, client, wire, hook)


COVERED: set[str] = set()


def covers(*names: str) -> Any:
    COVERED.update(names)
    return lambda fn: fn


@covers("send_message")
def test_send_message(setup: Setup) -> None:
    answer = setup.call("POST", "/v1/messages", json={
        "recipient_type": "individual", "to": USER, "type": "text", "preview_url": True,
        "text": {"body": "Your order shipped"}})
    sent = setup.wire.only()
    assert (sent.method, sent.url.path) == ("POST", setup.path("/messages", "/{pnid}/messages"))
    body = setup.wire.json()
    key = body.pop("biz_opaque_callback_data")
    assert isinstance(key, str) and key
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": USER, "type": "text",
                    "text": {"body": "Your order shipped", "preview_url": True}}
    (kept,) = setup.sandbox.outbox()
    assert kept["id"] == answer["messages"][0]["id"]


@covers("mark_read")
def test_mark_read(setup: Setup) -> None:
    inbound = setup.sandbox.inbound(USER, "hello")
    setup.call("PUT", f"/v1/messages/{inbound['id']}", json={"status": "read"})
    sent = setup.wire.only()
    assert (sent.method, sent.url.path) == ("POST", setup.path("/messages", "/{pnid}/messages"))
    assert setup.wire.json() == {"messaging_product": "whatsapp", "status": "read",
                                 "message_id": inbound["id"]}


@covers("set_webhook", "get_webhook")
def test_set_and_get_webhook(setup: Setup) -> None:
    setup.call("POST", "/v1/configs/webhook", json={"url": setup.hook.url})
    sent = [r for r in setup.wire.requests if r.method == "POST"]
    assert len(sent) == 1
    assert sent[0].url.path == setup.path("/v1/configs/webhook", "/{pnid}")
    expected: dict[str, Any] = (
        {"webhook_configuration": {"override_callback_uri": setup.hook.url,
                                   "verify_token": "verify-me"}}
        if setup.meta else {"url": setup.hook.url})
    assert json.loads(sent[0].content) == expected
    got = setup.call("GET", "/v1/configs/webhook")
    assert setup.hook.url in json.dumps(got)
    read = setup.wire.only()
    assert read.url.path == setup.path("/v1/configs/webhook", "/{pnid}")


@covers("set_application_webhook", "get_application_settings")
def test_application_settings_webhook(setup: Setup) -> None:
    setup.call("PATCH", "/v1/settings/application",
               json={"webhooks": {"url": setup.hook.url}})
    sent = [r for r in setup.wire.requests if r.method == "POST"]
    assert len(sent) == 1
    assert sent[0].url.path == setup.path("/v1/configs/webhook", "/{pnid}")
    expected: dict[str, Any] = (
        {"webhook_configuration": {"override_callback_uri": setup.hook.url,
                                   "verify_token": "verify-me"}}
        if setup.meta else {"url": setup.hook.url})
    assert json.loads(sent[0].content) == expected
    got = setup.call("GET", "/v1/settings/application")
    assert got["settings"]["application"]["webhooks"]["url"] == setup.hook.url


@covers("create_template", "list_templates", "delete_template")
def test_templates(setup: Setup) -> None:
    template = {"name": TEMPLATE, "category": "UTILITY", "language": "en",
                "components": [{"type": "BODY", "text": "Order {{1}} shipped"}]}
    setup.call("POST", "/v1/configs/templates", json=template)
    sent = setup.wire.only()
    assert sent.url.path == setup.path("/v1/configs/templates", "/{waba}/message_templates")
    assert setup.wire.json() == template
    listing = setup.call("GET", "/v1/configs/templates")
    assert TEMPLATE in json.dumps(listing)
    assert setup.wire.only().url.path == setup.path("/v1/configs/templates",
                                                    "/{waba}/message_templates")
    setup.call("DELETE", f"/v1/configs/templates/{TEMPLATE}")
    gone = setup.wire.only()
    assert gone.method == "DELETE"
    if setup.meta:
        assert gone.url.path == setup.path("", "/{waba}/message_templates")
        assert gone.url.params["name"] == TEMPLATE
    else:
        assert gone.url.path == f"/v1/configs/templates/{TEMPLATE}"
    assert TEMPLATE not in json.dumps(setup.call("GET", "/v1/configs/templates"))


@covers("set_about", "get_about")
def test_about(setup: Setup) -> None:
    setup.call("PATCH", "/v1/settings/profile/about", json={"text": "Open 9 to 5"})
    sent = setup.wire.only()
    profile = setup.path("/whatsapp_business_profile", "/{pnid}/whatsapp_business_profile")
    assert (sent.method, sent.url.path) == ("POST", profile)
    assert setup.wire.json() == {"messaging_product": "whatsapp", "about": "Open 9 to 5"}
    got = setup.call("GET", "/v1/settings/profile/about")
    assert got["settings"]["profile"]["about"]["text"] == "Open 9 to 5"
    read = setup.wire.only()
    assert read.url.path == profile and read.url.params["fields"] == "about"


@covers("set_business_profile", "get_business_profile")
def test_business_profile(setup: Setup) -> None:
    fields = {"address": "1 Main St", "description": "Bikes and parts",
              "email": "shop@example.com", "vertical": "RETAIL",
              "websites": ["https://example.com/"]}
    setup.call("POST", "/v1/settings/business/profile", json=fields)
    sent = setup.wire.only()
    profile = setup.path("/whatsapp_business_profile", "/{pnid}/whatsapp_business_profile")
    assert (sent.method, sent.url.path) == ("POST", profile)
    assert setup.wire.json() == {"messaging_product": "whatsapp", **fields}
    got = setup.call("GET", "/v1/settings/business/profile")
    business = got["settings"]["business"]["profile"]
    assert {k: business[k] for k in fields} == fields
    assert setup.wire.only().url.path == profile


@covers("get_profile_photo")
def test_profile_photo(setup: Setup) -> None:
    got = setup.call("GET", "/v1/settings/profile/photo?format=link")
    assert got["settings"]["profile"]["photo"]["link"].startswith("https://")
    read = setup.wire.only()
    assert read.url.path == setup.path("/whatsapp_business_profile",
                                       "/{pnid}/whatsapp_business_profile")
    assert dict(read.url.params) == {"fields": "profile_picture_url"}


def test_profile_photo_bytes_are_refused_and_nothing_is_sent(setup: Setup) -> None:
    """On-Prem answered the image bytes here; JSON in a 200 would be written as the image."""
    setup.wire.requests.clear()
    refused = setup.client.request("GET", "/v1/settings/profile/photo")
    assert refused.status_code == 501
    error = refused.json()["errors"][0]
    assert error["code"] == 501
    assert "?format=link" in error["details"] and "only exposes a URL" in error["details"]
    assert setup.wire.requests == []


@covers("health")
def test_health(setup: Setup) -> None:
    got = setup.call("GET", "/v1/health")
    assert "health" in got
    read = setup.wire.only()
    if setup.meta:
        assert read.url.path == setup.path("", "/{pnid}")
        assert read.url.params["fields"] == "health_status"
    else:
        assert read.url.path == "/health_status"


@covers("upload_media", "download_media", "delete_media")
def test_media_round_trip(setup: Setup) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    uploaded = setup.call("POST", "/v1/media", content=data,
                          headers={"Content-Type": "image/png"})
    sent = setup.wire.only()
    assert sent.url.path == setup.path("/media", "/{pnid}/media")
    assert sent.headers["content-type"].startswith("multipart/form-data")
    form = sent.content
    assert b'name="messaging_product"' in form and b"whatsapp" in form
    assert b'name="type"' in form and b"image/png" in form and data in form
    media_id = uploaded["media"][0]["id"]
    setup.wire.requests.clear()
    assert setup.client.download_media(media_id) == data
    assert setup.wire.requests[0].url.path.endswith(f"/{media_id}")
    setup.call("DELETE", f"/v1/media/{media_id}")
    gone = setup.wire.only()
    assert gone.method == "DELETE" and gone.url.path.endswith(f"/{media_id}")


def test_every_translated_endpoint_is_covered_here() -> None:
    translated = {ep.name for ep in ENDPOINTS if ep.kind is Kind.TRANSLATE}
    assert translated == COVERED
