"""Settings, profile, media and interactive-header requests: exact bodies, warnings and refusals."""

from __future__ import annotations

import pytest

from shim.translate.request import translate_request
from shim.translate.response import media_download_url, translate_response
from shim.translate.types import JSON, CloudRequest, OnPremResponse, TranslationError

REFUSED: list[tuple[str, str, JSON, int, str, str]] = [
    ("PATCH", "/v1/settings/profile/about", [1], 400, "$", "expected a JSON object, got array"),
    ("PATCH", "/v1/settings/profile/about", {}, 400, "$.text", "required field is missing"),
    (
        "PATCH",
        "/v1/settings/profile/about",
        {"text": 3},
        400,
        "$.text",
        "expected a string, got integer",
    ),
    ("POST", "/v1/settings/business/profile", [1], 400, "$", "expected a JSON object, got array"),
    (
        "POST",
        "/v1/settings/business/profile",
        {"address": "a", "zzz": 1, "aaa": 2},
        400,
        "$.aaa",
        "not a business profile field; expected one of: address, description, email, vertical, "
        "websites",
    ),
    (
        "PATCH",
        "/v1/settings/application",
        {"webhooks": {"url": 3}},
        400,
        "$.webhooks.url",
        "expected a string, got integer",
    ),
    (
        "PATCH",
        "/v1/settings/application",
        {"webhooks": {"url": "https://h", "headers": 3}},
        400,
        "$.webhooks.headers",
        "expected a JSON object, got integer",
    ),
    (
        "PATCH",
        "/v1/settings/application",
        {"webhooks": 3},
        400,
        "$.webhooks",
        "expected a JSON object, got integer",
    ),
    (
        "POST",
        "/v1/messages",
        {"to": "4", "type": "image", "image": {}},
        400,
        "$.image",
        'needs "id" (an uploaded media id) or "link"',
    ),
    (
        "POST",
        "/v1/messages",
        {"to": "4", "type": "image", "image": {"id": 5}},
        400,
        "$.image.id",
        "expected a string media id, got integer",
    ),
    (
        "POST",
        "/v1/messages",
        {"to": "4", "type": "image", "image": {"id": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"}},
        400,
        "$.image.id",
        "this is an On-Premise media id (UUID); Cloud cannot use it. Upload the file again on "
        "this channel (POST /v1/media) and send the new id",
    ),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": 3,
                "body": {"text": "b"},
                "action": {"buttons": []},
            },
        },
        400,
        "$.interactive.header",
        "expected a JSON object, got integer",
    ),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {},
                "body": {"text": "b"},
                "action": {"buttons": []},
            },
        },
        400,
        "$.interactive.header.type",
        "required field is missing",
    ),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": 3},
                "body": {"text": "b"},
                "action": {"buttons": []},
            },
        },
        400,
        "$.interactive.header.type",
        "expected a string, got integer",
    ),
    (
        "POST",
        "/v1/settings/profile/photo",
        None,
        501,
        "/v1/settings/profile/photo",
        "Cloud sets the photo from a Resumable Upload handle (profile_picture_handle). Instead: "
        "Upload with Meta's Resumable Upload API, then POST the handle to the business profile.",
    ),
]

