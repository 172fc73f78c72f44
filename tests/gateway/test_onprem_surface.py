"""The On-Prem v1 surface through the gateway, on a 360dialog and a Meta channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest

from shim.sandbox.runner import running_asgi
from tests.gateway.conftest import TO, Channel, RunningGateway
from tests.gateway.helpers import onprem_error


def test_send_text_answers_onprem_and_the_backend_gets_cloud(
    gw: RunningGateway, channel: Channel
) -> None:
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json={
            "to": TO, "type": "text", "recipient_type": "individual",
            "text": {"body": "Your parcel has shipped"}, "preview_url": True,
        })
    assert response.status_code == 200, response.text
    body = response.json()
    assert "messaging_product" not in body
    assert body["contacts"] == [{"input": TO, "wa_id": TO}]
    [sent] = channel.sandbox.outbox()
    assert body["messages"] == [{"id": sent["id"]}]
    assert sent["body"]["messaging_product"] == "whatsapp"
    assert sent["body"]["text"] == {"body": "Your parcel has shipped", "preview_url": True}
    assert response.headers["X-Waba-Migrate-Channel"] == channel.name
    assert response.headers["X-Waba-Migrate-Backend"] == channel.backend


def test_each_key_reaches_its_own_channel(gw: RunningGateway) -> None:
    for channel in (gw.shop, gw.brand):
        with gw.caller(channel) as http:
            assert http.post("/v1/messages", json={"to": TO, "text": {"body": channel.name}}
                             ).status_code == 200
    assert [m["body"]["text"]["body"] for m in gw.shop.sandbox.outbox()] == ["shop"]
    assert [m["body"]["text"]["body"] for m in gw.brand.sandbox.outbox()] == ["brand"]


def test_cloud_key_and_bearer_header_also_select_the_channel(gw: RunningGateway) -> None:
    from tests.gateway.conftest import D360_KEY

    with gw.caller(Authorization=f"Bearer {gw.brand.key}") as http:
        assert http.get("/v1/health").headers["X-Waba-Migrate-Channel"] == "brand"
    with gw.caller(**{"D360-API-KEY": D360_KEY}) as http:  # the channel's api_key
        assert http.get("/v1/health").headers["X-Waba-Migrate-Channel"] == "shop"


def test_template_and_legacy_hsm(gw: RunningGateway, channel: Channel) -> None:
    template: dict[str, Any] = {
        "to": TO, "type": "template",
        "template": {
            "namespace": "b1e8_ns", "name": "order_update",
            "language": {"policy": "deterministic", "code": "en"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "A-17"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ann"},
                                                {"type": "text", "text": "A-17"}]},
            ],
        },
    }
    hsm = {
        "to": TO, "type": "hsm",
        "hsm": {"namespace": "b1e8_ns", "element_name": "hello_world",
                "language": {"policy": "deterministic", "code": "en_US"},
                "localizable_params": []},
    }
    with gw.caller(channel) as http:
        first = http.post("/v1/messages", json=template)
        second = http.post("/v1/messages", json=hsm)
        missing = http.post("/v1/messages", json={
            **template, "template": {**template["template"], "name": "no_such_template"}})
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert "W104" in second.headers["X-Waba-Migrate-Warnings"]  # hsm became template
    sent = [m["body"] for m in channel.sandbox.outbox()]
    assert [b["type"] for b in sent] == ["template", "template"]
    assert sent[0]["template"]["name"] == "order_update" and "namespace" not in sent[0]["template"]
    assert sent[1]["template"]["name"] == "hello_world"
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 2001


def test_mark_read_with_a_cloud_message_id_in_the_path(
    gw: RunningGateway, channel: Channel
) -> None:
    inbound = channel.sandbox.inbound(TO, "hi")
    message_id = inbound["id"]
    with gw.caller(channel) as http:
        response = http.put(f"/v1/messages/{quote(message_id, safe='')}",
                            json={"status": "read"})
        unknown = http.put("/v1/messages/wamid.nope", json={"status": "read"})
    assert response.status_code == 200, response.text
    assert unknown.status_code >= 400 and "errors" in unknown.json()


def test_media_upload_download_delete_bytes(gw: RunningGateway, channel: Channel) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    with gw.caller(channel) as http:
        uploaded = http.post("/v1/media", content=data, headers={"Content-Type": "image/png"})
        assert uploaded.status_code in (200, 201), uploaded.text
        [media] = uploaded.json()["media"]
        media_id = media["id"]
        downloaded = http.get(f"/v1/media/{media_id}")
        assert downloaded.status_code == 200
        assert downloaded.content == data
        assert downloaded.headers["content-type"].startswith("image/png")
        sent = http.post("/v1/messages", json={"to": TO, "type": "image",
                                                "image": {"id": media_id, "caption": "look"}})
        assert sent.status_code == 200
        deleted = http.delete(f"/v1/media/{media_id}")
        assert deleted.status_code == 200, deleted.text
        gone = http.get(f"/v1/media/{media_id}")
    assert gone.status_code >= 400 and gone.json()["errors"][0]["code"] in (1006, 1009)
    assert channel.sandbox.outbox()[0]["body"]["image"]["id"] == media_id


def test_contacts_are_answered_locally(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        response = http.post("/v1/contacts", json={
            "blocking": "wait", "contacts": ["+49 151 12345678", "no digits"],
            "force_check": True})
    assert response.status_code == 200
    assert response.json()["contacts"] == [
        {"input": "+49 151 12345678", "status": "valid", "wa_id": "4915112345678"},
        {"input": "no digits", "status": "invalid"},
    ]
    assert channel.sandbox.outbox() == []


def test_health_and_phone_number(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        health = http.get("/v1/health")
        number = http.get("/v1/configs/phone_number")
    assert health.status_code == 200
    assert health.json()["health"]["gateway_status"] == "connected"
    expected = "+4915100000001" if channel.name == "shop" else "+4915100000002"
    assert number.json() == {"phone_number": expected}


def test_templates_list_create_delete(gw: RunningGateway, channel: Channel) -> None:
    new = {"name": "gateway_notice", "language": "en", "category": "UTILITY",
           "components": [{"type": "BODY", "text": "Parcel {{1}} is on its way."}]}
    with gw.caller(channel) as http:
        listed = http.get("/v1/configs/templates")
        created = http.post("/v1/configs/templates", json=new)
        names = {t["name"] for t in http.get("/v1/configs/templates").json()["waba_templates"]}
        deleted = http.delete("/v1/configs/templates/gateway_notice")
        after = {t["name"] for t in http.get("/v1/configs/templates").json()["waba_templates"]}
    assert listed.status_code == 200
    assert "hello_world" in {t["name"] for t in listed.json()["waba_templates"]}
    assert created.status_code in (200, 201), created.text
    assert "gateway_notice" in names
    assert deleted.status_code == 200, deleted.text
    assert "gateway_notice" not in after


def test_profile_about(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        changed = http.patch("/v1/settings/profile/about", json={"text": "Open 9-5"})
        about = http.get("/v1/settings/profile/about")
        profile = http.get("/v1/settings/business/profile")
    assert changed.status_code == 200, changed.text
    assert about.json()["settings"]["profile"]["about"]["text"] == "Open 9-5"
    assert profile.status_code == 200 and "business" in profile.json()["settings"]


async def _challenge_echo(scope: Any, receive: Any, send: Any) -> None:
    """A webhook receiver that passes Meta's verify handshake."""
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": query.get("hub.challenge", "ok").encode()})


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    with running_asgi(_challenge_echo) as url:
        yield url


