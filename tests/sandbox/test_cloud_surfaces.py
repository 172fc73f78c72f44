"""Auth and management endpoints of the 360dialog and Meta surfaces."""

from __future__ import annotations

import httpx
import pytest

from shim.mapping.hosts import D360_API_KEY_HEADER
from shim.sandbox import RunningSandbox, running_sandbox
from tests.conftest import load_example
from tests.sandbox.helpers import LOOPBACK, text_send


def test_360_bad_or_missing_key_gets_gateway_envelope(d360: RunningSandbox) -> None:
    for headers in ({}, {D360_API_KEY_HEADER: "wrong"}):
        response = LOOPBACK.post(d360.messages_url, json=text_send(), headers=headers)
        assert response.status_code == 401
        meta = response.json()["meta"]
        assert meta["success"] is False
        assert meta["httpCode"] == 401
        assert "api_key" in meta["developerMessage"]
        assert "wrong" not in response.text  # never echo the credential
    assert d360.outbox() == []


def test_meta_bad_token_is_190(meta: RunningSandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        response = LOOPBACK.post(meta.messages_url, json=text_send(), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 190


def test_meta_accepts_access_token_query_parameter(meta: RunningSandbox) -> None:
    response = LOOPBACK.get(
        f"{meta.graph_url}/{meta.phone_number_id}",
        params={"fields": "health_status", "access_token": meta.access_token},
    )
    assert response.status_code == 200


def test_custom_credentials_and_accept_any_key() -> None:
    with running_sandbox("360dialog", api_key="k-123", open_windows=True) as sandbox:
        ok = LOOPBACK.post(
            sandbox.messages_url, json=text_send(), headers={D360_API_KEY_HEADER: "k-123"}
        )
        assert ok.status_code == 200
        assert sandbox.auth_headers == {D360_API_KEY_HEADER: "k-123"}
        default = LOOPBACK.post(
            sandbox.messages_url, json=text_send(), headers={D360_API_KEY_HEADER: "sandbox-key"}
        )
        assert default.status_code == 401
    with running_sandbox("meta", accept_any_key=True, open_windows=True) as sandbox:
        response = LOOPBACK.post(
            sandbox.messages_url, json=text_send(), headers={"Authorization": "Bearer anything"}
        )
        assert response.status_code == 200
        assert LOOPBACK.post(sandbox.messages_url, json=text_send()).status_code == 401


def test_health_status(cloud: RunningSandbox, api: httpx.Client) -> None:
    if cloud.api == "meta":
        response = api.get("", params={"fields": "health_status"})
    else:
        response = api.get("/health_status")
    body = response.json()
    expected_keys = set(load_example("cloud-health-status-response")["health_status"])
    assert set(body["health_status"]) == expected_keys
    assert body["health_status"]["can_send_message"] == "AVAILABLE"
    cloud.configure(can_send_message="BLOCKED")
    again = (
        api.get("", params={"fields": "health_status"})
        if cloud.api == "meta"
        else api.get("/health_status")
    )
    entities = again.json()["health_status"]["entities"]
    assert {e["entity_type"] for e in entities} >= {"PHONE_NUMBER", "WABA"}
    assert all(e["can_send_message"] == "BLOCKED" for e in entities)


def test_business_profile_get_and_update(api: httpx.Client) -> None:
    got = api.get("/whatsapp_business_profile", params={"fields": "about,websites"}).json()
    assert set(got["data"][0]) == {"about", "websites", "messaging_product"}
    update = load_example("cloud-business-profile-update-request")
    assert api.post("/whatsapp_business_profile", json=update).json() == {"success": True}
    after = api.get("/whatsapp_business_profile").json()["data"][0]
    assert after["about"] == update["about"]
    too_long = api.post(
        "/whatsapp_business_profile", json={"messaging_product": "whatsapp", "about": "x" * 140}
    )
    assert too_long.json()["error"]["code"] == 100
    assert "about" in too_long.json()["error"]["error_data"]["details"]
    no_product = api.post("/whatsapp_business_profile", json={"about": "x"})
    assert no_product.json()["error"]["code"] == 100


def test_360_templates_list_create_delete(d360: RunningSandbox) -> None:
    with d360.client() as api:
        listed = api.get("/v1/configs/templates").json()
        assert {"count", "filters", "limit", "offset", "sort", "total", "waba_templates"} <= set(
            listed
        )
        names = {t["name"] for t in listed["waba_templates"]}
        assert "hello_world" in names
        new = {
            "name": "shipping_notice",
            "language": "en",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Parcel {{1}} is on its way."}],
        }
        created = api.post("/v1/configs/templates", json=new)
        assert created.status_code == 201
        assert created.json()["status"] == "APPROVED"
        assert api.post("/v1/configs/templates", json=new).json()["error"]["code"] == 100
        bad = api.post("/v1/configs/templates", json={**new, "category": "SPAM"})
        assert "category" in bad.json()["error"]["error_data"]["details"]
        d360.configure(open_windows=False)
        send = {
            "messaging_product": "whatsapp",
            "to": "4915112345678",
            "type": "template",
            "template": {
                "name": "shipping_notice",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "7"}]}],
            },
        }
        assert api.post("/messages", json=send).status_code == 200
        assert api.delete("/v1/configs/templates/shipping_notice").json() == {"success": True}
        assert api.post("/messages", json=send).json()["error"]["code"] == 132001


