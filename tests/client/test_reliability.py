"""Faults injected through the sandbox: what is resent, what is not, and the outbox count."""

from __future__ import annotations

import time

import pytest

from shim import AsyncClient, Client
from shim.client import OutcomeUnknown
from shim.client.pacing import PairLimit
from shim.config import parse_config
from shim.sandbox import RunningSandbox
from tests.client.conftest import channel_table, config_for

TO = "4915112345678"


def only_sent(sb: RunningSandbox) -> dict:  # type: ignore[type-arg]
    outbox = sb.outbox()
    assert len(outbox) == 1, outbox
    return outbox[0]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_cloud_refusals_are_retried_and_sent_exactly_once(
    cloud_sandbox: RunningSandbox, status: int
) -> None:
    cloud_sandbox.fault(status, count=2, path="/messages")
    with Client(config_for(cloud_sandbox)) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "hi"}})
    assert response.status_code == 200 and response.attempts == 3
    assert only_sent(cloud_sandbox)["id"] == response.json()["messages"][0]["id"]


def test_onprem_429_and_503_are_retried_but_a_bare_500_is_outcome_unknown(
    sbonprem: RunningSandbox,
) -> None:
    sbonprem.reset()
    with Client(config_for(sbonprem)) as client:
        sbonprem.fault(429, path="/messages")
        sbonprem.fault(503, path="/messages")
        assert client.send_text(TO, "a")
        assert len(sbonprem.outbox()) == 1
        sbonprem.fault(500, path="/messages")
        with pytest.raises(OutcomeUnknown) as exc:
            client.send_text(TO, "b")
    assert exc.value.response.attempts == 1
    assert len(sbonprem.outbox()) == 1  # the 500 was not resent


def test_retries_give_up_with_the_translated_error(cloud_sandbox: RunningSandbox) -> None:
    cloud_sandbox.fault(429, count=10, path="/messages")
    with Client(config_for(cloud_sandbox)) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "hi"}})
    assert response.attempts == 4
    assert response.status_code == 429 and response.json()["errors"][0]["code"] == 429
    assert cloud_sandbox.outbox() == []


def test_dropped_connection_after_accept_is_outcome_unknown_and_never_resent(
    any_sandbox: RunningSandbox,
) -> None:
    any_sandbox.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(any_sandbox)) as client, pytest.raises(OutcomeUnknown) as exc:
        client.send_text(TO, "did it go?")
    key = exc.value.idempotency_key
    assert key is not None and key in str(exc.value)
    assert exc.value.response.status_code == 504
    assert exc.value.response.headers["Idempotency-Key"] == key
    sent = only_sent(any_sandbox)  # accepted once, not resent
    if any_sandbox.api.value != "onprem":
        assert sent["body"]["biz_opaque_callback_data"] == key


def test_read_timeout_is_outcome_unknown(cloud_sandbox: RunningSandbox) -> None:
    cfg = config_for(cloud_sandbox, timeouts={"read": 0.3})
    cloud_sandbox.fault(delay_ms=900, path="/messages")
    with Client(cfg, raise_on_unknown=False) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "slow"}})
    assert response.outcome_unknown and response.status_code == 504
    assert "ReadTimeout" in (response.outcome_detail or "")
    assert response.attempts == 1  # sent once, never resent
    # The sandbox accepts the slow send once its delay is over; the client has
    # already given up on it, so exactly one message exists, now and later.
    deadline = time.monotonic() + 15
    while not cloud_sandbox.outbox() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(cloud_sandbox.outbox()) == 1


def test_lost_response_on_a_safe_call_is_retried(cloud_sandbox: RunningSandbox) -> None:
    cloud_sandbox.fault(drop_after_accept=True, method="GET")
    with Client(config_for(cloud_sandbox)) as client:
        response = client.get("/v1/health")
    assert response.status_code == 200 and response.attempts == 2


def test_unreachable_backend_is_retried_then_503_nothing_sent() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    table = {
        "phone_number": "+15550000001",
        "backend": "360dialog",
        "api_key": "env:T_D360_KEY",
        "base_url": f"http://127.0.0.1:{port}",
        "retry": {"max_attempts": 3, "backoff_base": 0.01, "backoff_max": 0.05},
    }
    with Client(parse_config({"channels": {"x": table}})) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "hi"}})
    assert response.status_code == 503 and response.attempts == 3
    error = response.json()["errors"][0]
    assert error["code"] == 1011 and "nothing was sent" in error["details"]


