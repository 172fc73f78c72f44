"""Cloud responses -> On-Prem responses: what passes through untouched, where a
malformed answer is reported, and error statuses for codes the table does not
list, each checked exactly."""

from __future__ import annotations

from typing import Any

import pytest

from shim.mapping.errors import (
    ONPREM_ERRORS,
    TEMPLATE_CLOUD_RANGE,
    TEMPLATE_ONPREM_OFFSET,
    onprem_title,
)
from shim.translate.response import translate_response
from shim.translate.types import JSON, OnPremResponse, TranslationError


def answer(method: str, path: str, status: int, body: JSON, target: str = "meta") -> Any:
    result = translate_response(method, path, status, body, target=target)
    assert isinstance(result, OnPremResponse)
    return result.status, result.body


def refused_at(method: str, path: str, body: JSON) -> tuple[str, str]:
    with pytest.raises(TranslationError) as info:
        translate_response(method, path, 200, body, target="meta")
    return info.value.path, info.value.reason


def test_a_created_template_answer_passes_through_with_its_status() -> None:
    body = {"id": "5942", "status": "PENDING", "category": "UTILITY"}
    assert answer("POST", "/v1/configs/templates", 201, body) == (201, body)


def test_an_answer_for_a_path_no_endpoint_knows_passes_through() -> None:
    body = {"data": [1, 2]}
    assert answer("GET", "/v1/stats/unknown", 202, body) == (202, body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/health", {"health": {"gateway_status": "connected"}}),
        ("POST", "/v1/messages", {"messages": [{"id": "gBEGkY"}], "meta": {"api_status": "ok"}}),
        ("GET", "/v1/configs/webhook", {"url": "https://hooks.example/wa"}),
    ],
)
def test_an_onprem_backends_answer_is_kept_as_sent(method: str, path: str, body: JSON) -> None:
    assert answer(method, path, 200, body, target="onprem") == (200, body)


def test_a_success_status_carrying_a_cloud_error_is_translated_as_the_error() -> None:
    error = {"code": 131026, "message": "Message undeliverable"}
    status, body = answer("POST", "/v1/messages", 200, {"error": error})
    assert status >= 400
    assert [e["code"] for e in body["errors"]] == [1026]
    assert body["meta"]["cloud_error"] == error


def test_a_template_code_the_table_does_not_list_gets_a_400_under_a_success_status() -> None:
    cloud_code = max(TEMPLATE_CLOUD_RANGE)
    onprem_code = cloud_code - TEMPLATE_ONPREM_OFFSET
    assert onprem_code not in ONPREM_ERRORS
    status, body = answer("POST", "/v1/messages", 200,
                          {"error": {"code": cloud_code, "message": "Template problem"}})
    assert status == 400
    assert body["errors"] == [{
        "code": onprem_code, "title": onprem_title(onprem_code),
        "details": f"Template problem (Cloud error {cloud_code}: Template problem)"}]


def test_an_unexpected_error_body_is_quoted_with_its_keys_in_order() -> None:
    status, body = answer("GET", "/v1/health", 502, {"zone": "b", "attempt": [2, 1]})
    assert status == 502
    assert body["errors"][0]["details"] == (
        'unexpected response from the backend (HTTP 502): {"attempt": [2, 1], "zone": "b"}')


def test_cloud_error_details_given_as_objects_are_quoted_with_their_keys_in_order() -> None:
    error = {"code": 131026, "message": "Message undeliverable",
             "error_data": {"details": {"reason": "blocked", "by": "user"}}}
    _, body = answer("POST", "/v1/messages", 400, {"error": error})
    assert body["errors"][0]["details"] == (
        '{"by": "user", "reason": "blocked"} (Cloud error 131026: Message undeliverable)')


@pytest.mark.parametrize(
    ("path", "body", "where", "reason"),
    [
        ("/v1/health", ["ok"], "$", "expected a JSON object, got array"),
        ("/v1/configs/webhook", "https://h", "$", "expected a JSON object, got string"),
        ("/v1/configs/webhook", {"webhook_configuration": ["https://h"]},
         "$.webhook_configuration", "expected a JSON object, got array"),
        ("/v1/settings/application", {"webhook_configuration": "https://h"},
         "$.webhook_configuration", "expected a JSON object, got string"),
    ],
)
def test_a_malformed_cloud_answer_is_reported_at_its_path(
    path: str, body: JSON, where: str, reason: str,
) -> None:
    assert refused_at("GET", path, body) == (where, reason)


def test_an_unexpected_error_body_is_quoted_up_to_200_characters_and_kept_whole() -> None:
    body = {"trace": "x" * 400}
    status, out = answer("GET", "/v1/health", 500, body)
    assert status == 500
    prefix = "unexpected response from the backend (HTTP 500): "
    assert out["errors"][0]["details"] == prefix + ('{"trace": "' + "x" * 400)[:200]
    assert out["meta"]["cloud_body"] == body
