"""Settings, webhook-config and action responses in On-Prem shape, checked exactly."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.response import health_as_ha, translate_response
from shim.translate.types import JSON

META = {"api_status": "stable", "version": "cloud-api"}
FAILED = {
    "errors": [
        {
            "code": 1000,
            "title": "Generic error",
            "details": 'unexpected response from the backend (HTTP 200): {"success": false}',
        }
    ],
    "meta": {**META, "cloud_body": {"success": False}},
}


def answer(method: str, path: str, body: JSON, target: str) -> tuple[int, JSON]:
    out = translate_response(method, path, 200, body, target=target)
    return out.status, out.body


def settings(webhooks: dict[str, Any]) -> dict[str, Any]:
    return {"settings": {"application": {"webhooks": webhooks}}, "meta": META}


@pytest.mark.parametrize(
    ("body", "target", "webhooks"),
    [
        (
            {"webhook_configuration": {"phone_number": "https://p", "application": "https://a"}},
            "meta",
            {"url": "https://p"},
        ),
        (
            {
                "webhook_configuration": {
                    "whatsapp_business_account": "https://w",
                    "application": "https://a",
                }
            },
            "meta",
            {"url": "https://w"},
        ),
        ({"webhook_configuration": {"application": "https://a"}}, "meta", {"url": "https://a"}),
        ({}, "meta", {}),
        ({"url": "https://d"}, "360dialog", {"url": "https://d"}),
        ({"url": ""}, "360dialog", {}),
    ],
)
def test_application_settings_report_the_most_specific_webhook_url(
    body: JSON, target: str, webhooks: dict[str, Any]
) -> None:
    assert answer("GET", "/v1/settings/application", body, target) == (200, settings(webhooks))


def test_the_webhook_config_is_the_url_cloud_uses() -> None:
    body = {"webhook_configuration": {"application": "https://a"}}
    assert answer("GET", "/v1/configs/webhook", body, "meta") == (200, {"url": "https://a"})
    assert answer("GET", "/v1/configs/webhook", {}, "meta") == (200, {})
    same = {"url": "https://d", "headers": {}}
    assert answer("GET", "/v1/configs/webhook", same, "360dialog") == (200, same)


@pytest.mark.parametrize("body", [{"success": True}, None, {}])
def test_saved_application_settings_answer_the_on_prem_meta(body: JSON) -> None:
    assert answer("PATCH", "/v1/settings/application", body, "meta") == (200, {"meta": META})


@pytest.mark.parametrize(
    ("path", "method"), [("/v1/settings/application", "PATCH"), ("/v1/configs/webhook", "POST")]
)
def test_success_false_is_an_error(path: str, method: str) -> None:
    assert answer(method, path, {"success": False}, "meta") == (500, FAILED)


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"success": True}, {}), ({}, {}), ({"url": "x"}, {"url": "x"}), ([1], [1])],
)
def test_cloud_action_answers_become_an_empty_object(body: JSON, expected: JSON) -> None:
    assert answer("POST", "/v1/configs/webhook", body, "360dialog") == (200, expected)


def test_media_info_passes_through_with_the_two_step_warning() -> None:
    out = translate_response("GET", "/v1/media/123", 200, {"url": "https://x"}, target="meta")
    assert (out.status, out.body) == (200, {"url": "https://x"})
    assert [(w.code, w.path, w.message) for w in out.warnings] == [
        (
            "W401",
            "$.url",
            "On-Prem answered with the bytes; fetch them from url (see media_download_url)",
        )
    ]


def test_health_as_ha_nests_the_one_node() -> None:
    single = {"health": {"gateway_status": "connected"}, "meta": 1}
    assert health_as_ha(single) == {
        "health": {
            "cloud-api:waba-migrate": {"gateway_status": "connected", "role": "primary_master"}
        },
        "meta": 1,
    }
    assert health_as_ha({"health": 1}) == {"health": 1}
    assert health_as_ha([1]) == [1]
