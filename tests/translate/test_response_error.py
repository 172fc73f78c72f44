"""Cloud -> On-Prem responses and errors, including every error-code mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shim.mapping.errors import (
    CLOUD_ERRORS,
    ERROR_CODE_PAIRS,
    ONPREM_ERRORS,
    cloud_to_onprem_code,
    onprem_to_cloud_code,
)
from shim.translate import (
    TranslationError,
    error_response,
    media_download_url,
    translate_error,
    translate_response,
)
from tests.conftest import load_example


def graph_error(code: int, message: str = "m", details: str | None = "d") -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "Ax",
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def test_send_response_keeps_message_id_position_and_contacts() -> None:
    cloud = load_example("cloud-send-response")
    out = translate_response("POST", "/v1/messages", 200, cloud, target="360dialog")
    assert out.status == 200
    assert out.body["messages"][0]["id"] == cloud["messages"][0]["id"]
    assert out.body["contacts"] == cloud["contacts"]
    assert "messaging_product" not in out.body
    onprem = load_example("onprem-send-response-with-contacts")
    assert set(onprem) <= set(out.body) | {"meta"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/messages/x"),
        ("DELETE", "/v1/media/1"),
        ("PATCH", "/v1/settings/profile/about"),
        ("POST", "/v1/settings/business/profile"),
        ("DELETE", "/v1/configs/templates/t"),
    ],
)
def test_success_true_becomes_empty_object(method: str, path: str) -> None:
    out = translate_response(
        method, path, 200, load_example("cloud-success-response"), target="meta"
    )
    assert (out.status, out.body) == (200, {})


def test_success_false_is_an_error() -> None:
    out = translate_response("PUT", "/v1/messages/x", 200, {"success": False}, target="meta")
    assert out.status >= 400 and out.body["errors"][0]["code"] == 1000


def test_media_upload_response() -> None:
    out = translate_response(
        "POST", "/v1/media", 200, load_example("cloud-media-upload-response"), target="360dialog"
    )
    assert set(out.body) == set(load_example("onprem-media-upload-response"))
    assert out.body["media"][0]["id"] == load_example("cloud-media-upload-response")["id"]


def test_media_download_url_rewrites_lookaside_for_360_only() -> None:
    media = load_example("d360-cloud-media-get-response")
    assert "lookaside.fbsbx.com" in media["url"]
    d360 = media_download_url(media, "360dialog", "http://127.0.0.1:9")
    path_and_query = media["url"].split("lookaside.fbsbx.com", 1)[1]
    assert d360 == "http://127.0.0.1:9" + path_and_query
    assert media_download_url(media, "meta", "https://graph.facebook.com") == media["url"]
    with pytest.raises(TranslationError):
        media_download_url({"id": "1"}, "360dialog", "http://x")


@pytest.mark.parametrize(
    ("can_send", "gateway"),
    [
        ("AVAILABLE", "connected"),
        ("LIMITED", "connected"),
        ("BLOCKED", "disconnected"),
        ("SOMETHING_NEW", "uninitialized"),
    ],
)
def test_health_mapping(can_send: str, gateway: str) -> None:
    body = {"health_status": {"can_send_message": can_send, "entities": []}}
    out = translate_response("GET", "/v1/health", 200, body, target="360dialog")
    assert out.body["health"]["gateway_status"] == gateway
    assert bool(out.warnings) == (can_send == "LIMITED")


def test_health_example_shape_matches_onprem_single() -> None:
    out = translate_response(
        "GET", "/v1/health", 200, load_example("cloud-health-status-response"), target="meta"
    )
    assert set(load_example("onprem-health-single")["health"]) <= set(out.body["health"])


def test_templates_meta_list_becomes_360_shape() -> None:
    cloud = load_example("cloud-templates-list-response")
    out = translate_response("GET", "/v1/configs/templates", 200, cloud, target="meta")
    assert out.body["waba_templates"] == cloud["data"]
    assert out.body["count"] == len(cloud["data"])


def test_profile_responses() -> None:
    cloud = load_example("cloud-business-profile-get-response")
    prof = translate_response("GET", "/v1/settings/business/profile", 200, cloud, target="meta")
    expected = load_example("onprem-business-profile-get-response")
    assert set(prof.body["settings"]["business"]["profile"]) == set(
        expected["settings"]["business"]["profile"]
    )
    about = translate_response("GET", "/v1/settings/profile/about", 200, cloud, target="meta")
    assert about.body == {"settings": {"profile": {"about": {"text": cloud["data"][0]["about"]}}}}
    photo = translate_response("GET", "/v1/settings/profile/photo?format=link", 200, cloud,
                               target="meta")
    assert (
        photo.body["settings"]["profile"]["photo"]["link"]
        == cloud["data"][0]["profile_picture_url"]
    )


def test_webhook_config_meta_response() -> None:
    body = {"webhook_configuration": {"application": "https://a", "phone_number": "https://p"}}
    out = translate_response("GET", "/v1/configs/webhook", 200, body, target="meta")
    assert out.body == {"url": "https://p"}


@pytest.mark.parametrize(
    ("example", "code", "status"),
    [
        ("cloud-error-131047", 470, 400),
        ("cloud-error-130429", 429, 429),
        ("cloud-error-100-invalid-parameter", 1009, 400),
        ("cloud-error-131026", 1026, 400),
        ("cloud-error-190-token-expired", 1005, 401),
    ],
)
def test_graph_error_examples(example: str, code: int, status: int) -> None:
    cloud = load_example(example)
    out = translate_error(CLOUD_ERRORS[cloud["error"]["code"]].http_status, cloud)
    assert out.status == status
    err = out.body["errors"][0]
    assert err["code"] == code
    assert err["title"] == ONPREM_ERRORS[code].title
    assert str(cloud["error"]["code"]) in err["details"]
    assert out.body["meta"]["cloud_error"] == cloud["error"]
    assert out.body["meta"]["cloud_body"] == cloud
    assert set(load_example("onprem-error-envelope")) <= set(out.body)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": {"message": "Invalid request", "type": "OAuthException"}}, 1000),
        (400, {"error": {"message": "(#1) An unknown error occurred", "code": 1}}, 1000),
        (400, {"success": False}, 1009),
        (404, {"error": {"message": "nope", "code": 100}}, 1009),
        (403, {"error": {"message": "(#10) denied", "code": 10}}, 1005),
        (503, {"error": {"message": "(#2) down", "code": 2}}, 1011),
    ],
)
def test_the_backend_status_is_kept_and_details_are_clean_text(
    status: int, body: Any, code: int
) -> None:
    out = translate_error(status, body)
    assert out.status == status
    err = out.body["errors"][0]
    assert err["code"] == code
    assert isinstance(err["details"], str) and "'" not in err["details"]
    assert "False" not in err["details"]
    assert out.body["meta"]["cloud_body"] == body
    json.loads(json.dumps(out.body))


def test_success_false_details_are_json_not_a_python_repr() -> None:
    out = translate_error(400, {"success": False})
    assert '{"success": false}' in out.body["errors"][0]["details"]


def test_rate_limits_answer_429_as_on_prem_did() -> None:
    out = translate_error(400, graph_error(130429))
    assert (out.status, out.body["errors"][0]["code"]) == (429, 429)
    out = translate_error(400, graph_error(80007))
    assert (out.status, out.body["errors"][0]["code"]) == (429, 1015)


@pytest.mark.parametrize(
    ("example", "code", "status"),
    [
        ("d360-error-invalid-api-key", 1005, 401),
        ("d360-error-path-blocked", 1005, 403),
        ("d360-error-rate-limited", 1015, 429),
    ],
)
def test_360_gateway_error_examples(example: str, code: int, status: int) -> None:
    out = translate_error(400, load_example(example))
    assert (out.status, out.body["errors"][0]["code"]) == (status, code)
    assert load_example(example)["meta"]["developerMessage"] in out.body["errors"][0]["details"]


def test_360_gateway_snake_case_accepted() -> None:
    body = {
        "meta": {
            "http_code": 502,
            "developer_message": "WhatsApp for Business API not available",
            "success": False,
        }
    }
    out = translate_error(502, body)
    assert (out.status, out.body["errors"][0]["code"]) == (502, 1011)


@pytest.mark.parametrize("pair", ERROR_CODE_PAIRS, ids=lambda p: f"{p.cloud}->{p.onprem}")
def test_every_cross_walk_row(pair: Any) -> None:
    out = translate_error(400, graph_error(pair.cloud))
    assert out.body["errors"][0]["code"] == pair.onprem
    assert cloud_to_onprem_code(pair.cloud) == pair.onprem
    if pair.both_ways:
        assert onprem_to_cloud_code(pair.onprem) == pair.cloud


@pytest.mark.parametrize(
    ("cloud", "onprem"),
    [(132000, 2000), (132001, 2001), (132012, 2012), (132015, 2015), (132016, 2016)],
)
def test_template_code_range(cloud: int, onprem: int) -> None:
    assert cloud_to_onprem_code(cloud) == onprem
    assert onprem_to_cloud_code(onprem) == cloud


def test_unmapped_codes_fall_back_to_generic_keeping_the_original() -> None:
    out = translate_error(400, graph_error(999999, "Brand new", details=None))
    err = out.body["errors"][0]
    assert err["code"] == 1000 and "999999" in err["details"] and "Brand new" in err["details"]
    assert onprem_to_cloud_code(1006) is None and onprem_to_cloud_code(410) is None


def test_every_known_cloud_code_translates_without_error() -> None:
    for code in CLOUD_ERRORS:
        out = translate_error(CLOUD_ERRORS[code].http_status, graph_error(code))
        assert out.body["errors"][0]["code"] in ONPREM_ERRORS
    assert cloud_to_onprem_code(132068) == 1000  # Flows errors: no On-Prem counterpart


@pytest.mark.parametrize("body", [None, "Bad Gateway", [1, 2], {"weird": True}, 42])
def test_any_error_body_becomes_an_envelope(body: Any) -> None:
    out = translate_error(502, body)
    assert out.status >= 400 and out.body["errors"][0]["details"]


def test_onprem_error_passes_through() -> None:
    body = load_example("onprem-error-1006-unknown-contact")
    assert translate_error(404, body).body == body


def test_error_detected_inside_response_translation() -> None:
    out = translate_response(
        "POST", "/v1/messages", 400, load_example("cloud-error-131047"), target="360dialog"
    )
    assert out.body["errors"][0]["code"] == 470


def test_error_response_for_our_own_refusal() -> None:
    out = error_response(TranslationError("$.to", "required"))
    assert out.status == 400 and out.body["errors"][0]["code"] == 1009
    assert "$.to" in out.body["errors"][0]["details"]
