"""The Client over loopback against each sandbox surface: On-Prem in, On-Prem out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from shim import Client
from shim.client import ApiError, ShimResponse
from shim.sandbox import RunningSandbox, running_asgi
from tests.client.conftest import config_for
from tests.conftest import load_example

TO = "4915112345678"


def test_send_text_returns_the_id_and_the_backend_got_its_own_shape(
    any_sandbox: RunningSandbox,
) -> None:
    with Client(config_for(any_sandbox)) as client:
        message_id = client.send_text(TO, "Your parcel has shipped", preview_url=True)
    [sent] = any_sandbox.outbox()
    assert sent["id"] == message_id
    body = sent["body"]
    if any_sandbox.api.value == "onprem":
        assert body["preview_url"] is True and "messaging_product" not in body
    else:
        assert body["messaging_product"] == "whatsapp"
        assert body["text"] == {"body": "Your parcel has shipped", "preview_url": True}
        assert body["biz_opaque_callback_data"].startswith("wm-")


def test_raw_request_with_an_onprem_example_answers_in_onprem_shape(
    any_sandbox: RunningSandbox,
) -> None:
    with Client(config_for(any_sandbox)) as client:
        example = load_example("onprem-send-hsm-legacy")
        hsm = {
            **example["hsm"],
            "element_name": "hello_world",
            "localizable_params": [],
            "language": {"policy": "deterministic", "code": "en_US"},
        }
        body = {**example, "to": TO, "hsm": hsm}
        response = client.post("/v1/messages", json=body)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"messages"} and "messaging_product" not in body
    assert body["messages"][0]["id"] == any_sandbox.outbox()[0]["id"]
    if any_sandbox.api.value != "onprem":
        assert any_sandbox.outbox()[0]["body"]["type"] == "template"
        assert "W104" in response.headers["X-Waba-Migrate-Warnings"]


def test_cloud_errors_come_back_as_onprem_errors(cloud_sandbox: RunningSandbox) -> None:
    with Client(config_for(cloud_sandbox)) as client:
        response = client.post(
            "/v1/messages", json={"to": TO, "type": "text", "text": {"body": "x" * 5000}}
        )
        assert response.status_code >= 400
        error = response.json()["errors"][0]
        assert isinstance(error["code"], int) and error["code"] < 100000
        with pytest.raises(ApiError) as exc:
            client.send_template(TO, "no_such_template", "en")
    assert exc.value.code == 2001
    assert cloud_sandbox.outbox() == []


def test_media_round_trip(any_sandbox: RunningSandbox) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with Client(config_for(any_sandbox)) as client:
        media_id = client.upload_media(data, "image/png")
        assert client.download_media(media_id) == data
        response = client.get(f"/v1/media/{media_id}")
        assert response.headers["content-type"].startswith("image/png")
        client.send_media(TO, "image", media_id=media_id, caption="look")
    assert any_sandbox.outbox()[0]["body"]["image"]["id"] == media_id


def test_360_download_rewrites_the_lookaside_host(sb360: RunningSandbox) -> None:
    sb360.reset()
    with Client(config_for(sb360)) as client:
        media_id = client.upload_media(b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
        info = client.dispatcher.http.get(
            f"{sb360.base_url}/{media_id}", headers=sb360.auth_headers
        ).json()
        assert "lookaside.fbsbx.com" in info["url"]  # what Cloud hands out
        assert (
            client.download_media(media_id) == b"\xff\xd8\xff\xe0jpeg"
        )  # fetched via the channel host


def test_onprem_media_id_is_refused_on_cloud_naming_the_field(
    cloud_sandbox: RunningSandbox,
) -> None:
    uuid = "f0e5a7d4-0a0b-4c5d-8e9f-0123456789ab"
    with Client(config_for(cloud_sandbox)) as client:
        sent = client.post("/v1/messages", json={"to": TO, "type": "image", "image": {"id": uuid}})
        fetched = client.get(f"/v1/media/{uuid}")
    assert sent.status_code == 400 and "$.image.id" in sent.json()["errors"][0]["details"]
    assert fetched.status_code == 400 and "media_id" in fetched.json()["errors"][0]["details"]
    assert cloud_sandbox.outbox() == []


def test_cloud_media_id_is_refused_on_onprem(sbonprem: RunningSandbox) -> None:
    sbonprem.reset()
    with Client(config_for(sbonprem)) as client:
        response = client.post(
            "/v1/messages",
            json={"to": TO, "type": "document", "document": {"id": "1037543291543636"}},
        )
    assert response.status_code == 400
    assert "$.document.id" in response.json()["errors"][0]["details"]
    assert "Cloud media id" in response.json()["errors"][0]["details"]


def test_media_id_uploaded_on_one_channel_is_refused_on_another(
    sb360: RunningSandbox, sbmeta: RunningSandbox
) -> None:
    from shim.config import parse_config
    from tests.client.conftest import channel_table

    sb360.reset()
    sbmeta.reset()
    cfg = parse_config({"channels": {"d": channel_table(sb360), "m": channel_table(sbmeta)}})
    with Client(cfg) as client:
        media_id = client.upload_media(b"%PDF-1.4", "application/pdf", channel="d")
        response = client.post(
            "/v1/messages",
            channel="m",
            json={"to": TO, "type": "document", "document": {"id": media_id}},
        )
        assert response.status_code == 400
        assert "uploaded through channel 'd'" in response.json()["errors"][0]["details"]
        client.send_media(TO, "document", media_id=media_id, channel="d")
    assert sbmeta.outbox() == [] and len(sb360.outbox()) == 1


async def _challenge_echo(scope: Any, receive: Any, send: Any) -> None:
    """A webhook receiver that passes Meta's verify handshake (echoes hub.challenge)."""
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    body = query.get("hub.challenge", "ok").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    with running_asgi(_challenge_echo) as url:
        yield url


