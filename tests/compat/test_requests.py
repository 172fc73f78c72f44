"""``from shim.compat import requests``: every requests calling style of real On-Prem code.

The snippets follow the styles in caller-patterns.md (module functions, sessions,
``json=`` and ``data=json.dumps(...)``, header dicts, base URL constants,
``urljoin``, ``raise_for_status``, ``resp.json()["messages"][0]["id"]``, media
download bytes). Each runs against a channel served by 360dialog Cloud and one
served by Meta, both sandboxes on loopback.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urljoin

import pytest
import requests as real_requests
from requests.adapters import HTTPAdapter

from shim import compat
from shim.compat import requests
from shim.config import ConfigError
from shim.sandbox import RunningSandbox
from tests.compat.conftest import (
    CLINIC_OLD_TOKEN,
    ONPREM_HOST,
    PNG,
    SECRETS,
    SHOP_NEW_KEY,
    SHOP_OLD_KEY,
    TO,
    Caller,
    Echo,
    assert_no_secret,
)


def sent_body(route: Caller) -> dict:  # type: ignore[type-arg]
    outbox = route.outbox()
    assert len(outbox) == 1, outbox
    body: dict = outbox[0]["body"]  # type: ignore[type-arg]
    assert body["messaging_product"] == "whatsapp"  # the backend got Cloud shape
    return body


def test_module_post_with_json_dumps_body_and_literal_url(route: Caller) -> None:
    gateway = route.base + "/v1/messages"
    hdrs = {**route.auth, "Content-Type": "application/json"}
    body = {
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "preview_url": True,
        "text": {"body": "Your parcel has shipped"},
    }
    resp = requests.post(gateway, headers=hdrs, data=json.dumps(body))

    assert isinstance(resp, real_requests.Response)
    assert resp.status_code == 200 and resp.ok
    assert resp.headers["X-Waba-Migrate-Channel"] == route.channel
    message_id = resp.json()["messages"][0]["id"]
    assert route.outbox()[0]["id"] == message_id
    sent = sent_body(route)
    assert sent["text"] == {"body": "Your parcel has shipped", "preview_url": True}
    assert "preview_url" not in sent  # moved into text by the translator
    assert json.loads(resp.text) == resp.json() and resp.content == resp.text.encode()


def test_session_with_headers_update_and_fstring_path(route: Caller) -> None:
    class BspClient:
        def __init__(self, auth: dict[str, str], base: str) -> None:
            self.base = base.rstrip("/")
            self.http = requests.Session()
            self.http.headers.update(auth)

        def send_text(self, to: str, text: str) -> dict:  # type: ignore[type-arg]
            body = {"to": to, "type": "text", "text": {"body": text}}
            result: dict = self.http.post(  # type: ignore[type-arg]
                f"{self.base}/v1/messages", json=body, timeout=10
            ).json()
            return result

    client = BspClient(route.auth, route.base + "/")
    first = client.send_text(TO, "one")
    second = client.send_text(TO, "two")
    client.http.close()

    ids = [m["id"] for m in route.outbox()]
    assert ids == [first["messages"][0]["id"], second["messages"][0]["id"]]


def test_session_as_context_manager_with_a_user_mount_still_routes(route: Caller) -> None:
    with requests.Session() as s:
        s.mount("https://", HTTPAdapter(max_retries=3))  # would send to the real host
        s.headers["Authorization" if "Authorization" in route.auth else "D360-Api-Key"] = next(
            iter(route.auth.values())
        )
        r = s.post(route.base + "/v1/messages", json={"to": TO, "text": {"body": "hi"}})
    assert r.status_code == 200
    assert r.json()["messages"][0]["id"] == route.outbox()[0]["id"]


def test_urljoin_without_leading_slash_and_template_with_namespace(route: Caller) -> None:
    def notify(wa_id: str, params: list[str], order: str | None) -> str:
        parts = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
        if order:
            parts.append({"type": "header", "parameters": [{"type": "text", "text": order}]})
        msg = {
            "to": wa_id,
            "type": "template",
            "template": {
                "namespace": "ns-123",
                "name": "order_update",
                "language": {"policy": "deterministic", "code": "en"},
                "components": parts,
            },
        }
        auth = {**route.auth, "Content-Type": "application/json"}
        r = requests.post(
            urljoin(route.base + "/", "v1/messages"), headers=auth, data=json.dumps(msg)
        )
        out = r.json()
        return str(out["messages"][0]["id"] if "messages" in out else out["errors"][0]["code"])

    message_id = notify(TO, ["Ada", "A-17"], "A-17")
    assert message_id == route.outbox()[0]["id"]
    sent = sent_body(route)["template"]
    assert sent["name"] == "order_update" and "namespace" not in sent

    # A Cloud error comes back in the On-Prem envelope the caller indexes.
    route.sandbox.reset()
    assert notify(TO, ["Ada"], None) == "2000"  # parameter count mismatch
    assert route.outbox() == []


def test_str_format_helper_get_with_params_and_request_function(route: Caller) -> None:
    def endpoint(method: str) -> str:
        return "{}/{}/{}".format(route.base, "v1", method)

    health = requests.get(endpoint("health"), headers=route.auth)
    assert health.status_code == 200 and "health" in health.json()
    # a caller that stores the API version from its health check (as RapidPro does) finds it
    assert health.json()["meta"]["version"] == "cloud-api"
    contacts = requests.request(
        "POST",
        endpoint("contacts"),
        headers=route.auth,
        json={"blocking": "wait", "contacts": [f"+{TO}"]},
    )
    row = contacts.json()["contacts"][0]
    assert (row["status"], row["wa_id"]) == ("valid", TO)
    listed = requests.get(endpoint("configs/templates"), params={"limit": 5}, headers=route.auth)
    assert listed.status_code == 200, listed.text
    names = {t["name"] for t in listed.json()["waba_templates"]}
    assert "order_update" in names


def test_raise_for_status_raises_requests_http_error_with_onprem_errors(route: Caller) -> None:
    resp = requests.post(route.base + "/v1/messages", headers=route.auth, data="{not json")
    assert resp.status_code == 400 and not resp.ok
    with pytest.raises(real_requests.HTTPError) as exc:
        resp.raise_for_status()
    assert exc.value.response is resp
    assert "JSON" in resp.json()["errors"][0]["details"]
    assert route.outbox() == []


def test_basic_auth_login_on_a_self_hosted_node_gets_a_token_that_sends_as_its_channel(
    config_file: Path, sbmeta: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # caller-patterns S4: Basic login for a token, verify=False, str.format URL, then
    # sends with "Authorization: Bearer <token>".
    node, version = "https://wa-node.internal:9090", "v1"

    def endpoint(method: str) -> str:
        return "{}/{}/{}".format(node, version, method)  # noqa: UP032 (the caller style)

    caplog.set_level(logging.DEBUG)
    before = datetime.now(UTC)
    r = requests.post(endpoint("users/login"), auth=("admin", "secret-pw"), verify=False)
    r.raise_for_status()
    assert r.status_code == 200 and r.headers["X-Waba-Migrate-Channel"] == "clinic"
    [user] = r.json()["users"]
    token = user["token"]
    expires = datetime.strptime(user["expires_after"], "%Y-%m-%d %H:%M:%S%z")
    assert before + timedelta(days=6) < expires < before + timedelta(days=8)
    assert len(token) >= 32 and token not in SECRETS and "secret-pw" not in r.text
    again = requests.post(endpoint("users/login"), auth=("admin", "secret-pw"))
    assert again.json()["users"][0]["token"] != token  # fresh each time, never a secret
    assert sbmeta.outbox() == []  # Cloud has no login: nothing was sent

    bearer = {"Authorization": f"Bearer {token}"}
    body = {"to": TO, "type": "text", "text": {"body": "after login"}}
    sent = requests.post(endpoint("messages"), headers=bearer, json=body)
    assert sent.status_code == 200 and sent.headers["X-Waba-Migrate-Channel"] == "clinic"
    [out] = sbmeta.outbox()
    assert out["id"] == sent.json()["messages"][0]["id"]
    assert out["body"]["text"]["body"] == "after login"
    # the router remembers its tokens: one on a host that names no channel routes too
    elsewhere = requests.post(ONPREM_HOST + "/v1/messages", headers=bearer, json=body)
    assert elsewhere.status_code == 200 and elsewhere.headers["X-Waba-Migrate-Channel"] == "clinic"
    assert len(sbmeta.outbox()) == 2
    # ... a token it never minted still does not (a key no channel owns)
    stranger = {"Authorization": "Bearer " + token[::-1]}
    refused = requests.post(ONPREM_HOST + "/v1/messages", headers=stranger, json=body)
    assert refused.status_code == 401 and len(sbmeta.outbox()) == 2
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "users/login" in logged and token not in logged and "secret-pw" not in logged


def test_login_on_a_host_no_channel_names_is_not_answered(
    config_file: Path, echo: Echo
) -> None:
    # 360dialog's own On-Prem host implies no channel: the mapping table's 501 says what to do
    r = requests.post(ONPREM_HOST + "/v1/users/login", auth=("admin", "secret-pw"))
    assert r.status_code == 501
    details = r.json()["errors"][0]["details"]
    assert "login" in details.lower() and "api_key" in details and "secret-pw" not in r.text
    # a host the config does not declare is not ours: the login reaches it untouched
    passed = requests.post(echo.url + "/v1/users/login", auth=("admin", "secret-pw"))
    assert passed.status_code == 218 and "X-Waba-Migrate-Channel" not in passed.headers
    [seen] = echo.seen
    assert seen["path"] == "/v1/users/login" and seen["headers"]["authorization"].startswith(
        "Basic ")


def test_media_upload_download_bytes_and_stream(route: Caller) -> None:
    up = requests.post(
        route.base + "/v1/media", data=PNG, headers={**route.auth, "Content-Type": "image/png"}
    )
    up.raise_for_status()
    media_id = up.json()["media"][0]["id"]

    down = requests.get(f"{route.base}/v1/media/{media_id}", headers=route.auth)
    assert down.status_code == 200 and down.content == PNG
    assert down.headers["Content-Type"].startswith("image/png")

    with requests.get(f"{route.base}/v1/media/{media_id}", headers=route.auth, stream=True) as s:
        assert s.raw.read() == PNG

    sent = requests.post(
        route.base + "/v1/messages",
        headers=route.auth,
        json={"to": TO, "type": "image", "image": {"id": media_id, "caption": "look"}},
    )
    assert sent.ok
    assert sent_body(route)["image"]["id"] == media_id


def test_mark_read_put_and_caller_idempotency_key(route: Caller) -> None:
    headers = {**route.auth, "Idempotency-Key": "order-42-shipped"}
    body = {"to": TO, "text": {"body": "shipped"}}
    first = requests.post(route.base + "/v1/messages", headers=headers, json=body)
    again = requests.post(route.base + "/v1/messages", headers=headers, json=body)
    assert first.json() == again.json()
    assert again.headers.get("X-Waba-Migrate-Replayed") == "true"
    assert len(route.outbox()) == 1  # the retry of the caller was not sent twice

    inbound_id = route.sandbox.inbound(TO, "thanks!")["id"]
    read = requests.put(
        f"{route.base}/v1/messages/{quote(inbound_id, safe='')}",
        headers=route.auth,
        json={"status": "read"},
    )
    assert read.status_code == 200, read.text


def test_the_key_the_call_carries_picks_the_channel(
    config_file: Path, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> None:
    # Same well-known On-Prem URL, two keys: each lands on its own backend.
    url = ONPREM_HOST + "/v1/messages"
    body = {"to": TO, "text": {"body": "which backend?"}}
    via_meta = requests.post(
        url, headers={"Authorization": f"Bearer {CLINIC_OLD_TOKEN}"}, json=body
    )
    via_360 = requests.post(url, headers={"D360-API-KEY": SHOP_OLD_KEY}, json=body)
    assert via_meta.headers["X-Waba-Migrate-Backend"] == "meta"
    assert via_360.headers["X-Waba-Migrate-Backend"] == "360dialog"
    assert [m["id"] for m in sbmeta.outbox()] == [via_meta.json()["messages"][0]["id"]]
    assert [m["id"] for m in sb360.outbox()] == [via_360.json()["messages"][0]["id"]]


def test_outcome_unknown_raises_read_timeout_with_the_key_and_sends_once(route: Caller) -> None:
    route.sandbox.fault(drop_after_accept=True, path="/messages")
    with pytest.raises(real_requests.exceptions.ReadTimeout) as exc:
        requests.post(
            route.base + "/v1/messages", headers=route.auth, json={"to": TO, "text": {"body": "?"}}
        )
    err = exc.value
    assert isinstance(err, requests.OutcomeUnknownReadTimeout)
    assert isinstance(err, real_requests.RequestException)  # generic handlers still catch it
    key = err.idempotency_key
    assert key and key in str(err)
    assert err.response is not None and err.response.status_code == 504
    assert err.response.headers["Idempotency-Key"] == key
    assert_no_secret(str(err))
    assert sent_body(route)["biz_opaque_callback_data"] == key  # accepted once, not resent


def test_other_urls_pass_through_untouched(config_file: Path, echo: Echo) -> None:
    # An On-Prem-looking path on a host the config does not name is not ours.
    headers = {"D360-API-KEY": SHOP_OLD_KEY, "X-Trace": "abc"}
    resp = requests.post(echo.url + "/v1/messages?x=1", headers=headers, json={"to": TO})
    assert resp.status_code == 218 and resp.json() == {"echo": True, "path": "/v1/messages"}
    assert "X-Waba-Migrate-Channel" not in resp.headers
    [seen] = echo.seen
    assert seen["query"] == "x=1" and json.loads(seen["body"]) == {"to": TO}
    assert seen["headers"]["d360-api-key"] == SHOP_OLD_KEY
    assert seen["headers"]["x-trace"] == "abc"

    with requests.Session() as s:
        assert s.get(echo.url + "/anything", params={"q": "1"}).status_code == 218
    assert echo.seen[-1]["path"] == "/anything" and echo.seen[-1]["query"] == "q=1"


def test_without_config_other_urls_work_and_onprem_urls_fail_loudly(
    no_config: None, echo: Echo
) -> None:
    assert requests.get(echo.url + "/v1/health").status_code == 218
    with pytest.raises(ConfigError) as exc:
        requests.post(ONPREM_HOST + "/v1/messages", headers={"D360-API-KEY": SHOP_OLD_KEY}, json={})
    assert "WABA_MIGRATE_CONFIG" in str(exc.value)
    assert_no_secret(str(exc.value))


def test_the_module_mirrors_requests() -> None:
    for name in (
        "codes",
        "exceptions",
        "Response",
        "HTTPError",
        "ReadTimeout",
        "adapters",
        "RequestException",
        "ConnectionError",
        "Timeout",
        "JSONDecodeError",
        "PreparedRequest",
        "packages",
        "__version__",
        "status_codes",
        "utils",
    ):
        assert getattr(requests, name) is getattr(real_requests, name), name
    assert requests.codes.ok == 200
    assert issubclass(requests.Session, real_requests.Session)
    assert isinstance(requests.session(), real_requests.Session)
    for fn in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
        assert callable(getattr(requests, fn))


def test_mark_read_with_an_unquoted_cloud_id(route: Caller) -> None:
    inbound_id = ""
    while "/" not in inbound_id:  # ids are random: get one holding a slash
        inbound_id = route.sandbox.inbound(TO, "hi")["id"]
    read = requests.put(
        f"{route.base}/v1/messages/{inbound_id}", headers=route.auth, json={"status": "read"}
    )
    assert read.status_code == 200, read.text


def test_the_callers_read_timeout_applies_and_hooks_run(route: Caller) -> None:
    seen: list[int] = []
    with requests.Session() as s:
        s.hooks["response"].append(lambda r, *a, **k: seen.append(r.status_code))
        s.headers.update(route.auth)
        body = {"to": TO, "text": {"body": "a"}}
        ok = s.post(route.base + "/v1/messages", json=body, timeout=(3, 10))
        route.sandbox.fault(delay_ms=900, path="/messages")
        with pytest.raises(real_requests.exceptions.Timeout) as exc:
            s.post(route.base + "/v1/messages", json={"to": TO, "text": {"body": "b"}}, timeout=0.3)
    assert ok.status_code == 200 and seen == [200]
    key = exc.value.idempotency_key  # type: ignore[attr-defined]
    assert key in str(exc.value)
    deadline = time.monotonic() + 5
    while len(route.outbox()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow send still lands after the delay
    late = route.outbox()
    assert len(late) == 2 and late[1]["body"]["biz_opaque_callback_data"] == key


def test_double_slash_media_path_and_traversal_through_the_drop_in(route: Caller) -> None:
    up = requests.post(
        route.base + "/v1/media", data=PNG, headers={**route.auth, "Content-Type": "image/png"}
    )
    media_id = up.json()["media"][0]["id"]
    # A real On-Prem helper library builds "/v1/media//{id}"; On-Prem's server allowed it.
    down = requests.get(f"{route.base}/v1/media//{media_id}", headers=route.auth)
    assert down.status_code == 200 and down.content == PNG
    trick = quote(f"../{route.sandbox.waba_id}/message_templates?name=x", safe="")
    refused = requests.delete(f"{route.base}/v1/media/{trick}", headers=route.auth)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["details"].startswith("media_id:")


def test_turn_extensions_on_a_declared_host_stay_on_that_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sb360: RunningSandbox, echo: Echo
) -> None:
    # A Turn-hosted caller declares its Turn host to migrate the sends; Turn's own API
    # (profiles, labels, claims) on that host must still reach Turn, untouched.
    config = tmp_path / "turn.toml"
    config.write_text(f"""
