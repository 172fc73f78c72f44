"""shim.answers.onprem_answer: a real Cloud answer (sandbox, loopback) read in On-Prem shape.

The request is the one ``waba-migrate rewrite`` writes for a per-channel health
check: ``cloud_request`` finds the channel by the old key the code still sends,
the call goes to that channel's (sandbox) Cloud base, and the answer is handed
back as the On-Prem caller reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shim.answers import onprem_answer
from shim.channels import cloud_request
from shim.sandbox import RunningSandbox, running_asgi
from tests.compat.conftest import ONPREM_HOST, SHOP_OLD_KEY

LEGACY_HEADERS = {"D360-API-KEY": SHOP_OLD_KEY}
LEGACY_URL = ONPREM_HOST + "/v1/health"


def test_requests_health_answer_reads_as_onprem(config_file: Path, sb360: RunningSandbox
                                                ) -> None:
    sb360.configure(can_send_message="BLOCKED")
    cloud = requests.get(**cloud_request("360dialog", "/health_status", LEGACY_HEADERS,
                                         LEGACY_URL), timeout=10)
    assert "health_status" in cloud.json()  # the Cloud shape came back from the sandbox
    answer = onprem_answer(cloud, "GET", "/v1/health", "360dialog")
    assert isinstance(answer, requests.Response)
    assert answer.status_code == 200
    answer.raise_for_status()
    assert answer.json()["health"]["gateway_status"] == "disconnected"
    assert answer.headers["content-type"] == "application/json"
    assert answer.url == cloud.url


def test_httpx_health_answer_reads_as_onprem(config_file: Path, sb360: RunningSandbox) -> None:
    sb360.configure(can_send_message="AVAILABLE")
    cloud = httpx.get(**cloud_request("360dialog", "/health_status", LEGACY_HEADERS,
                                      LEGACY_URL), timeout=10)
    answer = onprem_answer(cloud, "GET", "/v1/health", "360dialog")
    assert isinstance(answer, httpx.Response)
    assert answer.status_code == 200
    assert answer.json()["health"]["gateway_status"] == "connected"
    assert answer.request is cloud.request


def test_a_cloud_error_becomes_the_onprem_error_envelope(config_file: Path,
                                                         sb360: RunningSandbox) -> None:
    sb360.fault(503, path="/health_status")
    cloud = requests.get(**cloud_request("360dialog", "/health_status", LEGACY_HEADERS,
                                         LEGACY_URL), timeout=10)
    assert cloud.status_code == 503
    answer = onprem_answer(cloud, "GET", "/v1/health", "360dialog")
    assert answer.status_code == 503
    errors = answer.json()["errors"]
    assert isinstance(errors, list) and errors and "code" in errors[0]


async def _proxy_page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)


@pytest.fixture(scope="module")
def proxy_url() -> Iterator[str]:
    """A proxy in front of the API that answers with an HTML page."""
    app = Starlette(routes=[Route("/{path:path}", _proxy_page)])
    with running_asgi(app) as url:
        yield url


def test_a_body_that_is_not_json_comes_back_as_it_came(proxy_url: str) -> None:
    plain = requests.get(proxy_url + "/health_status", timeout=10)
    assert plain.status_code == 502
    assert onprem_answer(plain, "GET", "/v1/health", "360dialog") is plain
    page = httpx.get(proxy_url + "/health_status", timeout=10)
    assert onprem_answer(page, "GET", "/v1/health", "360dialog") is page
