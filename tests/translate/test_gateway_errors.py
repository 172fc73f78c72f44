"""360dialog gateway errors (meta.httpCode or meta.http_code) in On-Prem shape, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.error import translate_error

BASE_META = {"api_status": "stable", "version": "cloud-api"}


def envelope(code: int, title: str, details: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "errors": [{"code": code, "title": title, "details": details}],
        "meta": {**BASE_META, "gateway_error": meta, "cloud_body": {"meta": meta}},
    }


@pytest.mark.parametrize(
    ("status", "meta", "out_status", "code", "title", "details"),
    [
        # snake_case keys; a 404 is not kept: the On-Prem code's status is used.
        (
            200,
            {"http_code": 404, "developer_message": "no such thing", "success": False},
            404,
            1006,
            "Resource not found",
            "no such thing (360dialog gateway, HTTP 404)",
        ),
        # No code in the body: the response's status stands in; no message is an empty one.
        (503, {"success": False}, 503, 1011, "Service not ready", " (360dialog gateway, HTTP 503)"),
        # A code that is not an integer is ignored in favour of the response's status.
        (
            502,
            {"httpCode": "500", "developerMessage": "x"},
            502,
            1011,
            "Service not ready",
            "x (360dialog gateway, HTTP 502)",
        ),
        # An unmapped code and an unknown message: the fallback code, and its status.
        (
            400,
            {"httpCode": 418, "developerMessage": "odd"},
            500,
            1000,
            "Generic error",
            "odd (360dialog gateway, HTTP 418)",
        ),
        # A message that is not text is written as JSON.
        (
            400,
            {"httpCode": 400, "developerMessage": {"a": 1}},
            400,
            1009,
            "Parameter value is not valid",
            '{"a": 1} (360dialog gateway, HTTP 400)',
        ),
        # camelCase wins over snake_case when both are present.
        (
            400,
            {"httpCode": 401, "http_code": 404, "developerMessage": "A", "developer_message": "B"},
            401,
            1005,
            "Access denied",
            "A (360dialog gateway, HTTP 401)",
        ),
        # The message decides the code before the HTTP code does.
        (
            400,
            {"httpCode": 400, "developerMessage": "Rate LIMIT hit"},
            429,
            1015,
            "Too many requests",
            "Rate LIMIT hit (360dialog gateway, HTTP 400)",
        ),
    ],
)
def test_gateway_error_envelope(
    status: int,
    meta: dict[str, Any],
    out_status: int,
    code: int,
    title: str,
    details: str,
) -> None:
    out = translate_error(status, {"meta": meta})
    assert out.status == out_status
    assert out.body == envelope(code, title, details, meta)
