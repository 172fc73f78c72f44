"""GET /v1/health as 360dialog documented it: cached per channel, single or HA shape."""

from __future__ import annotations

import pytest

from shim.client import Dispatcher, Router
from shim.sandbox import RunningSandbox
from tests.client.conftest import config_for


class Clock:
    """A monotonic clock the test moves by hand (the router's pacing clock too)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(d: Dispatcher) -> dict[str, object]:
    response = d.dispatch("GET", "/v1/health")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()["health"]
    return body


def test_health_is_cached_for_health_cache_s(cloud_sandbox: RunningSandbox) -> None:
    clock = Clock()
    router = Router(config_for(cloud_sandbox, health_cache_s=300), clock=clock)
    cloud_sandbox.configure(can_send_message="AVAILABLE")
    with Dispatcher(router) as d:
        assert health(d)["gateway_status"] == "connected"
        cloud_sandbox.configure(can_send_message="BLOCKED")
        clock.now += 299
        cached = d.dispatch("GET", "/v1/health")
        assert cached.json()["health"]["gateway_status"] == "connected"
        assert cached.headers["Age"] == "299"
        clock.now += 1
        assert health(d)["gateway_status"] == "disconnected"
    cloud_sandbox.configure(can_send_message="AVAILABLE")


def test_health_cache_0_asks_the_backend_every_time(cloud_sandbox: RunningSandbox) -> None:
    router = Router(config_for(cloud_sandbox, health_cache_s=0), clock=Clock())
    cloud_sandbox.configure(can_send_message="AVAILABLE")
    with Dispatcher(router) as d:
        assert health(d)["gateway_status"] == "connected"
        cloud_sandbox.configure(can_send_message="BLOCKED")
        assert health(d)["gateway_status"] == "disconnected"
    cloud_sandbox.configure(can_send_message="AVAILABLE")


def test_failed_health_calls_are_not_cached(cloud_sandbox: RunningSandbox) -> None:
    router = Router(config_for(cloud_sandbox, retry={"max_attempts": 1}), clock=Clock())
    with Dispatcher(router) as d:
        cloud_sandbox.fault(500, method="GET")
        assert d.dispatch("GET", "/v1/health").status_code >= 500
        assert health(d)["gateway_status"] == "connected"
    cloud_sandbox.clear_faults()


@pytest.mark.parametrize("shape", ["single", "ha"])
def test_health_shape(cloud_sandbox: RunningSandbox, shape: str) -> None:
    router = Router(config_for(cloud_sandbox, health_shape=shape), clock=Clock())
    with Dispatcher(router) as d:
        body = health(d)
    if shape == "single":
        assert body["gateway_status"] == "connected"
    else:
        [(node, entry)] = body.items()
        assert ":" in node and isinstance(entry, dict)
        assert entry["role"] == "primary_master" and entry["gateway_status"] == "connected"
