"""Locally answered endpoints, send-level fields and small responses: exact results and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.request import translate_request
from shim.translate.response import translate_response
from shim.translate.types import JSON, CloudRequest, OnPremResponse, TranslationError

TEXT: dict[str, Any] = {"to": "4", "type": "text", "text": {"body": "b"}}
CONTACTS_WARNING = (
    "W301",
    "$.contacts",
    "Cloud has no contacts check; answered locally (status valid, wa_id = digits). "
    "Undeliverable numbers surface later as error 131026.",
)


def refusal(method: str, path: str, body: JSON, **kw: Any) -> tuple[int, str, str]:
    with pytest.raises(TranslationError) as info:
        translate_request(method, path, body, target="meta", phone_number_id="7", **kw)
    return info.value.status, info.value.path, str(info.value)


def sent(body: JSON) -> tuple[JSON, list[tuple[str, str, str]]]:
    result = translate_request("POST", "/v1/messages", body, target="meta", phone_number_id="7")
    assert isinstance(result, CloudRequest)
    return result.body, [(w.code, w.path, w.message) for w in result.warnings]


def test_contacts_are_answered_locally_digit_by_digit() -> None:
    body = {"contacts": ["+49 151", "abc"]}
    result = translate_request("POST", "/v1/contacts", body, target="meta", phone_number_id="7")
    assert isinstance(result, OnPremResponse)
    assert (result.status, result.body) == (
        200,
        {
            "contacts": [
                {"input": "+49 151", "status": "valid", "wa_id": "49151"},
                {"input": "abc", "status": "invalid"},
            ]
        },
    )
    assert [(w.code, w.path, w.message) for w in result.warnings] == [CONTACTS_WARNING]


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ([1], "$", "expected a JSON object, got array"),
        ({}, "$.contacts", "required field is missing"),
        ({"contacts": 3}, "$.contacts", "expected a JSON array, got integer"),
        ({"contacts": [3]}, "$.contacts[0]", "expected a string, got integer"),
        ({"contacts": [None]}, "$.contacts[0]", "expected a string, got null"),
    ],
)
def test_a_bad_contacts_check_names_the_field(body: JSON, where: str, message: str) -> None:
    assert refusal("POST", "/v1/contacts", body) == (400, where, f"{where}: {message}")


def test_the_phone_number_comes_from_the_channel() -> None:
    result = translate_request(
        "GET", "/v1/configs/phone_number", target="meta", phone_number_id="7", phone_number="+4915"
    )
    assert isinstance(result, OnPremResponse)
    assert (result.status, result.body) == (200, {"phone_number": "+4915"})
    assert refusal("GET", "/v1/configs/phone_number", None) == (
        400,
        "phone_number",
        "phone_number: the channel has no phone_number configured",
    )


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        (
            {"recipient_type": "group"},
            "$.recipient_type",
            'The legacy On-Prem groups API (recipient_type "group") has no Cloud equivalent; '
            "Cloud's Groups API is different.",
        ),
        ({"recipient_type": "team"}, "$.recipient_type", "expected \"individual\", got 'team'"),
        ({"preview_url": "yes"}, "$.preview_url", "expected a boolean, got string"),
        ({"context": 3}, "$.context", "expected a JSON object, got integer"),
    ],
)
def test_bad_send_fields_name_the_field(extra: dict[str, Any], where: str, message: str) -> None:
    assert refusal("POST", "/v1/messages", {**TEXT, **extra}) == (400, where, f"{where}: {message}")


def test_preview_url_outside_text_is_dropped_with_a_warning() -> None:
    body, warnings = sent(
        {"to": "4", "type": "image", "image": {"link": "https://h"}, "preview_url": True}
    )
    assert body == {
        "messaging_product": "whatsapp",
        "to": "4",
        "type": "image",
        "image": {"link": "https://h"},
        "recipient_type": "individual",
    }
    assert warnings == [
        ("W107", "$.preview_url", "preview_url only applies to text messages; dropped")
    ]


def test_a_reply_context_id_becomes_message_id_unless_both_are_given() -> None:
    body, _ = sent({**TEXT, "context": {"id": "w1"}})
    assert isinstance(body, dict) and body["context"] == {"message_id": "w1"}
    body, _ = sent({**TEXT, "context": {"id": "w1", "message_id": "w2"}})
    assert isinstance(body, dict) and body["context"] == {"id": "w1", "message_id": "w2"}


@pytest.mark.parametrize(
    ("path", "target", "body", "expected"),
    [
        ("/v1/media", "meta", {"id": "m1"}, {"media": [{"id": "m1"}]}),
        (
            "/v1/configs/templates",
            "meta",
            {"data": [{"name": "a"}]},
            {
                "count": 1,
                "filters": {},
                "limit": 1,
                "offset": 0,
                "sort": [],
                "total": 1,
                "waba_templates": [{"name": "a"}],
            },
        ),
        (
            "/v1/configs/templates",
            "meta",
            {},
            {
                "count": 0,
                "filters": {},
                "limit": 0,
                "offset": 0,
                "sort": [],
                "total": 0,
                "waba_templates": [],
            },
        ),
        ("/v1/configs/templates", "meta", {"waba_templates": [1]}, {"waba_templates": [1]}),
        (
            "/v1/configs/templates",
            "360dialog",
            {"data": [{"name": "a"}]},
            {"data": [{"name": "a"}]},
        ),
        (
            "/v1/settings/profile/about",
            "meta",
            {"data": [], "about": "top"},
            {"settings": {"profile": {"about": {"text": "top"}}}},
        ),
    ],
)
def test_small_responses(path: str, target: str, body: JSON, expected: JSON) -> None:
    method = "POST" if path == "/v1/media" else "GET"
    out = translate_response(method, path, 200, body, target=target)
    assert (out.status, out.body) == (200, expected)


@pytest.mark.parametrize(
    ("path", "body", "where", "message"),
    [
        ("/v1/media", [1], "$", "expected a JSON object, got array"),
        ("/v1/media", {}, "$.id", "required field is missing"),
        ("/v1/media", {"id": 3}, "$.id", "expected a string, got integer"),
        ("/v1/configs/templates", {"data": 3}, "$.data", "expected a JSON array"),
        ("/v1/configs/templates", [1], "$", "expected a JSON object, got array"),
        (
            "/v1/settings/profile/about",
            {"data": [3]},
            "$.data[0]",
            "expected a JSON object, got integer",
        ),
        ("/v1/settings/profile/about", [1], "$", "expected a JSON object, got array"),
    ],
)
def test_bad_responses_name_the_field(path: str, body: JSON, where: str, message: str) -> None:
    method = "POST" if path == "/v1/media" else "GET"
    with pytest.raises(TranslationError) as info:
        translate_response(method, path, 200, body, target="meta")
    assert (info.value.path, str(info.value)) == (where, f"{where}: {message}")
