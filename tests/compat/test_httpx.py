"""httpx: the transports wired by hand, and ``from shim.compat import httpx``.

Same channels as the requests tests: 360dialog Cloud (``shop``) and Meta
(``clinic``) sandboxes on loopback, plus an unrelated echo server whose calls
must pass through untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx as real_httpx
import pytest

from shim.compat import AsyncShimTransport, ShimTransport, httpx
from shim.sandbox import RunningSandbox
from tests.compat.conftest import (
    NODE_HOST,
    ONPREM_HOST,
    PNG,
    SHOP_OLD_KEY,
    TO,
    Caller,
    Echo,
    assert_no_secret,
)

TEXT = {"to": TO, "type": "text", "text": {"body": "hello"}}


def only_id(route: Caller) -> str:
    outbox = route.outbox()
    assert len(outbox) == 1, outbox
    assert outbox[0]["body"]["messaging_product"] == "whatsapp"
    return str(outbox[0]["id"])


# -- sync ------------------------------------------------------------------------


def test_real_httpx_client_with_shim_transport_routes_onprem_and_falls_back(
    route: Caller, echo: Echo
) -> None:
    with real_httpx.Client(transport=ShimTransport(), headers=route.auth) as client:
        resp = client.post(route.base + "/v1/messages", json=TEXT)
        other = client.post(echo.url + "/v1/messages", json={"untouched": True})
    assert isinstance(resp, real_httpx.Response)
    assert resp.status_code == 200 and resp.headers["X-Waba-Migrate-Channel"] == route.channel
    assert resp.json()["messages"][0]["id"] == only_id(route)
    assert other.status_code == 218 and "X-Waba-Migrate-Channel" not in other.headers
    [seen] = echo.seen
    assert json.loads(seen["body"]) == {"untouched": True}
    assert seen["headers"][next(iter(route.auth)).lower()] == next(iter(route.auth.values()))


def test_mounts_for_the_legacy_host_only(route: Caller, echo: Echo) -> None:
    mounts: dict[str, real_httpx.BaseTransport] = {route.base: ShimTransport()}
    with real_httpx.Client(mounts=mounts) as client:
        resp = client.post(route.base + "/v1/messages", headers=route.auth, json=TEXT)
        assert client.get(echo.url + "/ping").status_code == 218
    assert resp.json()["messages"][0]["id"] == only_id(route)


def test_compat_module_client_base_url_media_round_trip(route: Caller) -> None:
    with httpx.Client(base_url=route.base, headers=route.auth, timeout=10) as client:
        up = client.post("/v1/media", content=PNG, headers={"Content-Type": "image/png"})
        up.raise_for_status()
        media_id = up.json()["media"][0]["id"]
        down = client.get(f"/v1/media/{media_id}")
        with client.stream("GET", f"/v1/media/{media_id}") as streamed:
            chunks = b"".join(streamed.iter_bytes())
        bad = client.post("/v1/messages", content=b"{oops")
    assert down.content == PNG and chunks == PNG
    assert bad.status_code == 400 and "JSON" in bad.json()["errors"][0]["details"]
    with pytest.raises(real_httpx.HTTPStatusError):
        bad.raise_for_status()


def test_compat_module_functions(route: Caller, echo: Echo) -> None:
    resp = httpx.post(route.base + "/v1/messages", headers=route.auth, json=TEXT)
    assert resp.json()["messages"][0]["id"] == only_id(route)
    health = httpx.get(route.base + "/v1/health", headers=route.auth)
    assert health.status_code == 200 and "health" in health.json()
    assert httpx.get(echo.url + "/x", params={"a": "b"}).status_code == 218
    assert echo.seen[-1]["query"] == "a=b"
    with httpx.stream("GET", route.base + "/v1/health", headers=route.auth) as streamed:
        assert json.loads(streamed.read())["health"]


def test_outcome_unknown_raises_httpx_read_timeout_with_key_once(route: Caller) -> None:
    route.sandbox.fault(drop_after_accept=True, path="/messages")
    with (
        real_httpx.Client(transport=ShimTransport()) as client,
        pytest.raises(real_httpx.ReadTimeout) as exc,
    ):
        client.post(route.base + "/v1/messages", headers=route.auth, json=TEXT)
    err = exc.value
    assert isinstance(err, httpx.OutcomeUnknownReadTimeout)
    key = err.idempotency_key
    assert key and key in str(err)
    assert_no_secret(str(err))
    only_id(route)
    assert route.outbox()[0]["body"]["biz_opaque_callback_data"] == key


def test_the_module_mirrors_httpx() -> None:
    for name in (
        "Response",
        "Request",
        "Headers",
        "URL",
        "Timeout",
        "ReadTimeout",
        "HTTPError",
        "HTTPStatusError",
        "codes",
        "Proxy",
        "ByteStream",
        "__version__",
        "MockTransport",
    ):
        assert getattr(httpx, name) is getattr(real_httpx, name), name
    assert issubclass(httpx.Client, real_httpx.Client)
    assert issubclass(httpx.AsyncClient, real_httpx.AsyncClient)


# -- async -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_transport_routes_onprem_and_falls_back(route: Caller, echo: Echo) -> None:
    async with real_httpx.AsyncClient(transport=AsyncShimTransport(), headers=route.auth) as c:
        resp = await c.post(route.base + "/v1/messages", json=TEXT)
        other = await c.get(echo.url + "/elsewhere")
    assert resp.status_code == 200
    outbox = await route.sandbox.aoutbox()
    assert [m["id"] for m in outbox] == [resp.json()["messages"][0]["id"]]
    assert other.status_code == 218 and echo.seen[-1]["path"] == "/elsewhere"


@pytest.mark.anyio
async def test_compat_async_client_media_and_outcome_unknown(route: Caller) -> None:
    async with httpx.AsyncClient(base_url=route.base, headers=route.auth) as client:
        up = await client.post("/v1/media", content=PNG, headers={"Content-Type": "image/png"})
        media_id = up.json()["media"][0]["id"]
        assert (await client.get(f"/v1/media/{media_id}")).content == PNG

        await route.sandbox.afault(drop_after_accept=True, path="/messages")
        with pytest.raises(real_httpx.ReadTimeout) as exc:
            await client.post("/v1/messages", json=TEXT)
    key = exc.value.idempotency_key  # type: ignore[attr-defined]
    assert key and key in str(exc.value)
    outbox = await route.sandbox.aoutbox()
    assert len(outbox) == 1 and outbox[0]["body"]["biz_opaque_callback_data"] == key


@pytest.mark.anyio
async def test_async_key_routing_on_the_well_known_host(
    config_file: Path, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> None:
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            ONPREM_HOST + "/v1/messages", headers={"D360-API-KEY": SHOP_OLD_KEY}, json=TEXT
        )
    assert resp.headers["X-Waba-Migrate-Backend"] == "360dialog"
    assert len(await sb360.aoutbox()) == 1 and await sbmeta.aoutbox() == []


def test_basic_login_then_bearer_send_on_the_nodes_host(config_file: Path,
                                                       sbmeta: RunningSandbox) -> None:
    with httpx.Client(base_url=NODE_HOST, timeout=10) as client:
        login = client.post("/v1/users/login", auth=("admin", "pw"))
        token = login.json()["users"][0]["token"]
        sent = client.post("/v1/messages", json=TEXT,
                           headers={"Authorization": f"Bearer {token}"})
    assert login.status_code == 200 and login.headers["X-Waba-Migrate-Channel"] == "clinic"
    assert sent.status_code == 200 and sent.headers["X-Waba-Migrate-Channel"] == "clinic"
    [out] = sbmeta.outbox()
    assert out["id"] == sent.json()["messages"][0]["id"]
