"""What the gateway refuses, always in the On-Prem error envelope, and it keeps serving."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shim.gateway import BodyLimits, GatewayOptions
from shim.sandbox import RunningSandbox
from tests.gateway.conftest import TO, Channel, RunningGateway, running_gateway
from tests.gateway.helpers import onprem_error

TEXT = {"to": TO, "type": "text", "text": {"body": "still here"}}


def still_serving(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        assert http.post("/v1/messages", json=TEXT).status_code == 200


@pytest.mark.parametrize("headers", [
    {"D360-API-KEY": "not-a-configured-key"},
    {"Authorization": "Bearer not-a-configured-key"},
    {"Authorization": "Basic bm90OmNvbmZpZ3VyZWQ="},
    {},
])
def test_unknown_or_missing_key_is_401_1005_and_nothing_is_sent(
    gw: RunningGateway, headers: dict[str, str]
) -> None:
    with gw.caller(**headers) as http:
        send = http.post("/v1/messages", json=TEXT)
        unknown_path = http.get("/v1/no/such/thing")
    details = onprem_error(send, 401, 1005)
    assert "D360-API-KEY" in details
    onprem_error(unknown_path, 401, 1005)  # the key is checked before anything else
    assert gw.shop.sandbox.outbox() == [] and gw.brand.sandbox.outbox() == []
    assert "X-Waba-Migrate-Channel" not in send.headers


def test_unsupported_endpoints_are_501_saying_what_replaces_them(
    gw: RunningGateway, channel: Channel
) -> None:
    with gw.caller(channel) as http:
        login = http.post("/v1/users/login", content=b"")
        backup = http.post("/v1/settings/backup", json={"password": "x"})
        shards = http.post("/v1/account/shards", json={"shard_count": 2})
        reset_settings = http.delete("/v1/settings/application")
    assert "Instead:" in onprem_error(login, 501, 501)
    assert "api_key" in onprem_error(login, 501, 501)
    onprem_error(backup, 501, 501)
    assert "throughput" in onprem_error(shards, 501, 501)
    assert "webhooks.url" in onprem_error(reset_settings, 501, 501)
    assert channel.sandbox.outbox() == []


def test_unknown_paths_are_404_1006(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        under_v1 = http.get("/v1/no/such/thing")
        elsewhere = http.post("/api/messages", json=TEXT)
        root = http.get("/")
        wrong_method = http.post("/healthz")
    assert "/v1/no/such/thing" in onprem_error(under_v1, 404, 1006)
    assert "/v1/" in onprem_error(elsewhere, 404, 1006)
    onprem_error(root, 404, 1006)
    onprem_error(wrong_method, 405, 1006)
    still_serving(gw, channel)


def test_malformed_json_is_a_located_400(gw: RunningGateway, channel: Channel) -> None:
    with gw.caller(channel) as http:
        broken = http.post("/v1/messages", content=b'{"to": "4915',
                           headers={"Content-Type": "application/json"})
        not_utf8 = http.post("/v1/messages", content=b"\xff\xfe{}",
                             headers={"Content-Type": "application/json"})
    assert onprem_error(broken, 400, 1009).startswith("$:")
    assert onprem_error(not_utf8, 400, 1009).startswith("$")
    assert channel.sandbox.outbox() == []
    still_serving(gw, channel)


@pytest.mark.parametrize("body, where", [
    ({"to": TO, "type": "text", "text": "not an object"}, "$.text"),
    ({"to": 4915112345678, "type": "text", "text": {"body": "x"}}, "$.to"),
    ({"to": TO, "type": "text", "text": {"body": 42}}, "body"),  # refused by the backend
    (["not", "an", "object"], "$"),
])
def test_wrong_types_name_the_field(
    gw: RunningGateway, channel: Channel, body: object, where: str
) -> None:
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json=body)
    assert response.status_code == 400, response.text
    assert where in response.json()["errors"][0]["details"]
    assert channel.sandbox.outbox() == []


def test_json_body_over_1mb_is_413(gw: RunningGateway, channel: Channel) -> None:
    huge = {"to": TO, "type": "text", "text": {"body": "x" * (1024 * 1024)}}
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json=huge)
    assert "1048576" in onprem_error(response, 413, 1009)
    assert channel.sandbox.outbox() == []
    still_serving(gw, channel)


def test_chunked_body_without_length_is_cut_off_too(
    gw: RunningGateway, channel: Channel
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"to": "' + TO.encode() + b'", "text": {"body": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}}'

    with gw.caller(channel) as http:
        response = http.post("/v1/messages", content=chunks(),
                             headers={"Content-Type": "application/json"})
    onprem_error(response, 413, 1009)
    still_serving(gw, channel)


@pytest.fixture
def small_media_gw(
    config_path: Path, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> Iterator[RunningGateway]:
    options = GatewayOptions(limits=BodyLimits(json=4096, media=64 * 1024))
    with running_gateway(config_path, sb360, sbmeta, options) as gateway:
        yield gateway


def test_media_has_its_own_larger_limit(small_media_gw: RunningGateway) -> None:
    gw, channel = small_media_gw, small_media_gw.shop
    with gw.caller(channel) as http:
        # Above the JSON limit but within the media limit: accepted.
        ok = http.post("/v1/media", content=b"\xff\xd8" + b"j" * 32_000,
                       headers={"Content-Type": "image/jpeg"})
        too_big = http.post("/v1/media", content=b"\xff\xd8" + b"j" * 70_000,
                            headers={"Content-Type": "image/jpeg"})
        json_too_big = http.post("/v1/messages", json={**TEXT, "text": {"body": "x" * 5000}})
    assert ok.status_code in (200, 201), ok.text
    details = onprem_error(too_big, 413, 1009)
    assert "65536" in details and "media upload" in details
    assert "4096" in onprem_error(json_too_big, 413, 1009)
    still_serving(gw, channel)


def test_default_limits_take_a_2mb_upload(gw: RunningGateway, channel: Channel) -> None:
    data = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    with gw.caller(channel) as http:
        uploaded = http.post("/v1/media", content=data,
                             headers={"Content-Type": "application/pdf"})
        media_id = uploaded.json()["media"][0]["id"]
        assert http.get(f"/v1/media/{media_id}").content == data


def test_unset_backend_secret_is_an_envelope_naming_the_variable(
    gw: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GW_META_TOKEN")
    with gw.caller(gw.brand) as http:
        response = http.post("/v1/messages", json=TEXT)
    details = onprem_error(response, 500, 1014)
    assert "GW_META_TOKEN" in details
    assert gw.brand.sandbox.outbox() == []


def test_body_cut_short_by_the_caller_is_never_forwarded(
    gw: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    import socket
    import time
    from urllib.parse import urlsplit

    caplog.set_level(logging.INFO, logger="shim.gateway.access")
    complete_json = json.dumps(TEXT).encode()  # valid on its own, but the length promises more
    url = urlsplit(gw.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            + f"D360-API-KEY: {gw.shop.key}\r\n".encode()
            + f"Content-Length: {len(complete_json) + 500}\r\n\r\n".encode()
            + complete_json
        )
    deadline = time.monotonic() + 5
    while not any('" 499 ' in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "no access line for the cut-short call"
        time.sleep(0.02)
    assert gw.shop.sandbox.outbox() == []
    still_serving(gw, gw.shop)


def test_the_profile_photo_bytes_are_501_and_the_link_still_answers(
    gw: RunningGateway, channel: Channel
) -> None:
    # A pending fault on the profile read counts every call that reaches the backend.
    channel.sandbox.fault(delay_ms=1, path="whatsapp_business_profile")

    def pending() -> list[object]:
        listed = httpx.get(f"{channel.sandbox.base_url}/_sandbox/faults", trust_env=False)
        faults: list[object] = listed.json()["faults"]
        return faults

    with gw.caller(channel) as http:
        bytes_asked = http.get("/v1/settings/profile/photo")
        untouched = pending()
        link = http.get("/v1/settings/profile/photo?format=link")
    details = onprem_error(bytes_asked, 501, 501)
    assert "only exposes a URL" in details and "?format=link" in details
    assert len(untouched) == 1  # the refused call never reached the backend
    assert link.status_code == 200, link.text
    assert link.json()["settings"]["profile"]["photo"]["link"].startswith("https://")
    assert pending() == []  # the link call did
