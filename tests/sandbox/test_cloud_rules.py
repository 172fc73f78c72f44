"""Cloud rules on both Cloud surfaces (360dialog and Meta), over loopback."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from shim.mapping.errors import CLOUD_ERRORS
from shim.sandbox import RunningSandbox
from tests.conftest import load_example
from tests.sandbox.helpers import text_send

USER = "4915112345678"


def graph_error(response: httpx.Response, code: int) -> dict[str, Any]:
    """Assert a Graph error envelope with the table's code and HTTP status; return it."""
    body = response.json()
    assert "error" in body, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert response.status_code == CLOUD_ERRORS[code].http_status
    assert error["message"] == f"(#{code}) {CLOUD_ERRORS[code].title}"
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return error


def test_text_send_inside_window_is_accepted_and_recorded(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    cloud.inbound(USER, "hello")
    request = text_send("+49 151 12345678")
    response = api.post("/messages", json=request)
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+49 151 12345678", "wa_id": USER}]
    message_id = body["messages"][0]["id"]
    assert message_id.startswith("wamid.") and len(message_id) > 40
    outbox = cloud.outbox()
    assert [{k: m[k] for k in ("id", "to", "body")} for m in outbox] == [
        {"id": message_id, "to": "+49 151 12345678", "body": request}
    ]
    assert abs(outbox[0]["at"] - time.time()) < 60


def test_a_bsuid_is_accepted_in_recipient_and_refused_in_to(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    bsuid = "US.13491208655302741918"
    cloud.configure(open_windows=True)
    request = {"messaging_product": "whatsapp", "recipient": bsuid, "type": "text",
               "text": {"body": "hi"}}
    response = api.post("/messages", json=request)
    assert response.status_code == 200, response.text
    assert response.json()["contacts"] == [{"input": bsuid, "user_id": bsuid}]
    in_to = api.post("/messages", json=text_send(bsuid))
    assert "valid phone number" in graph_error(in_to, 100)["message"] + in_to.text
    bad = api.post("/messages", json={**request, "recipient": "not a bsuid"})
    graph_error(bad, 100)


@pytest.mark.parametrize(
    "example",
    [
        "cloud-send-text",
        "cloud-send-location",
        "cloud-send-contacts",
        "cloud-send-reaction",
        "cloud-send-reply-context",
        "cloud-send-interactive-button",
        "cloud-send-interactive-list",
        "cloud-send-interactive-cta-url",
        "cloud-send-interactive-product",
    ],
)
def test_published_cloud_examples_are_accepted(
    cloud: RunningSandbox, api: httpx.Client, example: str
) -> None:
    request = load_example(example)
    if not any(ch.isdigit() for ch in request["to"]):  # "PHONE_NUMBER" placeholders
        request["to"] = USER
    cloud.configure(open_windows=True)
    response = api.post("/messages", json=request)
    assert response.status_code == 200, response.json()
    assert cloud.outbox()[0]["body"] == request


def test_messaging_product_is_required(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.inbound(USER, "hello")
    request = text_send()
    del request["messaging_product"]
    error = graph_error(api.post("/messages", json=request), 100)
    assert "messaging_product" in error["error_data"]["details"]
    assert cloud.outbox() == []


def test_messaging_product_must_be_whatsapp(cloud: RunningSandbox, api: httpx.Client) -> None:
    error = graph_error(api.post("/messages", json=text_send(messaging_product="sms")), 100)
    assert "messaging_product" in error["error_data"]["details"]


def test_free_form_outside_window_is_131047(cloud: RunningSandbox, api: httpx.Client) -> None:
    error = graph_error(api.post("/messages", json=text_send()), 131047)
    assert "24 hours" in error["error_data"]["details"]
    assert cloud.outbox() == []


def test_window_closes_after_24_hours(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.inbound(USER, "old message", timestamp=time.time() - 25 * 3600)
    graph_error(api.post("/messages", json=text_send()), 131047)
    cloud.inbound("4915199999999", "recent", timestamp=time.time() - 23 * 3600)
    assert api.post("/messages", json=text_send("4915199999999")).status_code == 200


def test_template_is_allowed_outside_window(cloud: RunningSandbox, api: httpx.Client) -> None:
    request = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    response = api.post("/messages", json=request)
    assert response.status_code == 200
    assert response.json()["messages"][0]["message_status"] == "accepted"
    assert [m["body"] for m in cloud.outbox()] == [request]


def test_open_windows_knob_opens_every_window(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    for n in range(3):
        assert api.post("/messages", json=text_send(f"49151000000{n}")).status_code == 200
    assert len(cloud.outbox()) == 3


def test_unknown_template_is_132001(cloud: RunningSandbox, api: httpx.Client) -> None:
    request = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": {"name": "no_such_template", "language": {"code": "en"}},
    }
    error = graph_error(api.post("/messages", json=request), 132001)
    assert "no_such_template" in error["error_data"]["details"]


def test_template_in_unknown_language_or_not_approved_is_132001(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    for name, code in (("hello_world", "de"), ("seasonal_promo", "en")):
        request = {
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "template",
            "template": {"name": name, "language": {"code": code}},
        }
        graph_error(api.post("/messages", json=request), 132001)


def test_template_parameter_count_mismatch_is_132000(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    def send(body_params: list[str]) -> httpx.Response:
        return api.post(
            "/messages",
            json={
                "messaging_product": "whatsapp",
                "to": USER,
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "en"},
                    "components": [
                        {"type": "header", "parameters": [{"type": "text", "text": "42"}]},
                        {
                            "type": "body",
                            "parameters": [{"type": "text", "text": t} for t in body_params],
                        },
                    ],
                },
            },
        )

    error = graph_error(send(["Ann"]), 132000)
    assert "expected 2" in error["error_data"]["details"]
    assert send(["Ann", "42"]).status_code == 200


def test_pair_rate_limit_is_131056_when_enabled(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True, pair_rate_limit={"burst": 2, "interval_s": 60})
    assert api.post("/messages", json=text_send()).status_code == 200
    assert api.post("/messages", json=text_send()).status_code == 200
    graph_error(api.post("/messages", json=text_send()), 131056)
    # the limit is per pair: another user is unaffected
    assert api.post("/messages", json=text_send("4915100000001")).status_code == 200
    assert len(cloud.outbox()) == 3


def test_throughput_limit_is_130429_beyond_the_rate(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    cloud.configure(open_windows=True, throughput_mps=1)  # one send, then one per second
    started = time.monotonic()
    answers = [api.post("/messages", json=text_send("4915100000000"))]
    while answers[-1].status_code == 200:
        assert time.monotonic() - started < 10, "never limited"
        answers.append(api.post("/messages", json=text_send(f"49151000{len(answers):05d}")))
    elapsed = time.monotonic() - started
    graph_error(answers[-1], 130429)
    accepted = len(answers) - 1
    assert 1 <= accepted <= 1 + elapsed * 1 and len(cloud.outbox()) == accepted
    deadline = time.monotonic() + 10
    while api.post("/messages", json=text_send("4915100000099")).status_code != 200:
        assert time.monotonic() < deadline, "the bucket never refilled"
    with httpx.Client(base_url=cloud.base_url, trust_env=False) as control:
        refused = control.post("/_sandbox/config", json={"throughput_mps": 0})
    assert refused.status_code == 400 and "throughput_mps" in refused.text


def test_pair_rate_limit_is_off_by_default(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    for _ in range(50):
        assert api.post("/messages", json=text_send()).status_code == 200


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ([text_send()], "JSON object"),
        ({**text_send(), "text": "hi"}, "text"),
        ({**text_send(), "text": {"body": 5}}, "text['body']"),
        ({**text_send(), "text": {"body": "x" * 4097}}, "text['body']"),
        ({**text_send(), "type": "carrier_pigeon"}, "type"),
        ({k: v for k, v in text_send().items() if k != "to"}, "to"),
        ({**text_send(), "to": "abc"}, "to"),
        ({**text_send(), "recipient_type": "group"}, "recipient_type"),
        ({**text_send(), "type": "image", "image": {}}, "image"),
        ({**text_send(), "type": "image", "image": {"link": "ftp://x"}}, "image['link']"),
        ({**text_send(), "type": "location", "location": {"latitude": 1}}, "longitude"),
        ({**text_send(), "type": "contacts", "contacts": [{"name": {}}]}, "formatted_name"),
        ({**text_send(), "type": "interactive", "interactive": {"type": "x"}}, "interactive"),
        ({**text_send(), "type": "reaction", "reaction": {"emoji": "x"}}, "message_id"),
        ({**text_send(), "type": "template", "template": {"name": "x"}}, "language"),
        ({**text_send(), "context": {"id": "x"}}, "context['message_id']"),
        ({**text_send(), "biz_opaque_callback_data": "x" * 513}, "biz_opaque_callback_data"),
    ],
)
def test_bad_input_is_100_naming_the_field(
    cloud: RunningSandbox, api: httpx.Client, request_body: Any, field: str
) -> None:
    cloud.configure(open_windows=True)
    error = graph_error(api.post("/messages", json=request_body), 100)
    assert field in error["error_data"]["details"]
    assert cloud.outbox() == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"null"])
def test_malformed_body_is_100_not_500(api: httpx.Client, raw: bytes) -> None:
    response = api.post("/messages", content=raw, headers={"Content-Type": "application/json"})
    error = graph_error(response, 100)
    assert "body" in error["error_data"]["details"] or "JSON" in error["error_data"]["details"]


def test_mark_read_and_typing_indicator(cloud: RunningSandbox, api: httpx.Client) -> None:
    inbound_id = cloud.inbound(USER, "hello")["id"]
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound_id}
    assert api.post("/messages", json=body).json() == {"success": True}
    typing = {**body, "typing_indicator": {"type": "text"}}
    assert api.post("/messages", json=typing).json() == {"success": True}
    assert cloud.outbox() == []


def test_mark_read_of_unknown_message_is_131009(api: httpx.Client) -> None:
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"}
    error = graph_error(api.post("/messages", json=body), 131009)
    assert "message_id" in error["error_data"]["details"]


def test_mark_read_needs_messaging_product(cloud: RunningSandbox, api: httpx.Client) -> None:
    inbound_id = cloud.inbound(USER, "hello")["id"]
    graph_error(api.post("/messages", json={"status": "read", "message_id": inbound_id}), 100)


def test_unknown_path_and_wrong_method_get_graph_errors(api: httpx.Client) -> None:
    graph_error_404 = api.post("/no/such/path/here", json={})
    assert graph_error_404.status_code == 404
    assert graph_error_404.json()["error"]["code"] == 100
    wrong_method = api.put("/messages", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == 100


def test_published_error_example_shape_matches(cloud: RunningSandbox, api: httpx.Client) -> None:
    expected = load_example("cloud-error-131047")["error"]
    actual = graph_error(api.post("/messages", json=text_send()), 131047)
    assert set(expected) == set(actual)
    assert actual["error_data"] == expected["error_data"]