[channels.engage]
phone_number = "+4915100000003"
backend = "360dialog"
api_key = "env:CT_ENGAGE_KEY"
legacy_api_key = "env:CT_ENGAGE_TOKEN"
legacy_base_url = {json.dumps(echo.url)}
base_url = {json.dumps(sb360.base_url)}
""", encoding="utf-8")
    monkeypatch.setenv("CT_ENGAGE_KEY", SHOP_NEW_KEY)
    monkeypatch.setenv("CT_ENGAGE_TOKEN", "engage-turn-token")
    monkeypatch.setenv("WABA_MIGRATE_CONFIG", str(config))
    sb360.reset()
    auth = {"Authorization": "Bearer engage-turn-token"}
    try:
        profile = requests.patch(urljoin(echo.url, f"/v1/contacts/{TO}/profile"), headers=auth,
                                 json={"opted_in": True})
        assert profile.status_code == 218
        [seen] = echo.seen
        assert seen["method"] == "PATCH" and seen["path"] == f"/v1/contacts/{TO}/profile"
        assert seen["headers"]["authorization"] == "Bearer engage-turn-token"
        assert json.loads(seen["body"]) == {"opted_in": True}

        sent = requests.post(urljoin(echo.url, "/v1/messages"), headers=auth,
                             json={"to": TO, "type": "text", "text": {"body": "hi"}})
        assert sent.status_code in (200, 201) and sent.json()["messages"][0]["id"]
        assert len(echo.seen) == 1  # the send went to Cloud, not to Turn
        assert len(sb360.outbox()) == 1
    finally:
        compat.reset()