def test_mark_read_contacts_health_and_webhook(
    any_sandbox: RunningSandbox, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    inbound = any_sandbox.inbound(TO, "hi")
    with Client(config_for(any_sandbox)) as client:
        client.mark_read(inbound["id"])
        contacts = client.check_contacts(["+49 151 12345678"])
        assert contacts[0]["wa_id"] == "4915112345678" and contacts[0]["status"] == "valid"
        assert client.health()["health"]["gateway_status"] == "connected"
        client.set_webhook(hook, {"X-Auth": "abc"})
        assert client.get("/v1/configs/webhook").json().get("url") == hook


def test_unsupported_endpoint_is_501_saying_what_to_do(cloud_sandbox: RunningSandbox) -> None:
    with Client(config_for(cloud_sandbox)) as client:
        response = client.post("/v1/users/login", content=b"")
        unknown = client.get("/v1/no/such/thing")
    assert response.status_code == 501
    details = response.json()["errors"][0]["details"]
    assert "Instead:" in details and "api_key" in details
    assert unknown.status_code == 404


def test_bad_json_body_is_a_located_400(any_sandbox: RunningSandbox) -> None:
    with Client(config_for(any_sandbox)) as client:
        response = client.post(
            "/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["details"].startswith("$:")


def test_too_deep_send_body_is_a_located_400_and_nothing_is_sent(
    any_sandbox: RunningSandbox,
) -> None:
    any_sandbox.reset()
    deep: Any = "x"
    for _ in range(5_000):  # past the interpreter's recursion limit
        deep = {"a": [deep]}
    with Client(config_for(any_sandbox)) as client:
        # A known upload makes the media-id check walk send bodies too.
        media_id = client.upload_media(b"%PDF-1.4", "application/pdf")
        response = client.post(
            "/v1/messages", json={"to": TO, "type": "image", "image": {"id": media_id, "x": deep}}
        )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 1009
    where = "$.image.x" + ".a[0]" * 31  # the 65th container, counting the body as the first
    assert error["details"].startswith(f"{where}: nested deeper than 64")
    assert any_sandbox.outbox() == []


def test_templates_need_waba_id_on_meta(sbmeta: RunningSandbox) -> None:
    sbmeta.reset()
    with Client(config_for(sbmeta)) as client:
        assert "waba_templates" in client.get("/v1/configs/templates").json()
    cfg = config_for(sbmeta)
    table = cfg.channels["main"].model_copy(update={"waba_id": None})
    cfg = cfg.model_copy(update={"channels": {"main": table}})
    with Client(cfg) as client:
        response = client.get("/v1/configs/templates")
    assert response.status_code == 400 and "waba_id" in response.text


def test_response_surface_matches_what_callers_read(sb360: RunningSandbox) -> None:
    sb360.reset()
    with Client(config_for(sb360)) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}})
    assert isinstance(response, ShimResponse)
    assert response.ok and response.is_success and response.status_code == 200
    assert response.json()["messages"][0]["id"] in response.text
    assert response.content.startswith(b"{")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Waba-Migrate-Channel"] == "main"
    assert response.raise_for_status() is response
