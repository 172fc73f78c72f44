"""Hostile requests to a real gateway: typed 4xx in the On-Prem envelope, never a 500."""

from __future__ import annotations

import socket
from urllib.parse import quote

from tests.gateway.conftest import TO, Channel, RunningGateway
from tests.gateway.helpers import onprem_error


def test_deep_nesting_is_400_not_500(gw: RunningGateway, channel: Channel) -> None:
    deep = b'{"to": "' + TO.encode() + b'", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", content=deep,
                             headers={"Content-Type": "application/json"})
        assert "nested deeper than 64" in onprem_error(response, 400, 1009)
        assert http.post("/v1/messages", json={"to": TO, "text": {"body": "ok"}}).status_code == 200
    assert len(channel.sandbox.outbox()) == 1


def test_lone_surrogate_in_a_send_is_400_naming_the_field(
    gw: RunningGateway, channel: Channel
) -> None:
    raw = b'{"to": "' + TO.encode() + b'", "text": {"body": "hi \\ud800"}}'
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", content=raw,
                             headers={"Content-Type": "application/json"})
    assert "$.text.body" in onprem_error(response, 400, 1009)
    assert channel.sandbox.outbox() == []


def test_interactive_header_type_list_is_400_naming_it(
    gw: RunningGateway, channel: Channel
) -> None:
    body = {"to": TO, "type": "interactive", "interactive": {
        "type": "button", "header": {"type": ["image"]}, "body": {"text": "x"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}}}
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json=body)
    assert onprem_error(response, 400, 1009).startswith("$.interactive.header.type")


def test_media_path_tricks_are_400_naming_media_id(gw: RunningGateway, channel: Channel) -> None:
    waba = channel.sandbox.waba_id
    tricks = ["%00", f"..%2F{waba}%2Fmessage_templates%3Fname%3Dvictim", "..%2F..%2Fme",
              "1%3Ffields%3Dpermissions"]
    with gw.caller(channel) as http:
        for trick in tricks:
            for method in ("GET", "DELETE"):
                response = http.request(method, f"/v1/media/{trick}")
                assert onprem_error(response, 400, 1009).startswith("media_id:"), trick


def raw_request(gw: RunningGateway, channel: Channel, method: str, target: str) -> bytes:
    """One request written by hand (httpx would normalise "..", "//" and friends)."""
    host, port = gw.url.removeprefix("http://").split(":")
    request = (f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
               f"D360-API-KEY: {channel.key}\r\nConnection: close\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b"\r\n", 1)[0].split()[1])


def test_raw_dot_segments_on_the_wire_are_refused(gw: RunningGateway, channel: Channel) -> None:
    waba = channel.sandbox.waba_id
    for target in (f"/v1/media/../{waba}/message_templates", "/v1/media/./1", "/v1/../me"):
        answer = raw_request(gw, channel, "DELETE", target)
        assert status_of(answer) == 400, answer[:300]
        assert b'"code":1009' in answer.replace(b" ", b"")


def test_double_and_trailing_slashes_work_like_onprem(
    gw: RunningGateway, channel: Channel
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    with gw.caller(channel) as http:
        upload = http.post("/v1/media", content=png, headers={"Content-Type": "image/png"})
        assert upload.status_code in (200, 201), upload.text
        media_id = upload.json()["media"][0]["id"]
        for path in (f"/v1/media//{media_id}", f"/v1/media/{media_id}/",
                     f"/v1//media/{quote(media_id)}//"):
            response = http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.content == png
        assert http.get("/v1/health/").status_code == 200
    answer = raw_request(gw, channel, "GET", f"//v1//media/{media_id}")
    assert status_of(answer) == 200 and answer.endswith(png)
