"""The On-Prem v1 surface (360dialog hosted): sends, errors, media, settings."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shim.mapping.errors import ONPREM_ERRORS
from shim.mapping.hosts import D360_API_KEY_HEADER
from shim.sandbox import RunningSandbox
from tests.conftest import load_example
from tests.sandbox.helpers import LOOPBACK

USER = "4915112345678"


@pytest.fixture
def api(onprem: RunningSandbox) -> Iterator[httpx.Client]:
    with onprem.client() as client:
        yield client


def onprem_error(response: httpx.Response, code: int) -> dict[str, Any]:
    body = response.json()
    assert "errors" in body, body
    error: dict[str, Any] = body["errors"][0]
    assert error["code"] == code
    assert error["title"] == ONPREM_ERRORS[code].title
    assert response.status_code == ONPREM_ERRORS[code].http_status
    assert set(body["meta"]) == {"api_status", "version"}
    return error


@pytest.mark.parametrize(
    "example",
    [
        "onprem-send-text",
        "onprem-send-image-link",
        "onprem-send-image-provider",
        "onprem-send-document-link",
        "onprem-send-audio-link",
        "onprem-send-location",
        "onprem-send-contacts",
        "onprem-send-interactive-button",
        "onprem-send-interactive-list",
    ],
)
def test_published_onprem_sends_are_accepted(
    onprem: RunningSandbox, api: httpx.Client, example: str
) -> None:
    onprem.configure(open_windows=True)
    request = load_example(example)
    if not any(ch.isdigit() for ch in request["to"]):  # "recipient-wa-id" placeholders
        request["to"] = USER
    if "location" in request:  # the published example has "<Latitude>" placeholders
        request["location"].update(latitude="52.52", longitude="13.40")
    response = api.post("/messages", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == set(load_example("onprem-send-response"))
    assert re.fullmatch(r"gBEG[A-Za-z0-9]{23}", body["messages"][0]["id"])
    outbox = onprem.outbox()
    assert [{k: m[k] for k in ("id", "to", "body")} for m in outbox] == [
        {"id": body["messages"][0]["id"], "to": request["to"], "body": request}
    ]
    assert abs(outbox[0]["at"] - time.time()) < 60


def test_hsm_and_template_sends_are_accepted(onprem: RunningSandbox, api: httpx.Client) -> None:
    hsm = {
        "to": USER,
        "type": "hsm",
        "hsm": {
            "namespace": "ns",
            "element_name": "order_update",
            "language": {"policy": "deterministic", "code": "en"},
            "localizable_params": [{"default": "Ann"}, {"default": "42"}],
        },
    }
    assert api.post("/messages", json=hsm).status_code == 200
    template = {
        "to": USER,
        "type": "template",
        "template": {
            "name": "hello_world",
            "language": {"policy": "deterministic", "code": "en_US"},
        },
    }
    assert api.post("/messages", json=template).status_code == 200
    assert len(onprem.outbox()) == 2


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"type": "text", "text": {"body": "hi"}}, 1008, "to"),
        ({"to": USER, "type": "text"}, 1008, "text"),
        ({"to": USER, "type": "text", "text": {}}, 1008, "text.body"),
        ({"to": USER, "type": "text", "text": {"body": 1}}, 1009, "text.body"),
        ({"to": USER, "type": "text", "text": {"body": "x" * 4097}}, 1001, "text.body"),
        ({"to": USER, "type": "fax", "fax": {}}, 1009, "type"),
        ({"to": USER, "text": {"body": "x"}, "preview_url": "yes"}, 1009, "preview_url"),
        ({"to": USER, "type": "image", "image": {}}, 1008, "image.id"),
        ({"to": USER, "type": "image", "image": {"id": "nope"}}, 1009, "image.id"),
        (
            {"to": USER, "type": "location", "location": {"latitude": "a"}},
            1009,
            "location.latitude",
        ),
        (
            {"to": USER, "type": "interactive", "interactive": {"type": "cta_url"}},
            1009,
            "interactive.type",
        ),
        ({"to": USER, "type": "hsm", "hsm": {"element_name": "x"}}, 1008, "hsm.language"),
        ({"to": USER, "recipient_type": "group", "text": {"body": "x"}}, 1002, "recipient_type"),
        ([], 1009, "body"),
    ],
)
def test_bad_sends_get_onprem_errors_naming_the_field(
    onprem: RunningSandbox, api: httpx.Client, body: Any, code: int, field: str
) -> None:
    onprem.configure(open_windows=True)
    error = onprem_error(api.post("/messages", json=body), code)
    assert error["details"].startswith(field)


def test_malformed_json_is_1009(api: httpx.Client) -> None:
    response = api.post("/messages", content=b"{", headers={"Content-Type": "application/json"})
    assert "body" in onprem_error(response, 1009)["details"]


def test_mark_read(onprem: RunningSandbox, api: httpx.Client) -> None:
    inbound_id = onprem.inbound(USER, "hello")["id"]
    read = load_example("onprem-mark-read")
    assert api.put(f"/messages/{inbound_id}", json=read).status_code == 200
    onprem_error(api.put("/messages/ABGGunknown", json=read), 1006)
    onprem_error(api.put(f"/messages/{inbound_id}", json={"status": "deleted"}), 1009)


def test_media_upload_download_delete(api: httpx.Client) -> None:
    data = b"\x89PNG\r\n\x1a\nsandbox"
    uploaded = api.post("/media", content=data, headers={"Content-Type": "image/png"})
    assert set(uploaded.json()) == set(load_example("onprem-media-upload-response"))
    media_id = uploaded.json()["media"][0]["id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", media_id)
    downloaded = api.get(f"/media/{media_id}")
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "image/png"
    assert api.delete(f"/media/{media_id}").status_code == 200
    onprem_error(api.get(f"/media/{media_id}"), 1006)


def test_media_upload_errors(api: httpx.Client) -> None:
    wrong_type = api.post("/media", content=b"x", headers={"Content-Type": "application/x-foo"})
    assert "Content-Type" in onprem_error(wrong_type, 1009)["details"]
    empty = api.post("/media", content=b"", headers={"Content-Type": "image/png"})
    onprem_error(empty, 1008)


def test_contacts_check(api: httpx.Client) -> None:
    request = load_example("onprem-contacts-check-request")
    request["contacts"].append("12")
    results = api.post("/contacts", json=request).json()["contacts"]
    assert results[0] == {"input": "+250788123123", "status": "valid", "wa_id": "250788123123"}
    assert results[1] == {"input": "12", "status": "invalid"}
    onprem_error(api.post("/contacts", json={"blocking": "wait"}), 1008)


def test_health_single_and_ha(onprem: RunningSandbox, api: httpx.Client) -> None:
    single = api.get("/health").json()
    assert single == {"health": {"gateway_status": "connected"}}
    onprem.configure(health="ha")
    ha = api.get("/health").json()["health"]
    assert {node["role"] for node in ha.values()} == {"primary_master", "secondary_master"}
    assert all(set(node) == {"gateway_status", "role"} for node in ha.values())


def test_blocked_paths_answer_like_360dialogs_blacklist(api: httpx.Client) -> None:
    for method, path in (
        ("POST", "/users/login"),
        ("PATCH", "/settings/application"),
        ("GET", "/stats/app"),
    ):
        response = api.request(method, path, json={})
        assert response.status_code == 403
        assert "is blocked" in response.json()["meta"]["developerMessage"]


def test_bad_key_gets_gateway_envelope(onprem: RunningSandbox) -> None:
    response = LOOPBACK.post(onprem.messages_url, json={}, headers={D360_API_KEY_HEADER: "x"})
    assert response.status_code == 401
    assert response.json()["meta"]["success"] is False


def test_configs_and_settings(onprem: RunningSandbox, api: httpx.Client) -> None:
    assert api.get("/configs/phone_number").json() == {
        "phone_number": onprem.settings.display_phone_number
    }
    templates = api.get("/configs/templates").json()["waba_templates"]
    assert {"name", "status", "language", "category", "components", "namespace"} <= set(
        templates[0]
    )
    assert api.patch("/settings/profile/about", json={"text": "Open 9-5"}).status_code == 200
    about = api.get("/settings/profile/about").json()
    assert about == {"settings": {"profile": {"about": {"text": "Open 9-5"}}}}
    onprem_error(api.patch("/settings/profile/about", json={"text": "x" * 200}), 1009)
    profile = api.get("/settings/business/profile").json()
    assert set(profile["settings"]["business"]["profile"]) == set(
        load_example("onprem-business-profile-get-response")["settings"]["business"]["profile"]
    )
    assert api.post("/settings/business/profile", json={"email": "a@b.c"}).status_code == 200
    onprem_error(api.post("/settings/business/profile", json={"colour": "red"}), 1010)


def test_unknown_path_is_an_onprem_error(api: httpx.Client) -> None:
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 1006
