"""Property tests: valid On-Prem input always yields valid Cloud output; any JSON
only ever raises TranslationError."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.models import parse_cloud_send, parse_onprem_webhook
from shim.translate import (
    CloudRequest,
    TranslationError,
    translate_error,
    translate_request,
    translate_response,
    translate_webhook,
)
from shim.translate.request import translate_send_body
from tests.strategies import cloud_webhook_bodies, hostile_json, mutated, onprem_send_requests

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "to",
                    "type",
                    "text",
                    "image",
                    "hsm",
                    "template",
                    "entry",
                    "changes",
                    "value",
                    "field",
                    "messages",
                    "statuses",
                    "errors",
                    "error",
                    "code",
                    "meta",
                    "id",
                    "status",
                    "preview_url",
                    "body",
                    "x",
                ]
            )
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(
    st.one_of(onprem_send_requests(media_ids="cloud"), onprem_send_requests(media_ids="link")),
    st.sampled_from(["360dialog", "meta"]),
)
def test_valid_onprem_request_translates_to_valid_cloud_request(
    body: dict[str, Any], target: str
) -> None:
    result = translate_request(
        "POST", "/v1/messages", body, target=target, phone_number_id="1234567890"
    )
    assert isinstance(result, CloudRequest)
    parse_cloud_send(result.body)  # raises ValidationError if not a valid Cloud send


@SETTINGS
@given(onprem_send_requests(media_ids="onprem"))
def test_onprem_media_ids_are_refused_by_field_never_sent(body: dict[str, Any]) -> None:
    try:
        result = translate_request("POST", "/v1/messages", body, target="360dialog")
    except TranslationError as exc:
        # The one refusal a valid On-Prem request can meet: an On-Prem media id.
        assert exc.path.endswith(".id") and "On-Premise media id" in exc.reason
        return
    parse_cloud_send(result.body)


@SETTINGS
@given(onprem_send_requests())
def test_translation_is_idempotent(body: dict[str, Any]) -> None:
    try:
        once = translate_send_body(body)
    except TranslationError:
        return
    assert translate_send_body(once) == once


@SETTINGS
@given(cloud_webhook_bodies())
def test_cloud_webhooks_lose_no_item_and_give_valid_onprem_bodies(body: dict[str, Any]) -> None:
    result = translate_webhook(body)
    changes = [c for e in body["entry"] for c in e["changes"]]
    messages_changes = [c for c in changes if c.get("field") == "messages"]
    assert len(result.bodies) == len(messages_changes)
    assert len(result.other) == len(changes) - len(messages_changes)
    for item, change in zip(result.bodies, messages_changes, strict=True):
        value = change["value"]
        for key in ("messages", "statuses", "errors", "contacts"):
            assert len(item.body.get(key, [])) == len(value.get(key, []))
        assert [m["id"] for m in item.body.get("messages", [])] == [
            m["id"] for m in value.get("messages", [])
        ]
        parse_onprem_webhook(item.body)


@SETTINGS
@given(json_values)
def test_arbitrary_json_only_raises_translation_error(value: Any) -> None:
    for call in (
        lambda: translate_request("POST", "/v1/messages", value, target="360dialog"),
        lambda: translate_request(
            "PUT", "/v1/messages/x", value, target="meta", phone_number_id="1"
        ),
        lambda: translate_request(
            "POST",
            "/v1/configs/webhook",
            value,
            target="meta",
            phone_number_id="1",
            verify_token="t",
        ),
        lambda: translate_request("POST", "/v1/contacts", value, target="360dialog"),
        lambda: translate_webhook(value),
        lambda: translate_response("POST", "/v1/messages", 200, value, target="360dialog"),
        lambda: translate_response("GET", "/v1/health", 200, value, target="meta"),
        lambda: translate_response(
            "GET", "/v1/settings/business/profile", 200, value, target="meta"
        ),
        lambda: translate_response("GET", "/v1/configs/templates", 200, value, target="meta"),
        lambda: translate_response("POST", "/v1/media", 200, value, target="meta"),
    ):
        try:
            call()
        except TranslationError as exc:
            assert exc.path and exc.reason


@SETTINGS
@given(st.integers(100, 599), json_values)
def test_translate_error_never_raises(status: int, value: Any) -> None:
    out = translate_error(status, value)
    assert isinstance(out.body, dict)


def _only_translation_errors(*calls: Any) -> None:
    for call in calls:
        try:
            call()
        except TranslationError as exc:
            assert exc.path and exc.reason


@SETTINGS
@given(
    st.one_of(hostile_json(), mutated(onprem_send_requests(media_ids="cloud"))),
    st.sampled_from(["360dialog", "meta"]),
)
def test_hostile_sends_only_raise_translation_error(value: Any, target: str) -> None:
    _only_translation_errors(
        lambda: translate_request("POST", "/v1/messages", value, target=target,
                                  phone_number_id="1"),
        lambda: translate_send_body(value),
    )


@SETTINGS
@given(st.one_of(hostile_json(), mutated(cloud_webhook_bodies())))
def test_hostile_webhooks_and_responses_only_raise_translation_error(value: Any) -> None:
    _only_translation_errors(
        lambda: translate_webhook(value),
        lambda: translate_response("POST", "/v1/messages", 200, value, target="meta"),
        lambda: translate_response("GET", "/v1/health", 200, value, target="360dialog"),
        lambda: translate_response("GET", "/v1/media/1", 200, value, target="meta"),
        lambda: translate_error(400, value),
    )


@SETTINGS
@given(hostile_json().map(lambda v: v if isinstance(v, str) else str(v)[:200]),
       st.sampled_from(["GET /v1/media/{}", "DELETE /v1/media/{}", "PUT /v1/messages/{}",
                        "DELETE /v1/configs/templates/{}", "GET /v1/{}"]),
       st.sampled_from(["360dialog", "meta", "onprem"]))
def test_hostile_path_parameters_only_raise_translation_error(
    value: str, template: str, target: str
) -> None:
    method, _, path = template.partition(" ")
    try:
        result = translate_request(method, path.format(value), {"status": "read"},
                                   target=target, phone_number_id="1", waba_id="2")
    except TranslationError:
        return
    if isinstance(result, CloudRequest):
        # Whatever got through has no fragment, dot segment or control character.
        path_only = result.path.partition("?")[0]
        assert "#" not in result.path and "\x00" not in result.path
        assert not {".", ".."} & set(unquote(path_only).split("/"))
        if result.endpoint != "passthrough":
            assert "?" not in path_only and path_only.isascii()
