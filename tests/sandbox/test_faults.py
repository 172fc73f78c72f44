"""Fault injection, for real: error statuses, delays, and dropped connections."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from shim.mapping.errors import ONPREM_ERRORS, cloud_to_onprem_code
from shim.sandbox import RunningSandbox
from tests.sandbox.helpers import LOOPBACK, text_send


def onprem_send(to: str = "4915112345678") -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": "hi"}}


@pytest.mark.parametrize(("status", "code"), [(429, 130429), (500, 131000), (503, 2)])
def test_status_fault_uses_graph_envelope(
    cloud: RunningSandbox, api: httpx.Client, status: int, code: int
) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(status)
    response = api.post("/messages", json=text_send())
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(f"(#{code})")
    assert cloud.outbox() == []  # a failed call records nothing
    assert api.post("/messages", json=text_send()).status_code == 200


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_fault_on_onprem_uses_onprem_envelope(onprem: RunningSandbox, status: int) -> None:
    onprem.configure(open_windows=True)
    onprem.fault(status)
    with onprem.client() as api:
        response = api.post("/messages", json=onprem_send())
    assert response.status_code == status
    error = response.json()["errors"][0]
    expected = cloud_to_onprem_code({429: 130429, 500: 131000, 503: 2}[status])
    assert error["code"] == expected
    assert error["title"] == ONPREM_ERRORS[expected].title
    assert onprem.outbox() == []


def test_fault_applies_to_the_next_n_calls_only(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    pending = cloud.fault(503, count=2)
    assert pending == [{"count": 2, "status": 503}]
    statuses = [api.post("/messages", json=text_send()).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert len(cloud.outbox()) == 1


def test_faults_do_not_touch_control_endpoints(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(500)
    assert cloud.outbox() == []  # control call: not faulted, fault still pending
    cloud.inbound("4915112345678", "hi")
    assert api.post("/messages", json=text_send()).status_code == 500


def test_fault_can_target_a_path(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(429, path="/media")
    assert api.post("/messages", json=text_send()).status_code == 200
    upload = api.post(
        "/media",
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("a.png", b"\x89PNG", "image/png")},
    )
    assert upload.status_code == 429


def test_delay_fault_makes_the_client_time_out_but_the_send_happens(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(delay_ms=400)
    with pytest.raises(httpx.ReadTimeout):
        api.post("/messages", json=text_send(), timeout=0.05)
    # the delayed request still completes server-side: the outcome-unknown case
    deadline = time.monotonic() + 5
    while not cloud.outbox():
        assert time.monotonic() < deadline, "delayed send never landed"
        time.sleep(0.02)
    assert api.post("/messages", json=text_send()).status_code == 200


def test_delay_combined_with_status(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(503, delay_ms=20)
    assert api.post("/messages", json=text_send()).status_code == 503


def test_drop_after_accept_records_then_drops_the_connection(
    cloud: RunningSandbox, api: httpx.Client
) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(drop_after_accept=True)
    request = text_send(body="did it arrive?")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/messages", json=request)
    outbox = cloud.outbox()
    assert [m["body"] for m in outbox] == [request]
    assert outbox[0]["id"].startswith("wamid.")
    # the client recovers on a fresh connection
    assert api.post("/messages", json=text_send()).status_code == 200


def test_drop_after_accept_on_onprem(onprem: RunningSandbox) -> None:
    onprem.configure(open_windows=True)
    onprem.fault(drop_after_accept=True, count=2)
    with onprem.client() as api:
        for _ in range(2):
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                api.post("/messages", json=onprem_send())
        assert api.post("/messages", json=onprem_send()).status_code == 200
    assert len(onprem.outbox()) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": 404}, "status"),
        ({"status": 429, "count": 0}, "count"),
        ({"status": 429, "count": "2"}, "count"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"drop_after_accept": "yes"}, "drop_after_accept"),
        ({"drop_after_accept": True, "status": 500}, "drop_after_accept"),
        ({"count": 3}, "body"),
        ({"status": 429, "colour": "red"}, "colour"),
        ([1], "body"),
    ],
)
def test_bad_fault_requests_name_the_field(d360: RunningSandbox, body: Any, field: str) -> None:
    response = LOOPBACK.post(f"{d360.base_url}/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field)
    assert LOOPBACK.get(f"{d360.base_url}/_sandbox/faults").json() == {"faults": []}


def test_reset_and_delete_clear_faults(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    cloud.fault(500, count=5)
    cloud.reset()
    cloud.configure(open_windows=True)
    assert api.post("/messages", json=text_send()).status_code == 200
    cloud.fault(500, count=5)
    cloud.clear_faults()
    assert api.post("/messages", json=text_send()).status_code == 200
