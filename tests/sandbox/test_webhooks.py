"""Webhooks to a real receiver: shapes, batching, order, retries, signatures."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from shim.sandbox import RunningSandbox, running_sandbox
from shim.sandbox.webhooks import sign
from tests.conftest import load_example
from tests.sandbox.helpers import (
    LOOPBACK,
    WebhookReceiver,
    cloud_messages,
    cloud_statuses,
    text_send,
)

USER = "4915112345678"


def send_text(sandbox: RunningSandbox, **extra: Any) -> str:
    with sandbox.client() as api:
        response = api.post("/messages", json=text_send(USER, **extra))
    assert response.status_code == 200, response.text
    message_id: str = response.json()["messages"][0]["id"]
    return message_id


def statuses_of(payloads: list[Any], message_id: str) -> list[str]:
    return [s["status"] for s in cloud_statuses(payloads) if s["id"] == message_id]


@pytest.fixture
def ordered(receiver: WebhookReceiver) -> Iterator[RunningSandbox]:
    """One delivery worker, so arrival order is emission order when not reordered."""
    with running_sandbox(
        "360dialog", webhook_url=receiver.url, webhook_concurrency=1, open_windows=True
    ) as sandbox:
        yield sandbox


def test_cloud_statuses_arrive_in_cloud_shape(
    cloud: RunningSandbox, receiver: WebhookReceiver
) -> None:
    cloud.configure(webhook_url=receiver.url, open_windows=True)
    message_id = send_text(cloud)
    payloads = receiver.wait_for(lambda p: len(statuses_of(p, message_id)) == 3)
    assert sorted(statuses_of(payloads, message_id)) == ["delivered", "read", "sent"]
    for payload in payloads:
        assert payload["object"] == "whatsapp_business_account"
        entry = payload["entry"][0]
        assert entry["id"] == cloud.waba_id
        value = entry["changes"][0]["value"]
        assert entry["changes"][0]["field"] == "messages"
        assert value["messaging_product"] == "whatsapp"
        assert value["metadata"]["phone_number_id"] == cloud.phone_number_id
    sent = next(s for s in cloud_statuses(payloads) if s["status"] == "sent")
    published = load_example("cloud-webhook-status-sent-v24")
    published_status = published["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert set(sent) <= set(published_status) | {"biz_opaque_callback_data"}
    assert sent["recipient_id"] == USER


def test_unbatched_in_order_delivery(ordered: RunningSandbox, receiver: WebhookReceiver) -> None:
    ordered.configure(webhook_batch_probability=0, webhook_reorder_probability=0)
    message_id = send_text(ordered)
    payloads = receiver.wait_for(lambda p: len(statuses_of(p, message_id)) == 3)
    assert [len(cloud_statuses([p])) for p in payloads] == [1, 1, 1]
    assert statuses_of(payloads, message_id) == ["sent", "delivered", "read"]


def test_batched_delivery_puts_several_items_in_one_post(
    ordered: RunningSandbox, receiver: WebhookReceiver
) -> None:
    ordered.configure(
        webhook_batch_probability=1, webhook_max_batch=10, webhook_reorder_probability=0
    )
    message_id = send_text(ordered)
    payloads = receiver.wait_for(lambda p: len(statuses_of(p, message_id)) == 3)
    assert max(len(cloud_statuses([p])) for p in payloads) > 1
    assert len(payloads) < 3


def test_reordered_delivery_is_out_of_order(
    ordered: RunningSandbox, receiver: WebhookReceiver
) -> None:
    ordered.configure(
        webhook_batch_probability=1, webhook_max_batch=10, webhook_reorder_probability=1
    )
    message_id = send_text(ordered)
    payloads = receiver.wait_for(lambda p: len(statuses_of(p, message_id)) == 3)
    assert statuses_of(payloads, message_id) != ["sent", "delivered", "read"]
    assert sorted(statuses_of(payloads, message_id)) == ["delivered", "read", "sent"]


def test_statuses_knob_limits_what_is_emitted(
    ordered: RunningSandbox, receiver: WebhookReceiver
) -> None:
    ordered.configure(statuses=["sent"])
    message_id = send_text(ordered)
    ordered.wait_for_webhooks()
    assert statuses_of(receiver.payloads(), message_id) == ["sent"]


def test_failed_webhook_is_retried_until_200(
    d360: RunningSandbox, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 2
    d360.configure(
        webhook_url=receiver.url, open_windows=True, statuses=["sent"], webhook_batch_probability=0
    )
    message_id = send_text(d360)
    deliveries = d360.wait_for_webhooks()
    assert statuses_of(receiver.payloads(), message_id) == ["sent"]
    assert [(d["state"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("delivered", 3, 200)
    ]
    assert receiver.attempts == 3


def test_retries_are_bounded(receiver: WebhookReceiver) -> None:
    receiver.always_fail = True
    with running_sandbox(
        "meta",
        webhook_url=receiver.url,
        webhook_max_attempts=3,
        webhook_backoff_s=0.01,
        open_windows=True,
    ) as sandbox:
        sandbox.configure(statuses=["sent"])
        send_text(sandbox)
        deliveries = sandbox.wait_for_webhooks()
    assert [(d["state"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("failed", 3, 500)
    ]
    assert receiver.attempts == 3


def test_unreachable_webhook_is_retried_and_recorded(d360: RunningSandbox) -> None:
    d360.configure(webhook_url="http://127.0.0.1:9/hook", open_windows=True, statuses=["sent"])
    send_text(d360)
    deliveries = d360.wait_for_webhooks()
    assert deliveries[0]["state"] == "failed"
    assert deliveries[0]["attempts"] == 5
    assert "ConnectError" in deliveries[0]["last_error"]


def test_webhook_emission_does_not_block_the_api(
    d360: RunningSandbox, receiver: WebhookReceiver
) -> None:
    receiver.gate.clear()  # the receiver hangs until released
    d360.configure(webhook_url=receiver.url, open_windows=True)
    with d360.client(timeout=3) as api:
        for _ in range(5):
            assert api.post("/messages", json=text_send(USER)).status_code == 200
    assert receiver.payloads() == []
    receiver.gate.set()
    receiver.wait_for(lambda p: len(cloud_statuses(p)) == 15)


def test_meta_webhooks_are_signed_on_the_raw_bytes(
    meta: RunningSandbox, receiver: WebhookReceiver
) -> None:
    meta.configure(webhook_url=receiver.url)
    meta.inbound(USER, type="image", image={"caption": "ünïcode / slash"})
    receiver.wait_for(lambda p: len(p) == 1)
    posted = receiver.received[0]
    assert posted.headers["x-hub-signature-256"] == sign(meta.settings.app_secret, posted.raw)
    posted.raw.decode("ascii")  # Meta escapes non-ASCII
    assert b"\\/" in posted.raw  # and slashes: re-serialized JSON would not match
    message = cloud_messages([posted.json])[0]
    assert message["image"]["caption"] == "ünïcode / slash"


def test_360_webhooks_carry_configured_headers(
    d360: RunningSandbox, receiver: WebhookReceiver
) -> None:
    with d360.client() as api:
        config = {"url": receiver.url, "headers": {"X-Webhook-Secret": "s3cr3t"}}
        assert api.post("/v1/configs/webhook", json=config).status_code == 200
    d360.inbound(USER, "hello")
    receiver.wait_for(lambda p: len(p) == 1)
    assert receiver.received[0].headers["x-webhook-secret"] == "s3cr3t"
    assert "x-hub-signature-256" not in receiver.received[0].headers


def test_cloud_inbound_text_matches_the_published_shape(
    cloud: RunningSandbox, receiver: WebhookReceiver
) -> None:
    cloud.configure(webhook_url=receiver.url)
    result = cloud.inbound("+49 151 12345678", "Does it come in another color?", name="Sheena")
    assert result["webhook"] is True
    payloads = receiver.wait_for(lambda p: len(p) == 1)
    value = payloads[0]["entry"][0]["changes"][0]["value"]
    published = load_example("cloud-webhook-inbound-text")["entry"][0]["changes"][0]["value"]
    assert set(value) == set(published)
    message = value["messages"][0]
    assert set(message) == set(published["messages"][0])
    assert message["id"] == result["id"] and message["id"].startswith("wamid.")
    assert message["from"] == USER
    assert message["text"] == {"body": "Does it come in another color?"}
    assert value["contacts"] == [{"profile": {"name": "Sheena"}, "wa_id": USER}]


def test_cloud_inbound_voice_note_and_location(
    d360: RunningSandbox, receiver: WebhookReceiver
) -> None:
    d360.configure(webhook_url=receiver.url, webhook_batch_probability=0)
    d360.inbound(USER, type="audio", audio={"voice": True})
    d360.inbound(USER, type="location", location={"latitude": 52.5, "longitude": 13.4})
    payloads = receiver.wait_for(lambda p: len(cloud_messages(p)) == 2)
    by_type = {m["type"]: m for m in cloud_messages(payloads)}
    assert by_type["audio"]["audio"]["voice"] is True
    assert by_type["audio"]["audio"]["id"].isdigit()
    assert by_type["location"]["location"] == {"latitude": 52.5, "longitude": 13.4}


def test_emit_failed_status_with_error(cloud: RunningSandbox, receiver: WebhookReceiver) -> None:
    cloud.configure(webhook_url=receiver.url, open_windows=True, statuses=[])
    message_id = send_text(cloud, biz_opaque_callback_data="idem-42")
    cloud.emit_status(message_id, "failed", error_code=131049)
    payloads = receiver.wait_for(lambda p: len(cloud_statuses(p)) == 1)
    status = cloud_statuses(payloads)[0]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131049
    assert status["biz_opaque_callback_data"] == "idem-42"


def test_callback_data_is_echoed_in_statuses(
    cloud: RunningSandbox, receiver: WebhookReceiver
) -> None:
    cloud.configure(webhook_url=receiver.url, open_windows=True)
    message_id = send_text(cloud, biz_opaque_callback_data="key-1")
    payloads = receiver.wait_for(lambda p: len(statuses_of(p, message_id)) == 3)
    assert {s["biz_opaque_callback_data"] for s in cloud_statuses(payloads)} == {"key-1"}


def test_meta_webhook_override_runs_the_verify_handshake(
    meta: RunningSandbox, receiver: WebhookReceiver
) -> None:
    with meta.client() as api:
        wrong = api.post(
            "",
            json={
                "webhook_configuration": {
                    "override_callback_uri": receiver.url,
                    "verify_token": "not-it",
                }
            },
        )
        assert wrong.status_code == 400
        assert "Callback verification failed" in wrong.json()["error"]["error_data"]["details"]
        request = load_example("cloud-phone-webhook-override-request")
        request["webhook_configuration"]["override_callback_uri"] = receiver.url
        request["webhook_configuration"]["verify_token"] = receiver.verify_token
        assert api.post("", json=request).json() == {"success": True}
        config = api.get("", params={"fields": "webhook_configuration"}).json()
        assert config["webhook_configuration"] == {"phone_number": receiver.url}
    meta.inbound(USER, "hello")
    receiver.wait_for(lambda p: len(cloud_messages(p)) == 1)


def test_no_webhook_configured_means_nothing_is_posted(d360: RunningSandbox) -> None:
    d360.configure(open_windows=True)
    assert d360.inbound(USER, "hi")["webhook"] is False
    send_text(d360)
    assert d360.wait_for_webhooks() == []


def test_onprem_webhooks_are_flat(onprem: RunningSandbox, receiver: WebhookReceiver) -> None:
    onprem.configure(webhook_url=receiver.url)
    result = onprem.inbound(USER, "Hello this is an answer", name="Kerry Fisher")
    assert result["id"].startswith("ABGG")
    with onprem.client() as api:
        sent = api.post("/messages", json={"to": USER, "text": {"body": "hi"}})
    message_id = sent.json()["messages"][0]["id"]
    payloads = receiver.wait_for(lambda p: len(p) == 4)
    # several delivery workers (On-Prem's max_concurrent_requests): arrival order may vary
    inbound = next(p for p in payloads if "messages" in p)
    statuses = [p for p in payloads if "statuses" in p]
    published = load_example("onprem-webhook-inbound-text")
    assert set(inbound) == set(published)
    assert set(inbound["messages"][0]) == set(published["messages"][0])
    assert inbound["contacts"] == [{"profile": {"name": "Kerry Fisher"}, "wa_id": USER}]
    assert sorted(p["statuses"][0]["status"] for p in statuses) == ["delivered", "read", "sent"]
    assert all(len(p["statuses"]) == 1 and p["statuses"][0]["id"] == message_id for p in statuses)
    assert set(statuses[0]["statuses"][0]) == set(
        load_example("onprem-webhook-status-sent")["statuses"][0]
    )


def test_onprem_voice_note_is_type_voice(onprem: RunningSandbox, receiver: WebhookReceiver) -> None:
    onprem.configure(webhook_url=receiver.url)
    onprem.inbound(USER, type="audio", audio={"voice": True, "mime_type": "audio/ogg"})
    payloads = receiver.wait_for(lambda p: len(p) == 1)
    message = payloads[0]["messages"][0]
    assert message["type"] == "voice"
    assert "voice" not in message["voice"]
    media_id = message["voice"]["id"]
    assert len(media_id) == 36  # a UUID, as On-Prem media ids were
    with onprem.client() as api:
        assert api.get(f"/media/{media_id}").status_code == 200


def test_onprem_outside_window_fails_asynchronously_with_470(
    onprem: RunningSandbox, receiver: WebhookReceiver
) -> None:
    onprem.configure(webhook_url=receiver.url)
    with onprem.client() as api:
        response = api.post("/messages", json={"to": USER, "text": {"body": "hi"}})
    assert response.status_code == 200
    message_id = response.json()["messages"][0]["id"]
    payloads = receiver.wait_for(lambda p: len(p) == 1)
    status = payloads[0]["statuses"][0]
    assert (status["id"], status["status"]) == (message_id, "failed")
    assert status["errors"][0]["code"] == 470
    assert onprem.outbox() == []


def test_onprem_unknown_template_fails_with_2001(
    onprem: RunningSandbox, receiver: WebhookReceiver
) -> None:
    onprem.configure(webhook_url=receiver.url)
    body = load_example("onprem-send-template")
    body["to"] = USER
    with onprem.client() as api:
        assert api.post("/messages", json=body).status_code == 200
    payloads = receiver.wait_for(lambda p: len(p) == 1)
    assert payloads[0]["statuses"][0]["errors"][0]["code"] == 2001


def test_inbound_control_validation(d360: RunningSandbox) -> None:
    url = f"{d360.base_url}/_sandbox/inbound"
    for body, field in (
        ({}, "from"),
        ({"from": USER, "type": "telepathy"}, "type"),
        ({"from": USER, "text": 5}, "text"),
        ({"from": USER, "type": "image", "image": {"data_base64": "***"}}, "image.data_base64"),
        ({"from": USER, "text": "x", "timestamp": "yesterday"}, "timestamp"),
    ):
        response = LOOPBACK.post(url, json=body)
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith(field)
    ok = LOOPBACK.post(
        url,
        json={
            "from": USER,
            "type": "image",
            "image": {"data_base64": base64.b64encode(b"\xff\xd8\xff").decode()},
        },
    )
    assert ok.status_code == 200 and ok.json()["media_id"].isdigit()
