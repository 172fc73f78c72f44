"""Requests for an On-Prem backend (kept as sent) and webhook settings, checked exactly."""

from __future__ import annotations

from typing import Any

import pytest

from shim.mapping.endpoints import Body, match_unsupported
from shim.translate.request import translate_request
from shim.translate.types import (
    JSON,
    CloudRequest,
    TranslationError,
    UnsupportedEndpointError,
)


def onprem(method: str, path: str, body: JSON = None) -> tuple[Any, ...]:
    result = translate_request(method, path, body, target="onprem")
    assert isinstance(result, CloudRequest)
    return result.endpoint, result.method, result.path_with_query, result.body, result.body_kind


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "POST",
            "/v1/messages",
            {"to": "4"},
            ("send_message", "POST", "/v1/messages", {"to": "4"}, Body.JSON),
        ),
        (
            "get",
            "/v1/configs/templates?limit=2",
            None,
            ("list_templates", "GET", "/v1/configs/templates?limit=2", None, Body.NONE),
        ),
        (
            "PUT",
            "/v1/messages/w1",
            {"status": "read"},
            ("mark_read", "PUT", "/v1/messages/w1", {"status": "read"}, Body.JSON),
        ),
        (
            "post",
            "/v1/custom/x?y=1",
            {"a": 1},
            ("passthrough", "POST", "/v1/custom/x?y=1", {"a": 1}, Body.JSON),
        ),
        (
            "POST",
            "/v1/settings/profile/photo",
            None,
            ("passthrough", "POST", "/v1/settings/profile/photo", None, Body.JSON),
        ),
    ],
)
def test_an_onprem_backend_gets_the_call_as_sent(
    method: str, path: str, body: JSON, expected: tuple[Any, ...]
) -> None:
    assert onprem(method, path, body) == expected


@pytest.mark.parametrize("target", ["meta", "onprem"])
def test_a_path_outside_v1_is_unknown(target: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("get", "/v2/nothing", target=target, phone_number_id="7")
    assert (info.value.status, info.value.path, str(info.value)) == (
        404,
        "/v2/nothing",
        "/v2/nothing: GET /v2/nothing is not an On-Premise API v1 endpoint",
    )


def test_a_photo_upload_is_unsupported_on_cloud_and_says_what_to_do() -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("POST", "/v1/settings/profile/photo", target="meta", phone_number_id="7")
    assert (info.value.status, info.value.path, str(info.value)) == (
        501,
        "/v1/settings/profile/photo",
        "/v1/settings/profile/photo: Cloud sets the photo from a Resumable Upload handle "
        "(profile_picture_handle). Instead: Upload with Meta's Resumable Upload API, then POST "
        "the handle to the business profile.",
    )


def test_a_meta_webhook_override_drops_headers_with_a_warning() -> None:
    body = {"url": "https://h", "headers": {"a": "b"}}
    result = translate_request(
        "POST", "/v1/configs/webhook", body, target="meta", phone_number_id="7", verify_token="v"
    )
    assert isinstance(result, CloudRequest)
    assert (result.method, result.path_with_query, result.body) == (
        "POST",
        "/7",
        {"webhook_configuration": {"override_callback_uri": "https://h", "verify_token": "v"}},
    )
    assert [(w.code, w.path, w.message) for w in result.warnings] == [
        (
            "W303",
            "$.headers",
            "Meta webhooks cannot carry custom headers; verify X-Hub-Signature-256 instead",
        )
    ]
    same = translate_request("POST", "/v1/configs/webhook", body, target="360dialog")
    assert isinstance(same, CloudRequest)
    assert (same.path_with_query, same.body, same.warnings) == ("/v1/configs/webhook", body, [])


@pytest.mark.parametrize(
    ("body", "token", "where", "message"),
    [
        (
            {"url": "https://h"},
            None,
            "verify_token",
            "Meta's per-number webhook override needs a verify token: set verify_token for the "
            "channel",
        ),
        ({}, "v", "$.url", "required field is missing"),
        ({"url": 3}, "v", "$.url", "expected a string, got integer"),
    ],
)
def test_a_bad_webhook_setting_names_the_field(
    body: JSON, token: str | None, where: str, message: str
) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request(
            "POST",
            "/v1/configs/webhook",
            body,
            target="meta",
            phone_number_id="7",
            verify_token=token,
        )
    assert (info.value.path, str(info.value)) == (where, f"{where}: {message}")


@pytest.mark.parametrize("body", [None, {}])
def test_mark_read_without_a_body_marks_read(body: JSON) -> None:
    result = translate_request("PUT", "/v1/messages/w1", body, target="360dialog")
    assert isinstance(result, CloudRequest)
    assert (result.method, result.path, result.body) == (
        "POST",
        "/messages",
        {"messaging_product": "whatsapp", "status": "read", "message_id": "w1"},
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1//custom//x?a=1//2", "/v1/custom/x?a=1//2"),
        ("/v1//configs//templates?a=1//2", "/v1/configs/templates?a=1//2"),
    ],
)
def test_an_onprem_backend_gets_repeated_slashes_collapsed_in_the_path_only(
    path: str, expected: str
) -> None:
    result = translate_request("GET", path, target="onprem")
    assert isinstance(result, CloudRequest)
    assert result.path_with_query == expected


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_an_unsupported_refusal_carries_the_table_entry_for_the_callers_own_advice(
    method: str,
) -> None:
    with pytest.raises(UnsupportedEndpointError) as info:
        translate_request(method, "/v1/settings/profile/photo", target="meta",
                          phone_number_id="7")
    entry = info.value.unsupported
    assert entry is match_unsupported(method, "/v1/settings/profile/photo")
    assert method in entry.methods and entry.onprem_path == "/v1/settings/profile/photo"
    assert str(info.value).endswith(f"Instead: {entry.instead}")


