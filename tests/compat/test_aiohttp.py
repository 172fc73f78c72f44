"""aiohttp: ``from shim.compat import aiohttp`` and its middleware.

Same channels as the requests and httpx tests: 360dialog Cloud (``shop``) and
Meta (``clinic``) sandboxes on loopback, plus an unrelated echo server whose
calls must go out through aiohttp untouched.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import aiohttp as real_aiohttp
import pytest

from shim import compat
from shim.compat import aiohttp
from shim.config import ConfigError
from shim.sandbox import RunningSandbox
from tests.compat.conftest import (
    NODE_HOST,
    ONPREM_HOST,
    PNG,
    SHOP_NEW_KEY,
    SHOP_OLD_KEY,
    TO,
    Caller,
    Echo,
    assert_no_secret,
)

pytestmark = pytest.mark.anyio

TEXT = {"to": TO, "type": "text", "text": {"body": "hello"}}
#: An hsm send without element_name: the translators refuse it before any Cloud call.
NO_TEMPLATE_NAME = {
    "to": TO,
    "type": "hsm",
    "hsm": {"namespace": "ns", "language": {"policy": "deterministic", "code": "en"}},
}


async def sent_ids(route: Caller) -> list[str]:
    outbox = await route.sandbox.aoutbox()
    assert all(m["body"]["messaging_product"] == "whatsapp" for m in outbox)
    return [str(m["id"]) for m in outbox]


async def test_session_routes_onprem_in_context_and_leaves_other_urls(
    route: Caller, echo: Echo
) -> None:
    async with aiohttp.ClientSession(headers=route.auth) as session:
        async with session.post(route.base + "/v1/messages", json=TEXT) as resp:
            assert isinstance(resp, real_aiohttp.ClientResponse)
            assert resp.status == 200 and resp.ok
            assert resp.headers["X-Waba-Migrate-Channel"] == route.channel
            assert resp.content_type == "application/json"
            resp.raise_for_status()
            body = await resp.json()
        async with session.post(echo.url + "/v1/messages", json={"untouched": True}) as other:
            assert other.status == 218 and "X-Waba-Migrate-Channel" not in other.headers
            assert (await other.json())["echo"] is True
    assert await sent_ids(route) == [body["messages"][0]["id"]]
    [seen] = echo.seen
    assert json.loads(seen["body"]) == {"untouched": True}
    name, value = next(iter(route.auth.items()))
    assert seen["headers"][name.lower()] == value


async def test_awaited_calls_base_url_media_round_trip(route: Caller) -> None:
    async with aiohttp.ClientSession(route.base, headers=route.auth) as session:
        up = await session.post("/v1/media", data=PNG, headers={"Content-Type": "image/png"})
        up.raise_for_status()
        media_id = (await up.json())["media"][0]["id"]
        down = await session.get(f"/v1/media/{media_id}")
        assert await down.read() == PNG
        streamed = await session.get(f"/v1/media/{media_id}")
        assert await streamed.content.read() == PNG
        health = await session.get("/v1/health")
        assert "health" in json.loads(await health.text())


async def test_another_responses_stream_uploads_as_media(route: Caller) -> None:
    """``data=other_response.content``: how the vumi consumer re-uploads media it fetched."""
    async with aiohttp.ClientSession(route.base, headers=route.auth) as session:
        first = await session.post("/v1/media", data=PNG, headers={"Content-Type": "image/png"})
        first_id = (await first.json())["media"][0]["id"]
        async with session.get(f"/v1/media/{first_id}") as source:
            again = await session.post(
                "/v1/media",
                data=source.content,
                headers={"Content-Type": source.headers["Content-Type"]},
            )
            again_id = (await again.json())["media"][0]["id"]
        assert again_id != first_id
        assert await (await session.get(f"/v1/media/{again_id}")).read() == PNG


async def test_session_options_apply_to_the_shims_answer(route: Caller) -> None:
    """json_serialize and raise_for_status=True of the session, as the vumi consumer sets them."""
    serialized: list[object] = []

    def dumps(obj: object) -> str:
        serialized.append(obj)
        return json.dumps(obj)

    async with aiohttp.ClientSession(
        headers=route.auth,
        json_serialize=dumps,
        raise_for_status=True,
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=4),
    ) as session:
        ok = await session.post(route.base + "/v1/messages", json=TEXT)
        assert ok.status == 200 and serialized == [TEXT]
        await route.sandbox.afault(429, count=5, path="/messages")
        with pytest.raises(aiohttp.ClientResponseError) as exc:
            await session.post(route.base + "/v1/messages", json=TEXT)
    assert exc.value.status == 429
    assert str(exc.value.request_info.url) == route.base + "/v1/messages"
    assert len(await sent_ids(route)) == 1


async def test_rate_limited_and_unavailable_answers_keep_the_onprem_error_shape(
    route: Caller,
) -> None:
    async with aiohttp.ClientSession(route.base, headers=route.auth) as session:
        await route.sandbox.afault(429, count=5, path="/messages")
        async with session.post("/v1/messages", json=TEXT) as limited:
            assert limited.status == 429
            err = (await limited.json())["errors"][0]
            assert isinstance(err["code"], int) and err["title"] and err["details"]
            with pytest.raises(real_aiohttp.ClientResponseError) as exc:
                limited.raise_for_status()
            assert exc.value.status == 429
        await route.sandbox.afault(503, count=5, path="/messages")
        down = await session.post("/v1/messages", json=TEXT)
        assert down.status == 503
        assert (await down.json())["errors"][0]["code"] == 1011
    assert await sent_ids(route) == []


async def test_a_send_the_translators_refuse_answers_400_and_sends_nothing(
    route: Caller,
) -> None:
    async with (
        aiohttp.ClientSession(headers=route.auth) as session,
        session.post(route.base + "/v1/messages", json=NO_TEMPLATE_NAME) as refused,
    ):
        assert refused.status == 400
        payload = await refused.json()
    [err] = payload["errors"]
    assert err["code"] == 1008 and err["details"].startswith("$.hsm.element_name")
    assert payload["meta"]["api_status"] == "stable"
    assert await sent_ids(route) == []


async def test_outcome_unknown_raises_a_timeout_with_the_key_and_sends_once(
    route: Caller,
) -> None:
    await route.sandbox.afault(drop_after_accept=True, path="/messages")
    async with aiohttp.ClientSession(headers=route.auth) as session:
        with pytest.raises(asyncio.TimeoutError) as exc:
            await session.post(route.base + "/v1/messages", json=TEXT)
    err = exc.value
    assert isinstance(err, aiohttp.OutcomeUnknownReadTimeout)
    assert isinstance(err, real_aiohttp.ClientError)  # generic handlers still catch it
    key = err.idempotency_key
    assert key and key in str(err)
    assert_no_secret(str(err))
    outbox = await route.sandbox.aoutbox()
    assert len(outbox) == 1 and outbox[0]["body"]["biz_opaque_callback_data"] == key


@pytest.mark.filterwarnings("ignore:.*auth.*deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_basic_auth_login_then_bearer_send_on_the_nodes_host(
    config_file: Path, sbmeta: RunningSandbox
) -> None:
    async with aiohttp.ClientSession(NODE_HOST) as session:
        login = await session.post("/v1/users/login", auth=aiohttp.BasicAuth("admin", "pw"))
        token = (await login.json())["users"][0]["token"]
        sent = await session.post(
            "/v1/messages", json=TEXT, headers={"Authorization": f"Bearer {token}"}
        )
        assert login.headers["X-Waba-Migrate-Channel"] == "clinic"
        assert sent.headers["X-Waba-Migrate-Channel"] == "clinic"
        sent_id = (await sent.json())["messages"][0]["id"]
    assert [m["id"] for m in await sbmeta.aoutbox()] == [sent_id]


async def test_module_request_routes_like_a_session(route: Caller, echo: Echo) -> None:
    async with aiohttp.request(
        "POST", route.base + "/v1/messages", json=TEXT, headers=route.auth
    ) as resp:
        sent_id = (await resp.json())["messages"][0]["id"]
    async with aiohttp.request("GET", echo.url + "/x", params={"a": "b"}) as other:
        assert other.status == 218
    assert await sent_ids(route) == [sent_id]
    assert echo.seen[-1]["query"] == "a=b"


async def test_callers_middlewares_see_the_shims_answer(route: Caller) -> None:
    statuses: list[int] = []

    async def record(
        request: real_aiohttp.ClientRequest, handler: real_aiohttp.ClientHandlerType
    ) -> real_aiohttp.ClientResponse:
        response = await handler(request)
        statuses.append(response.status)
        return response

    async with aiohttp.ClientSession(headers=route.auth, middlewares=(record,)) as session:
        await session.post(route.base + "/v1/messages", json=TEXT)
    assert statuses == [200]


async def test_without_config_onprem_urls_raise_and_others_pass(
    no_config: None, echo: Echo
) -> None:
    async with aiohttp.ClientSession() as session:
        assert (await session.get(echo.url + "/v1/health")).status == 218
        with pytest.raises(ConfigError) as exc:
            await session.post(
                ONPREM_HOST + "/v1/messages", headers={"D360-API-KEY": SHOP_OLD_KEY}, json={}
            )
    assert "WABA_MIGRATE_CONFIG" in str(exc.value)
    assert_no_secret(str(exc.value))


async def test_a_turn_hosted_consumer_moves_its_sends_and_keeps_turns_own_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sb360: RunningSandbox, echo: Echo
) -> None:
    """The vumi consumer's shape: one Bearer session on a Turn host for sends, contact
    checks and Turn's automation endpoint; only the On-Prem API moves."""
    config = tmp_path / "turn.toml"
    config.write_text(
        "[channels.engage]\n"
        'phone_number = "+4915100000003"\n'
        'backend = "360dialog"\n'
        'api_key = "env:CT_ENGAGE_KEY"\n'
        'legacy_api_key = "env:CT_ENGAGE_TOKEN"\n'
        f"legacy_base_url = {json.dumps(echo.url)}\n"
        f"base_url = {json.dumps(sb360.base_url)}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CT_ENGAGE_KEY", SHOP_NEW_KEY)
    monkeypatch.setenv("CT_ENGAGE_TOKEN", "engage-turn-token")
    monkeypatch.setenv("WABA_MIGRATE_CONFIG", str(config))
    await sb360.areset()
    try:
        async with aiohttp.ClientSession(
            headers={"Authorization": "Bearer engage-turn-token"}, raise_for_status=True
        ) as session:
            sent = await session.post(echo.url + "/v1/messages", json=TEXT)
            sent_id = (await sent.json())["messages"][0]["id"]
            check = await session.post(
                echo.url + "/v1/contacts", json={"blocking": "wait", "contacts": [f"+{TO}"]}
            )
            assert (await check.json())["contacts"][0]["status"] == "valid"
            automation = await session.post(  # a wamid may hold "/": one path segment
                echo.url + f"/v1/messages/{quote(sent_id, safe='')}/automation",
                json={"handled": True},
            )
            assert automation.status == 218
    finally:
        compat.reset()
    assert [m["id"] for m in await sb360.aoutbox()] == [sent_id]
    [seen] = echo.seen  # only Turn's own endpoint reached the Turn host
    assert seen["path"] == f"/v1/messages/{sent_id}/automation"
    assert seen["headers"]["authorization"] == "Bearer engage-turn-token"
    assert json.loads(seen["body"]) == {"handled": True}


def test_the_module_mirrors_aiohttp() -> None:
    for name in (
        "ClientTimeout",
        "BasicAuth",
        "ClientError",
        "ClientResponseError",
        "FormData",
        "TCPConnector",
        "ClientResponse",
        "ContentTypeError",
        "ClientWebSocketResponse",
        "MultipartWriter",
        "__version__",
        "web",
    ):
        assert getattr(aiohttp, name) is getattr(real_aiohttp, name), name
    assert issubclass(aiohttp.ClientSession, real_aiohttp.ClientSession)
    with pytest.raises(AttributeError):
        aiohttp.NoSuchName  # noqa: B018


def test_without_aiohttp_the_import_error_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "try:\n"
        "    from shim.compat import aiohttp\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "import shim.compat\n"  # the package itself works without aiohttp
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "pip install 'waba-migrate[aiohttp]'" in done.stdout
