"""The sandbox needs no credentials for its control routes: bounded bodies and faults."""

from __future__ import annotations

import socket

import httpx
import pytest

from shim.sandbox import RunningSandbox
from shim.sandbox.bodies import MAX_BODY_BYTES
from tests.sandbox.helpers import LOOPBACK, text_send


def test_deep_json_is_400_not_500(cloud: RunningSandbox, api: httpx.Client) -> None:
    deep = b'{"messaging_product": "whatsapp", "to": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000
    response = api.post("/messages", content=deep + b"}",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nested deeper" in response.text
    control = LOOPBACK.post(f"{cloud.base_url}/_sandbox/faults", content=b"[" * 100_000)
    assert control.status_code == 400 and "nested deeper" in control.text


def test_lone_surrogates_are_400(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    raw = b'{"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", ' \
          b'"text": {"body": "\\udfff"}}'
    response = api.post("/messages", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "$.text.body" in response.text
    assert cloud.outbox() == []


def test_a_body_declared_over_the_cap_is_413_before_it_is_read(cloud: RunningSandbox) -> None:
    host, port = cloud.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /_sandbox/inbound HTTP/1.1\r\nHost: {host}\r\n"
                      f"Content-Type: application/json\r\n"
                      f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n{{").encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_json_body_over_its_cap_is_refused(cloud: RunningSandbox, api: httpx.Client) -> None:
    big = text_send(body="x" * (2 * 1024 * 1024))
    response = api.post("/messages", json=big)
    assert response.status_code in (400, 413) and "limit" in response.text


@pytest.mark.parametrize("fault", [
    {"status": 503, "count": 10**12},
    {"delay_ms": 10**9},
    {"status": 503, "path": "x" * 10_000},
    {"status": 503, "count": "many"},
])
def test_fault_parameters_are_capped(cloud: RunningSandbox, fault: dict[str, object]) -> None:
    response = LOOPBACK.post(f"{cloud.base_url}/_sandbox/faults", json=fault)
    assert response.status_code == 400, response.text
    assert LOOPBACK.get(f"{cloud.base_url}/_sandbox/faults").json()["faults"] == []


def test_the_fault_queue_is_bounded(cloud: RunningSandbox) -> None:
    url = f"{cloud.base_url}/_sandbox/faults"
    try:
        statuses = [LOOPBACK.post(url, json={"status": 503, "path": "/never"}).status_code
                    for _ in range(1001)]
        assert statuses[:1000] == [200] * 1000 and statuses[1000] == 400
    finally:
        LOOPBACK.delete(url)