def test_meta_templates_list_create_delete(meta: RunningSandbox) -> None:
    with meta.client(base_url=f"{meta.graph_url}/{meta.waba_id}") as api:
        listed = api.get("/message_templates").json()
        assert {"data", "paging"} <= set(listed)
        assert {"name", "category", "status", "id"} <= set(listed["data"][0])
        filtered = api.get("/message_templates", params={"status": "PENDING"}).json()["data"]
        assert [t["name"] for t in filtered] == ["seasonal_promo"]
        new = {
            "name": "meta_notice",
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Hello"}],
        }
        created = api.post("/message_templates", json=new).json()
        assert created["status"] == "APPROVED" and created["id"]
        assert api.delete("/message_templates", params={"name": "meta_notice"}).json() == {
            "success": True
        }
        assert api.delete("/message_templates").json()["error"]["code"] == 100


def test_360_webhook_config(d360: RunningSandbox) -> None:
    with d360.client() as api:
        assert api.get("/v1/configs/webhook").json() == {"url": None}
        request = load_example("d360-webhook-config-request")
        assert api.post("/v1/configs/webhook", json=request).json() == {"url": request["url"]}
        assert api.get("/v1/configs/webhook").json() == {"url": request["url"]}
        bad = api.post("/v1/configs/webhook", json={"url": "not a url"})
        assert bad.status_code == 400
        assert "url" in bad.json()["meta"]["developerMessage"]


def test_meta_nodes(meta: RunningSandbox) -> None:
    with meta.client(base_url=meta.graph_url) as api:
        phone = api.get(f"/{meta.phone_number_id}").json()
        assert phone["id"] == meta.phone_number_id
        assert phone["display_phone_number"]
        waba = api.get(f"/{meta.waba_id}", params={"fields": "message_template_namespace"}).json()
        assert waba["message_template_namespace"]
        unknown = api.get("/999999")
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == 100
        assert "999999" in unknown.json()["error"]["message"]
        nonexisting_field = api.get(f"/{meta.phone_number_id}", params={"fields": "bogus"})
        assert "bogus" in nonexisting_field.json()["error"]["error_data"]["details"]
        other_number = api.post("/123/messages", json=text_send())
        assert other_number.json()["error"]["code"] == 100
    # any Graph version works, a malformed one does not
    any_version = LOOPBACK.get(
        f"{meta.base_url}/v17.0/{meta.phone_number_id}", headers=meta.auth_headers
    )
    assert any_version.status_code == 200
    bad_version = LOOPBACK.get(
        f"{meta.base_url}/latest/{meta.phone_number_id}", headers=meta.auth_headers
    )
    assert bad_version.json()["error"]["code"] == 100


@pytest.mark.parametrize("path", ["/1000000001/messages", "/v1/messages"])
def test_360_rejects_meta_and_onprem_paths(d360: RunningSandbox, path: str) -> None:
    with d360.client() as api:
        response = api.post(path, json=text_send())
    assert response.status_code in (404, 405)
    assert response.json()["error"]["code"] == 100
