"""Faults injected for real in the sandbox, seen through the gateway by a plain HTTP caller."""

from __future__ import annotations

import socket
from pathlib import Path

from shim.config import load_config
from shim.gateway import create_app
from shim.sandbox.runner import running_asgi
from tests.gateway.conftest import TO, Channel, RunningGateway
from tests.gateway.helpers import onprem_error

TEXT = {"to": TO, "type": "text", "text": {"body": "exactly once"}}


def test_backend_503_then_success_is_retried_and_sent_once(
    gw: RunningGateway, channel: Channel
) -> None:
    channel.sandbox.fault(503, count=1, path="/messages")
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json=TEXT)
    assert response.status_code == 200, response.text
    [sent] = channel.sandbox.outbox()
    assert response.json()["messages"][0]["id"] == sent["id"]


def test_dropped_connection_after_accept_is_504_outcome_unknown_sent_once(
    gw: RunningGateway, channel: Channel
) -> None:
    channel.sandbox.fault(drop_after_accept=True, path="/messages")
    with gw.caller(channel) as http:
        response = http.post("/v1/messages", json=TEXT)
    details = onprem_error(response, 504, 1000)
    key = response.headers["Idempotency-Key"]
    assert "outcome unknown" in details and key in details
    [sent] = channel.sandbox.outbox()  # accepted once by the backend, never resent
    assert sent["body"]["biz_opaque_callback_data"] == key


def test_callers_idempotency_key_header_is_honoured(
    gw: RunningGateway, channel: Channel
) -> None:
    with gw.caller(channel, **{"Idempotency-Key": "order-4711-confirmation"}) as http:
        first = http.post("/v1/messages", json=TEXT)
        again = http.post("/v1/messages", json=TEXT)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["X-Waba-Migrate-Replayed"] == "true"
    [sent] = channel.sandbox.outbox()
    assert sent["body"]["biz_opaque_callback_data"] == "order-4711-confirmation"


def test_unreachable_backend_is_503_1011_and_the_gateway_keeps_serving(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    path = tmp_path / "dead.toml"
    path.write_text(f"""
[channels.gone]
phone_number = "+4915100000009"
backend = "360dialog"
base_url = "http://127.0.0.1:{dead}"
api_key = "env:GW_D360_KEY"
legacy_api_key = "env:GW_LEGACY_SHOP"

[channels.gone.retry]
max_attempts = 2
backoff_base = 0.01
backoff_max = 0.05
""", encoding="utf-8")
    from tests.gateway.conftest import LEGACY_SHOP

    with running_asgi(create_app(load_config(path))) as url:
        import httpx

        with httpx.Client(base_url=url, headers={"D360-API-KEY": LEGACY_SHOP},
                          trust_env=False, verify=False, timeout=15) as http:
            first = http.post("/v1/messages", json=TEXT)
            second = http.get("/v1/health")
            metrics = http.get("/metrics").text
    assert "nothing was sent" in onprem_error(first, 503, 1011)
    onprem_error(second, 503, 1011)
    assert 'waba_gateway_responses_total{channel="gone",class="5xx"} 2' in metrics