PHOTO_BYTES_ADVICE = (
    "Without ?format=link On-Premise answers the image bytes; Cloud only exposes a URL "
    "(profile_picture_url). Instead: Ask with GET /v1/settings/profile/photo?format=link and "
    "download the link."
)


@pytest.mark.parametrize("target", ["360dialog", "meta"])
@pytest.mark.parametrize("query", ["", "?format=bytes", "?format=LINK", "?link=format",
                                   "?format=link2"])
def test_the_profile_photo_without_format_link_is_refused_not_answered_as_json(
    target: str, query: str
) -> None:
    path = "/v1/settings/profile/photo"
    with pytest.raises(UnsupportedEndpointError) as info:
        translate_request("GET", path + query, target=target, phone_number_id="7")
    assert (info.value.status, info.value.path) == (501, path)
    assert str(info.value) == f"{path}: {PHOTO_BYTES_ADVICE}"


@pytest.mark.parametrize(("target", "cloud_path"), [
    ("360dialog", "/whatsapp_business_profile"),
    ("meta", "/7/whatsapp_business_profile"),
])
@pytest.mark.parametrize("query", ["?format=link", "?x=1&format=link"])
def test_the_profile_photo_with_format_link_reads_the_picture_url(
    target: str, cloud_path: str, query: str
) -> None:
    result = translate_request("GET", "/v1/settings/profile/photo" + query, target=target,
                               phone_number_id="7")
    assert isinstance(result, CloudRequest)
    assert (result.method, result.path, dict(result.query)) == (
        "GET", cloud_path, {"fields": "profile_picture_url"})


def test_the_profile_photo_bytes_still_pass_through_to_an_onprem_node() -> None:
    result = translate_request("GET", "/v1/settings/profile/photo", target="onprem")
    assert isinstance(result, CloudRequest)
    assert (result.method, result.path_with_query) == ("GET", "/v1/settings/profile/photo")