TRANSLATED: list[tuple[str, str, JSON, object, list[tuple[str, str, str]]]] = [
    (
        "PATCH",
        "/v1/settings/profile/about",
        {"text": "hello"},
        (
            "POST",
            "/7/whatsapp_business_profile",
            {"messaging_product": "whatsapp", "about": "hello"},
        ),
        [],
    ),
    (
        "POST",
        "/v1/settings/business/profile",
        {"address": "a", "email": "e@x"},
        (
            "POST",
            "/7/whatsapp_business_profile",
            {"messaging_product": "whatsapp", "address": "a", "email": "e@x"},
        ),
        [],
    ),
    (
        "PATCH",
        "/v1/settings/application",
        {
            "on_call_pager": "x",
            "webhooks": {"url": "https://h", "max_concurrent_requests": 3},
            "zzz_unknown": 1,
            "callback_persist": None,
        },
        (
            "POST",
            "/7",
            {"webhook_configuration": {"override_callback_uri": "https://h", "verify_token": "v"}},
        ),
        [
            (
                "W304",
                "$.on_call_pager",
                "application setting on_call_pager ignored: Cloud sends no pager alerts; watch "
                "health and status webhooks.",
            ),
            (
                "W304",
                "$.webhooks.max_concurrent_requests",
                "application setting webhooks.max_concurrent_requests ignored: Cloud decides "
                "webhook concurrency itself.",
            ),
            (
                "W304",
                "$.zzz_unknown",
                "application setting zzz_unknown ignored: not an On-Prem setting Cloud knows.",
            ),
            (
                "W304",
                "$.callback_persist",
                "application setting callback_persist ignored: Cloud keeps undelivered webhooks "
                "and retries for up to 7 days.",
            ),
        ],
    ),
    (
        "PATCH",
        "/v1/settings/application",
        {"webhooks": None, "pass_through": True},
        (200, {"meta": {"api_status": "stable", "version": "cloud-api"}}),
        [
            (
                "W304",
                "$.webhooks",
                "application setting webhooks ignored: not an On-Prem setting Cloud knows.",
            ),
            (
                "W304",
                "$.pass_through",
                "application setting pass_through ignored: Cloud stores no messages on a node of "
                "yours.",
            ),
        ],
    ),
    (
        "GET",
        "/v1/configs/templates?limit=5&after=x",
        None,
        ("GET", "/5/message_templates?limit=5&after=x", None),
        [],
    ),
    ("GET", "/v1/configs/templates", None, ("GET", "/5/message_templates", None), []),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "image", "image": {"id": "123", "provider": {"name": "p"}}},
                "body": {"text": "b"},
                "action": {"buttons": []},
            },
        },
        (
            "POST",
            "/7/messages",
            {
                "messaging_product": "whatsapp",
                "to": "4",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "image", "image": {"id": "123"}},
                    "body": {"text": "b"},
                    "action": {"buttons": []},
                },
                "recipient_type": "individual",
            },
        ),
        [
            (
                "W102",
                "$.interactive.header.image.provider",
                "Cloud has no media providers; it fetches link URLs without credentials.",
            )
        ],
    ),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "text", "text": "t"},
                "body": {"text": "b"},
                "action": {"buttons": []},
            },
        },
        (
            "POST",
            "/7/messages",
            {
                "messaging_product": "whatsapp",
                "to": "4",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "text", "text": "t"},
                    "body": {"text": "b"},
                    "action": {"buttons": []},
                },
                "recipient_type": "individual",
            },
        ),
        [],
    ),
    (
        "POST",
        "/v1/messages",
        {
            "to": "4",
            "type": "image",
            "image": {"link": "https://h/i.png", "provider": {"name": "p"}},
        },
        (
            "POST",
            "/7/messages",
            {
                "messaging_product": "whatsapp",
                "to": "4",
                "type": "image",
                "image": {"link": "https://h/i.png"},
                "recipient_type": "individual",
            },
        ),
        [
            (
                "W102",
                "$.image.provider",
                "Cloud has no media providers; it fetches link URLs without credentials.",
            )
        ],
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "where", "message"), REFUSED)
def test_refusals_name_the_field_and_status(
    method: str, path: str, body: JSON, status: int, where: str, message: str
) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request(method, path, body, target="meta", phone_number_id="7", verify_token="v")
    assert (info.value.status, info.value.path, str(info.value)) == (
        status,
        where,
        f"{where}: {message}",
    )


@pytest.mark.parametrize(("method", "path", "body", "expected", "warnings"), TRANSLATED)
def test_requests_are_translated_exactly(
    method: str, path: str, body: JSON, expected: object, warnings: list[tuple[str, str, str]]
) -> None:
    result = translate_request(
        method, path, body, target="meta", phone_number_id="7", waba_id="5", verify_token="v"
    )
    if isinstance(result, CloudRequest):
        assert (result.method, result.path_with_query, result.body) == expected
    else:
        assert isinstance(result, OnPremResponse)
        assert (result.status, result.body) == expected
    assert [(w.code, w.path, w.message) for w in result.warnings] == warnings


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1/settings/profile/about", {}, {"settings": {"profile": {"about": {"text": ""}}}}),
        (
            "/v1/settings/profile/about",
            {"data": [{"about": "hi"}]},
            {"settings": {"profile": {"about": {"text": "hi"}}}},
        ),
        (
            "/v1/settings/profile/photo?format=link",
            {"data": [{"profile_picture_url": "https://p"}]},
            {"settings": {"profile": {"photo": {"link": "https://p"}}}},
        ),
        (
            "/v1/settings/profile/photo?format=link",
            {},
            {"settings": {"profile": {"photo": {"link": None}}}},
        ),
    ],
)
def test_profile_answers_keep_the_status(path: str, body: JSON, expected: JSON) -> None:
    out = translate_response("GET", path, 201, body, target="meta")
    assert (out.status, out.body) == (201, expected)


@pytest.mark.parametrize("target", ["360dialog", "meta"])
def test_a_profile_photo_response_without_format_link_is_refused(target: str) -> None:
    body = {"data": [{"profile_picture_url": "https://p"}]}
    with pytest.raises(TranslationError) as info:
        translate_response("GET", "/v1/settings/profile/photo", 200, body, target=target)
    assert (info.value.status, info.value.path) == (501, "/v1/settings/profile/photo")
    assert "only exposes a URL" in str(info.value)
    kept = translate_response("GET", "/v1/settings/profile/photo", 200, body, target="onprem")
    assert kept.body == body


@pytest.mark.parametrize(
    ("media", "where", "message"),
    [
        ([1], "$", "expected a JSON object, got array"),
        ({}, "$.url", "required field is missing"),
        ({"url": 3}, "$.url", "expected a string, got integer"),
    ],
)
def test_a_bad_media_object_names_the_field(media: JSON, where: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        media_download_url(media, "meta", "https://b")
    assert (info.value.path, str(info.value)) == (where, f"{where}: {message}")
