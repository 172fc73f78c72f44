"""One document per call, as ``waba-migrate translate`` reads them: defaults and located errors."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.documents import translate_document
from shim.translate.types import JSON, MissingFieldError, TranslationError

TEXT = {"to": "49", "type": "text", "text": {"body": "hi"}}
CLOUD_TEXT = {
    "messaging_product": "whatsapp",
    "to": "49",
    "type": "text",
    "text": {"body": "hi"},
    "recipient_type": "individual",
}


def warnings_of(kind: Any, doc: JSON, **kw: Any) -> tuple[JSON, list[tuple[str, str, str]]]:
    out, warnings = translate_document(kind, doc, **kw)
    return out, [(w.code, w.path, w.message) for w in warnings]


def test_a_request_without_method_is_a_post() -> None:
    doc = {"path": "/v1/messages", "body": TEXT}
    assert warnings_of("request", doc, target="360dialog") == (
        {"method": "POST", "path": "/messages", "body": CLOUD_TEXT},
        [],
    )


def test_a_meta_request_without_phone_number_id_gets_a_placeholder_and_a_warning() -> None:
    out, warnings = warnings_of("request", {"path": "/v1/messages", "body": TEXT}, target="meta")
    assert out == {"method": "POST", "path": "/%7Bphone-number-id%7D/messages", "body": CLOUD_TEXT}
    assert warnings == [
        ("W001", "$.path", "no phone-number id given; the Meta path holds a placeholder")
    ]
    out, warnings = warnings_of(
        "request", {"path": "/v1/messages", "body": TEXT}, target="meta", phone_number_id="77"
    )
    assert out == {"method": "POST", "path": "/77/messages", "body": CLOUD_TEXT}
    assert warnings == []


def test_the_waba_id_of_the_document_fills_the_path() -> None:
    doc = {"method": "GET", "path": "/v1/configs/templates", "waba_id": "555"}
    assert warnings_of("request", doc, target="meta", phone_number_id="77") == (
        {"method": "GET", "path": "/555/message_templates", "body": None},
        [],
    )
    with pytest.raises(MissingFieldError) as info:
        translate_document("request", {**doc, "waba_id": None}, target="meta", phone_number_id="7")
    assert info.value.path == "waba_id"


def test_a_locally_answered_request_is_marked_local() -> None:
    doc = {"method": "POST", "path": "/v1/contacts", "body": {"contacts": ["+4915"]}}
    out, warnings = warnings_of("request", doc, target="360dialog")
    assert out == {
        "local": True,
        "status": 200,
        "body": {"contacts": [{"input": "+4915", "status": "valid", "wa_id": "4915"}]},
    }
    assert [(code, path) for code, path, _ in warnings] == [("W301", "$.contacts")]


@pytest.mark.parametrize(
    ("kind", "doc", "path", "message"),
    [
        ("request", [], "$", "expected a JSON object, got array"),
        (
            "request",
            {"method": 1, "path": "/v1/messages"},
            "$.method",
            "expected a string, got integer",
        ),
        ("request", {"path": None}, "$.path", "required field is missing"),
        ("request", {"path": 3}, "$.path", "expected a string, got integer"),
        (
            "response",
            {"path": "/v1/messages", "status": "200"},
            "$.status",
            "expected an integer HTTP status",
        ),
        (
            "response",
            {"path": "/v1/messages", "status": True},
            "$.status",
            "expected an integer HTTP status",
        ),
        ("response", {"path": "/v1/messages"}, "$.status", "required field is missing"),
        ("response", {"status": 200}, "$.path", "required field is missing"),
        ("response", {"path": 3, "status": 200}, "$.path", "expected a string, got integer"),
        (
            "response",
            {"path": "/v1/messages", "status": 200, "method": 5},
            "$.method",
            "expected a string, got integer",
        ),
    ],
)
def test_bad_documents_name_the_field(kind: Any, doc: JSON, path: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_document(kind, doc, target="360dialog")
    assert (info.value.path, str(info.value)) == (path, f"{path}: {message}")


def test_a_response_without_method_takes_the_endpoints_method() -> None:
    body = {"data": [{"about": "hi"}]}
    doc = {"path": "/v1/settings/profile/about", "status": 200, "body": body}
    expected = {"status": 200, "body": {"settings": {"profile": {"about": {"text": "hi"}}}}}
    assert warnings_of("response", doc, target="meta") == (expected, [])
    assert warnings_of("response", {**doc, "method": "GET"}, target="meta") == (expected, [])
    sent = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "49", "wa_id": "49"}],
        "messages": [{"id": "wamid.X"}],
    }
    doc = {"path": "/v1/messages", "status": 200, "body": sent}
    assert warnings_of("response", doc, target="360dialog") == (
        {
            "status": 200,
            "body": {"contacts": [{"input": "49", "wa_id": "49"}], "messages": [{"id": "wamid.X"}]},
        },
        [],
    )
