"""Send and health answers, Graph errors and path cleaning, with exact expectations."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.error import is_error_body, translate_error
from shim.translate.request import translate_request
from shim.translate.response import translate_response
from shim.translate.types import JSON, CloudRequest, TranslationError

META = {"api_status": "stable", "version": "cloud-api"}


def answer(method: str, path: str, body: JSON) -> tuple[int, JSON, list[tuple[str, str, str]]]:
    out = translate_response(method, path, 200, body, target="meta")
    return out.status, out.body, [(w.code, w.path, w.message) for w in out.warnings]


def test_a_send_answer_drops_messaging_product_and_fills_a_bsuid_wa_id() -> None:
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "u1", "user_id": "US.1"}, {"input": "49", "wa_id": "49"}, 3],
        "messages": [{"id": "w"}],
    }
    assert answer("POST", "/v1/messages", body) == (
        200,
        {
            "contacts": [
                {"input": "u1", "user_id": "US.1", "wa_id": "US.1"},
                {"input": "49", "wa_id": "49"},
                3,
            ],
            "messages": [{"id": "w"}],
        },
        [("W204", "$.contacts[0].wa_id", "sent to a BSUID; wa_id set to the BSUID from user_id")],
    )
    plain = {"messaging_product": "whatsapp", "messages": [{"id": "w"}]}
    assert answer("POST", "/v1/messages", plain) == (200, {"messages": [{"id": "w"}]}, [])


LIMITED = ("W302", "$.health_status.can_send_message", "LIMITED on Cloud, reported as connected")


@pytest.mark.parametrize(
    ("health", "warnings"),
    [
        (
            {
                "can_send_message": "LIMITED",
                "entities": [{"additional_info": ["quality low", 3]}, 5, {"additional_info": "x"}],
            },
            [(*LIMITED[:2], f"{LIMITED[2]}: quality low")],
        ),
        ({"can_send_message": "LIMITED", "entities": 3}, [LIMITED]),
        ({"can_send_message": "LIMITED"}, [LIMITED]),
    ],
)
def test_limited_health_is_connected_with_the_first_reason(
    health: dict[str, Any], warnings: list[tuple[str, str, str]]
) -> None:
    assert answer("GET", "/v1/health", {"health_status": health}) == (
        200,
        {"health": {"gateway_status": "connected", "can_send_message": "LIMITED"},
         "meta": {"api_status": "stable", "version": "cloud-api"}},
        warnings,
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "where", "message"),
    [
        ("POST", "/v1/messages", {"contacts": []}, "$.messages", "required field is missing"),
        ("POST", "/v1/messages", [1], "$", "expected a JSON object, got array"),
        ("GET", "/v1/health", {}, "$.health_status", "required field is missing"),
        (
            "GET",
            "/v1/health",
            {"health_status": 3},
            "$.health_status",
            "expected a JSON object, got integer",
        ),
    ],
)
def test_bad_answers_name_the_field(
    method: str, path: str, body: JSON, where: str, message: str
) -> None:
    with pytest.raises(TranslationError) as info:
        translate_response(method, path, 200, body, target="meta")
    assert (info.value.path, str(info.value)) == (where, f"{where}: {message}")


def graph(error: dict[str, Any]) -> dict[str, Any]:
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "body", "out_status", "code", "title", "details"),
    [
        (
            400,
            graph({"message": "m", "code": 131047, "error_data": {"details": "d"}}),
            400,
            470,
            "Re-engagement message",
            "d (Cloud error 131047: m)",
        ),
        (
            400,
            graph({"message": "m"}),
            400,
            1000,
            "Generic error",
            "m (Cloud error without a code: m)",
        ),
        (
            400,
            graph({"code": True, "message": "m"}),
            400,
            1000,
            "Generic error",
            "m (Cloud error without a code: m)",
        ),
        (400, graph({"code": "5"}), 400, 1000, "Generic error", " (Cloud error without a code: )"),
        (
            400,
            graph({"message": {"a": 1}, "code": 100, "error_data": {"details": ""}}),
            400,
            1009,
            "Parameter value is not valid",
            '{"a": 1} (Cloud error 100: {"a": 1})',
        ),
    ],
)
def test_graph_errors_keep_the_cloud_code_and_message(
    status: int, body: dict[str, Any], out_status: int, code: int, title: str, details: str
) -> None:
    out = translate_error(status, body)
    assert out.status == out_status
    assert out.body == {
        "errors": [{"code": code, "title": title, "details": details}],
        "meta": {**META, "cloud_error": body["error"], "cloud_body": body},
    }


@pytest.mark.parametrize(
    ("status", "body", "out_status", "code", "title", "details"),
    [
        (
            200,
            {"meta": {"success": True}},
            500,
            1000,
            "Generic error",
            'unexpected response from the backend (HTTP 200): {"meta": {"success": true}}',
        ),
        (
            502,
            "bad gateway",
            502,
            1011,
            "Service not ready",
            "unexpected response from the backend (HTTP 502): bad gateway",
        ),
    ],
)
def test_an_unknown_error_body_is_kept_whole(
    status: int, body: JSON, out_status: int, code: int, title: str, details: str
) -> None:
    out = translate_error(status, body)
    assert out.status == out_status
    assert out.body == {
        "errors": [{"code": code, "title": title, "details": details}],
        "meta": {**META, "cloud_body": body},
    }
    on_prem = {"errors": [{"code": 1}]}
    assert (translate_error(200, on_prem).status, translate_error(200, on_prem).body) == (
        200,
        on_prem,
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {}, True),
        (399, {}, False),
        (200, {"error": {}}, True),
        (200, {"error": "x"}, False),
        (200, {"errors": []}, False),
        (200, {"errors": [1]}, True),
        (200, {"meta": {"success": False}}, True),
        (200, {"meta": {"success": None}}, False),
        (200, {"meta": {"success": True}}, False),
        (200, [1], False),
        (200, {"meta": 3}, False),
    ],
)
def test_what_counts_as_an_error_body(status: int, body: JSON, expected: bool) -> None:
    assert is_error_body(status, body) is expected


DOTS = 'path: "." and ".." segments are not allowed in a path'


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/messages/a\x01b", "path: control characters are not allowed in a path"),
        ("/v1/media/1#2", 'path: "#" is not allowed in a path (a fragment is never sent)'),
        ("/v1/media/../1", DOTS),
        ("/v1/media/./1", DOTS),
        ("/v1/media/..?x=1", DOTS),
    ],
)
def test_unsafe_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("GET", path, target="meta", phone_number_id="7")
    assert (info.value.path, str(info.value)) == ("path", message)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1//media//123", "/123"),
        ("/v1/media/123?a=..&b=/.", "/123"),
        ("/v1/configs//templates?after=a//b&x=..", "/5/message_templates?after=a%2F%2Fb&x=.."),
    ],
)
def test_repeated_slashes_collapse_in_the_path_only(path: str, expected: str) -> None:
    result = translate_request("GET", path, target="meta", phone_number_id="7", waba_id="5")
    assert isinstance(result, CloudRequest)
    assert result.path_with_query == expected


BAD_MEDIA_ID = (
    "media_id: not a valid media_id for the meta backend (Cloud media ids are digits; "
    "On-Premise media ids are UUIDs; no ?, #, .. or control characters)"
)


@pytest.mark.parametrize("path", ["/v1/media/12.3", "/v1/media/123%2F.."])
def test_a_path_parameter_of_the_wrong_shape_is_named(path: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("GET", path, target="meta", phone_number_id="7")
    assert (info.value.path, str(info.value)) == ("media_id", BAD_MEDIA_ID)


def test_a_snake_case_gateway_error_without_success_flag_keeps_its_504() -> None:
    out = translate_error(200, {"meta": {"http_code": 504, "developer_message": "slow"}})
    assert (out.status, out.body["errors"]) == (
        504,
        [
            {
                "code": 1011,
                "title": "Service not ready",
                "details": "slow (360dialog gateway, HTTP 504)",
            }
        ],
    )