def test_webhook_config(gw: RunningGateway, channel: Channel, receiver_url: str) -> None:
    hook = f"{receiver_url}/hook"
    with gw.caller(channel) as http:
        set_ = http.post("/v1/configs/webhook", json={"url": hook})
        got = http.get("/v1/configs/webhook")
    assert set_.status_code == 200, set_.text
    assert got.json().get("url") == hook


def test_application_settings_set_the_webhook_and_warn_per_ignored_key(
    gw: RunningGateway, channel: Channel, receiver_url: str
) -> None:
    hook = f"{receiver_url}/settings-hook"
    body = {"on_call_pager": "+27000000000", "webhooks": {"url": hook},
            "callback_backoff_delay_ms": "3000", "sent_status": False}
    with gw.caller(channel) as http:
        patched = http.patch("/v1/settings/application", json=body)
        got = http.get("/v1/settings/application")
        only_ignored = http.patch("/v1/settings/application", json={"pass_through": True})
        webhook = http.get("/v1/configs/webhook")
    assert patched.status_code == 200, patched.text
    assert set(patched.json()) == {"meta"}
    assert patched.headers["x-waba-migrate-warnings"] == "W304"
    assert got.status_code == 200, got.text
    assert got.json()["settings"]["application"]["webhooks"] == {"url": hook}
    assert webhook.json()["url"] == hook
    assert only_ignored.status_code == 200 and set(only_ignored.json()) == {"meta"}
    assert only_ignored.headers["x-waba-migrate-warnings"] == "W304"


def test_null_caption_is_dropped_and_text_without_body_refused(
    gw: RunningGateway, channel: Channel
) -> None:
    with gw.caller(channel) as http:
        uploaded = http.post("/v1/media", content=b"\xff\xd8\xff\xe0 fake jpeg",
                             headers={"Content-Type": "image/jpeg"})
        media_id = uploaded.json()["media"][0]["id"]
        image = http.post("/v1/messages", json={
            "to": TO, "type": "image", "image": {"id": media_id, "caption": None}})
        no_body = http.post("/v1/messages", json={"to": TO, "type": "text", "text": {}})
    assert image.status_code == 200, image.text
    assert image.headers["x-waba-migrate-warnings"] == "W109"
    assert "$.text.body" in onprem_error(no_body, 400, 1008)
    sent = channel.sandbox.outbox()
    assert len(sent) == 1 and "caption" not in sent[0]["body"]["image"]


def test_reply_to_a_username_user_goes_to_its_bsuid(gw: RunningGateway, channel: Channel) -> None:
    bsuid = "US.13491208655302741918"
    with gw.caller(channel) as http:
        sent = http.post("/v1/messages", json={"to": bsuid, "text": {"body": "hi"}})
    assert sent.status_code == 200, sent.text
    assert sent.json()["contacts"] == [{"input": bsuid, "user_id": bsuid, "wa_id": bsuid}]
    assert sent.headers["x-waba-migrate-warnings"] == "W204"
    [out] = channel.sandbox.outbox()
    assert out["body"]["recipient"] == bsuid and "to" not in out["body"]


def test_query_is_forwarded_even_with_a_url_in_it(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        response = http.get("/v1/configs/templates?limit=5&note=https://example.com/x")
    assert response.status_code == 200, response.text
    assert "waba_templates" in response.json()