def test_same_idempotency_key_is_sent_once(cloud_sandbox: RunningSandbox) -> None:
    with Client(config_for(cloud_sandbox)) as client:
        first = client.send_text(TO, "once", idempotency_key="order-42-shipped")
        again = client.post(
            "/v1/messages",
            json={"to": TO, "text": {"body": "once"}},
            headers={"Idempotency-Key": "order-42-shipped"},
        )
    assert again.replayed and again.json()["messages"][0]["id"] == first
    sent = only_sent(cloud_sandbox)
    assert sent["body"]["biz_opaque_callback_data"] == "order-42-shipped"


def test_callers_own_callback_data_is_kept_and_used_as_the_key(
    cloud_sandbox: RunningSandbox,
) -> None:
    body = {"to": TO, "text": {"body": "x"}, "biz_opaque_callback_data": "crm-ticket-9"}
    with Client(config_for(cloud_sandbox)) as client:
        response = client.post("/v1/messages", json=body)
        assert client.post("/v1/messages", json=body).replayed
    assert response.idempotency_key == "crm-ticket-9"
    assert only_sent(cloud_sandbox)["body"]["biz_opaque_callback_data"] == "crm-ticket-9"


def test_pair_rate_error_backs_off_that_recipient_and_sends_once_each(
    sb360: RunningSandbox,
) -> None:
    sb360.reset()
    sb360.configure(pair_rate_limit={"burst": 2, "interval_s": 0.3})
    with Client(config_for(sb360)) as client:  # client-side burst 45: the sandbox refuses #3
        responses = [
            client.post("/v1/messages", json={"to": TO, "text": {"body": f"m{i}"}})
            for i in range(3)
        ]
    assert [r.attempts for r in responses] == [1, 1, 2]  # #3 waited 4^0 s, then went through
    ids = [r.json()["messages"][0]["id"] for r in responses]
    assert [m["id"] for m in sb360.outbox()] == ids


def test_pair_limiter_prevents_pair_rate_errors(sb360: RunningSandbox) -> None:
    sb360.reset()
    sb360.configure(pair_rate_limit={"burst": 2, "interval_s": 0.25})
    # The client limit is stricter than the server's, as in production: jitter (here, a
    # loaded machine delaying one send and not the next) must not turn an on-the-edge
    # send into a 131056. Without the limiter the third send breaks the burst of 2.
    with Client(config_for(sb360), pair_limit=PairLimit(0.5, 2)) as client:
        results = client.send_many([{"to": TO, "text": {"body": f"m{i}"}} for i in range(5)])
    assert all(r.ok for r in results) and all(r.response.attempts == 1 for r in results)
    assert [m["body"]["text"]["body"] for m in sb360.outbox()] == [f"m{i}" for i in range(5)]


@pytest.mark.anyio
async def test_async_client_retries_and_reports_unknown(sbmeta: RunningSandbox) -> None:
    await sbmeta.areset()
    await sbmeta.afault(503, path="/messages")
    async with AsyncClient(config_for(sbmeta)) as client:
        message_id = await client.send_text(TO, "retried")
        await sbmeta.afault(drop_after_accept=True, path="/messages")
        with pytest.raises(OutcomeUnknown):
            await client.send_text(TO, "unknown")
    outbox = await sbmeta.aoutbox()
    assert [m["id"] for m in outbox][:1] == [message_id] and len(outbox) == 2


def test_other_channel_keeps_flowing(sb360: RunningSandbox, sbmeta: RunningSandbox) -> None:
    sb360.reset()
    sbmeta.reset()
    cfg = parse_config({"channels": {"a": channel_table(sb360), "b": channel_table(sbmeta)}})
    sb360.fault(drop_after_accept=True, path="/messages")
    with Client(cfg, raise_on_unknown=False) as client:
        assert client.post(
            "/v1/messages", channel="a", json={"to": TO, "text": {"body": "x"}}
        ).outcome_unknown
        assert client.send_text(TO, "y", channel="b")
    assert len(sb360.outbox()) == 1 and len(sbmeta.outbox()) == 1
