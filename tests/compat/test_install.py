"""``shim.compat.install()``: libraries that import requests/httpx themselves are routed too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import requests

from shim import compat
from shim.client import Router
from shim.config import parse_config
from shim.sandbox import running_sandbox
from tests.compat.conftest import TO, Caller, Echo

TEXT = {"to": TO, "type": "text", "text": {"body": "from a third-party library"}}


@pytest.fixture
def installed(config_file: Path) -> Iterator[None]:
    compat.install()
    try:
        yield
    finally:
        compat.uninstall()


def test_requests_module_functions_and_sessions_before_and_after(
    route: Caller, echo: Echo
) -> None:
    before = requests.Session()  # created before install, as a library would at import
    compat.install()
    try:
        after = requests.Session()
        after.mount("https://", requests.adapters.HTTPAdapter(max_retries=2))
        answers = [
            requests.post(f"{route.base}/v1/messages", json=TEXT, headers=route.auth),
            before.post(f"{route.base}/v1/messages", json=TEXT, headers=route.auth),
            after.post(f"{route.base}/v1/messages", json=TEXT, headers=route.auth),
        ]
        other = requests.get(f"{echo.url}/unrelated")
    finally:
        compat.uninstall()
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    sent = {m["id"] for m in route.outbox()}
    assert {a.json()["messages"][0]["id"] for a in answers} == sent and len(sent) == 3
    assert other.status_code == 218 and echo.seen[0]["path"] == "/unrelated"


def test_httpx_clients_and_module_functions(route: Caller, echo: Echo, installed: None) -> None:
    with httpx.Client(headers=route.auth) as client:
        by_client = client.post(f"{route.base}/v1/messages", json=TEXT)
    by_function = httpx.post(f"{route.base}/v1/messages", json=TEXT, headers=route.auth)
    other = httpx.get(f"{echo.url}/plain")

    async def send_async() -> httpx.Response:
        async with httpx.AsyncClient(headers=route.auth) as client:
            return await client.post(f"{route.base}/v1/messages", json=TEXT)

    by_async = anyio.run(send_async)
    assert [r.status_code for r in (by_client, by_function, by_async)] == [200, 200, 200]
    assert len(route.outbox()) == 3
    assert other.status_code == 218


def test_uninstall_restores_the_libraries(route: Caller, config_file: Path) -> None:
    originals = (requests.Session.get_adapter, httpx.Client._transport_for_url,
                 httpx.AsyncClient._transport_for_url)
    compat.install()
    compat.install()  # idempotent
    assert compat.installed()
    compat.uninstall()
    compat.uninstall()
    assert not compat.installed()
    assert originals == (requests.Session.get_adapter, httpx.Client._transport_for_url,
                         httpx.AsyncClient._transport_for_url)
    with pytest.raises(requests.ConnectionError):  # back to the (unreachable) old host
        requests.post("http://127.0.0.1:9/v1/messages", json=TEXT, timeout=2)


def test_an_onprem_backend_is_called_without_being_intercepted_again(tmp_path: Path) -> None:
    """A channel still on On-Prem: the shim's own call to the On-Prem host goes out as is."""
    with running_sandbox("onprem", api_key="onprem-key-for-install-0123",
                         open_windows=True) as sb:
        router = Router(parse_config({"channels": {"node": {
            "phone_number": "+4915100000003", "backend": "onprem", "base_url": sb.base_url,
            "legacy_base_url": sb.base_url, "onprem_api_key": "env:CT_INSTALL_ONPREM",
        }}}, "t.toml"), environ={"CT_INSTALL_ONPREM": "onprem-key-for-install-0123"})
        compat.install(router=router)
        try:
            sent = requests.post(f"{sb.base_url}/v1/messages", json=TEXT, timeout=10)
        finally:
            compat.uninstall()
            compat.reset()
        assert sent.status_code in (200, 201), sent.text
        assert sent.headers["X-Waba-Migrate-Backend"] == "onprem"
        assert len(sb.outbox()) == 1




def test_aiohttp_sessions_before_and_after_and_aiohttp_request(
    route: Caller, echo: Echo, config_file: Path
) -> None:
    """Plain aiohttp, as a library imports it: the session made before install(), one
    made after with a middleware of its own (it runs around the shim's and sees the
    On-Prem answer), and the module's request(); other URLs go out untouched."""
    import aiohttp

    seen: list[tuple[str, int]] = []

    async def own(request: aiohttp.ClientRequest,
                  handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        response = await handler(request)
        seen.append((request.url.path, response.status))
        return response

    async def send() -> tuple[list[tuple[int, str]], int]:
        answers: list[tuple[int, str]] = []
        before = aiohttp.ClientSession(headers=route.auth)
        compat.install()
        try:
            after = aiohttp.ClientSession(headers=route.auth, middlewares=(own,))
            for session in (before, after):
                async with session.post(f"{route.base}/v1/messages", json=TEXT) as resp:
                    answers.append((resp.status, (await resp.json())["messages"][0]["id"]))
            async with aiohttp.request("POST", f"{route.base}/v1/messages", json=TEXT,
                                       headers=route.auth) as resp:
                answers.append((resp.status, (await resp.json())["messages"][0]["id"]))
            async with after.get(f"{echo.url}/aio-plain") as resp:
                other = resp.status
            await before.close()
            await after.close()
        finally:
            compat.uninstall()
        return answers, other

    answers, other = anyio.run(send)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert {m["id"] for m in route.outbox()} == {wamid for _, wamid in answers}
    assert seen == [("/v1/messages", 200), ("/aio-plain", 218)]
    assert other == 218 and echo.seen[-1]["path"] == "/aio-plain"


def test_uninstall_puts_aiohttp_back(route: Caller, config_file: Path) -> None:
    import aiohttp

    original = aiohttp.ClientSession._request
    compat.install()
    assert aiohttp.ClientSession._request is not original
    compat.uninstall()
    assert aiohttp.ClientSession._request is original

    async def send() -> None:
        async with aiohttp.ClientSession() as session:
            await session.post("http://127.0.0.1:9/v1/messages", json=TEXT)

    with pytest.raises(aiohttp.ClientConnectionError):  # back to the (unreachable) host
        anyio.run(send)
