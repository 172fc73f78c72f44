"""The seam (Router + dispatchers) fed raw On-Prem requests, as drop-ins and the gateway do."""

from __future__ import annotations

import json

import httpx
import pytest

from shim.client import AsyncDispatcher, Dispatcher, Router
from shim.client.steps import Exchange
from shim.config import parse_config
from shim.sandbox import RunningSandbox
from tests.client.conftest import LEGACY_KEY, ONPREM_KEY, channel_table

TO = "4915112345678"
BODY = json.dumps({"to": TO, "type": "text", "text": {"body": "hi"}}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def two_channels(sb360: RunningSandbox, sbonprem: RunningSandbox):  # type: ignore[no-untyped-def]
    sb360.reset()
    sbonprem.reset()
    return parse_config(
        {
            "channels": {
                "shop": channel_table(
                    sb360,
                    legacy_api_key="env:T_LEGACY_KEY",
                    legacy_base_url="https://wa-node.internal:9090/whatsapp",
                ),
                "old": channel_table(sbonprem),
            }
        }
    )


def test_legacy_key_routes_to_its_channel_and_is_not_forwarded(
    two_channels,
    sb360: RunningSandbox,
    sbonprem: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    with Dispatcher(Router(two_channels, require_key=True)) as d:
        migrated = d.dispatch(
            "POST", "/v1/messages", content=BODY, headers={**JSON, "D360-Api-Key": LEGACY_KEY}
        )
        legacy = d.dispatch(
            "POST",
            "/v1/messages",
            content=BODY,
            headers={**JSON, "Authorization": f"Bearer {ONPREM_KEY}"},
        )
    assert migrated.status_code == 200 and migrated.channel == "shop"
    assert legacy.status_code == 200 and legacy.channel == "old"
    # The sandboxes only accept their own keys: the channel's key was used, not the caller's.
    assert len(sb360.outbox()) == 1 and len(sbonprem.outbox()) == 1
    assert migrated.headers["X-Waba-Migrate-Backend"] == "360dialog"


def test_unknown_or_missing_key_is_401_when_keys_are_required(
    two_channels,
    sb360: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    with Dispatcher(Router(two_channels, require_key=True)) as d:
        wrong = d.dispatch(
            "POST", "/v1/messages", content=BODY, headers={**JSON, "D360-API-KEY": "nope"}
        )
        missing = d.dispatch("POST", "/v1/messages", content=BODY, headers=JSON)
    for response in (wrong, missing):
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == 1005
    assert sb360.outbox() == []


def test_without_required_keys_the_default_or_host_hint_decides(
    two_channels,
    sbonprem: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    router = Router(two_channels)
    with Dispatcher(router) as d:
        ambiguous = d.dispatch("POST", "/v1/messages", content=BODY, headers=JSON)
        by_host = d.dispatch(
            "POST", "https://wa-node.internal:9090/whatsapp/v1/messages", content=BODY, headers=JSON
        )
        named = d.dispatch("POST", "v1/messages", content=BODY, headers=JSON, channel="old")
    assert ambiguous.status_code == 401  # two channels, no key, no default
    assert by_host.channel == "shop" and by_host.status_code == 200
    assert named.channel == "old" and len(sbonprem.outbox()) == 1


def test_a_key_no_channel_owns_never_falls_back_to_a_default_or_the_only_channel(
    sb360: RunningSandbox,
) -> None:
    """Moving one number at a time: the config holds one channel, the code serves many."""
    sb360.reset()
    shop = channel_table(sb360, legacy_api_key="env:T_LEGACY_KEY")
    config = parse_config({"channels": {"shop": shop}})
    for router in (Router(config), Router(config, default_channel="shop")):
        with Dispatcher(router) as d:
            other = d.dispatch(
                "POST", "/v1/messages", content=BODY,
                headers={**JSON, "D360-API-KEY": "other-number"},
            )
            keyless = d.dispatch("POST", "/v1/messages", content=BODY, headers=JSON)
            own = d.dispatch(
                "POST", "/v1/messages", content=BODY, headers={**JSON, "D360-API-KEY": LEGACY_KEY}
            )
        assert other.status_code == 401
        assert other.json()["errors"][0]["code"] == 1005
        assert keyless.status_code == 200 and keyless.channel == "shop"
        assert own.status_code == 200 and own.channel == "shop"
    assert len(sb360.outbox()) == 4  # two per router; the foreign key's call never left


def test_match_url_tells_drop_ins_what_to_intercept(two_channels) -> None:  # type: ignore[no-untyped-def]
    router = Router(two_channels)
    hit = router.match_url("https://waba.360dialog.io/v1/media/abc?x=1")
    assert hit is not None and (hit.path, hit.channel) == ("/v1/media/abc?x=1", None)
    legacy = router.match_url("https://WA-NODE.internal:9090/whatsapp/v1/contacts")
    assert legacy is not None and (legacy.path, legacy.channel) == ("/v1/contacts", "shop")
    onprem_base = two_channels.channels["old"].base_url
    assert router.match_url(f"{onprem_base}/v1/health").channel == "old"  # type: ignore[union-attr]
    cloud_base = two_channels.channels["shop"].base_url
    assert router.match_url(f"{cloud_base}/messages") is None  # Cloud URLs are not On-Prem
    assert router.match_url("https://waba.360dialog.io/health_status") is None
    assert router.match_url("https://example.com/v1/messages") is None
    assert router.match_url("https://wa-node.internal:9090/other/v1/messages") is None


def test_plan_is_the_same_for_sync_and_async(two_channels) -> None:  # type: ignore[no-untyped-def]
    router = Router(two_channels, default_channel="shop")
    plan = router.plan("POST", "/v1/contacts", json={"blocking": "wait", "contacts": ["+1 555"]})
    with pytest.raises(StopIteration) as done:  # answered locally: no step at all
        next(plan)
    assert done.value.value.json()["contacts"][0]["wa_id"] == "1555"


@pytest.mark.anyio
async def test_async_dispatcher_serves_raw_requests(
    two_channels,
    sb360: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    async with AsyncDispatcher(Router(two_channels, require_key=True)) as d:
        response = await d.dispatch(
            "POST", "/v1/messages", content=BODY, headers={**JSON, "D360-API-KEY": LEGACY_KEY}
        )
        unsupported = await d.dispatch("GET", "/v1/stats/app", headers={"D360-API-KEY": LEGACY_KEY})
    assert response.status_code == 200 and response.channel == "shop"
    assert unsupported.status_code == 501
    assert (await sb360.aoutbox())[0]["id"] == response.json()["messages"][0]["id"]


def test_unsupported_endpoint_without_a_channel_still_says_what_to_do(two_channels) -> None:  # type: ignore[no-untyped-def]
    # No key and two channels: the channel is unknown, yet the answer to a login
    # call is the 501 that names its replacement, not a routing error.
    with Dispatcher(Router(two_channels)) as d:
        resp = d.dispatch("POST", "/v1/users/login", headers=JSON, content=b"{}")
    assert resp.status_code == 501
    assert "api_key" in resp.json()["errors"][0]["details"]
    with Dispatcher(Router(two_channels, require_key=True)) as d:
        gated = d.dispatch("POST", "/v1/users/login", headers=JSON, content=b"{}")
    assert gated.status_code == 401


def test_a_url_in_the_query_is_not_taken_for_an_absolute_url(two_channels) -> None:  # type: ignore[no-untyped-def]
    with Dispatcher(Router(two_channels, default_channel="shop")) as d:
        resp = d.dispatch("GET", "/v1/configs/templates?next=https://x.y/z")
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("channel", ["shop", "old"])
def test_a_json_request_is_what_httpx_builds_from_the_same_content(two_channels, channel) -> None:  # type: ignore[no-untyped-def]
    # The router prebuilds Host with the channel's headers and adds Content-Length
    # itself; the result must be byte for byte what httpx.Request(content=...) makes.
    router = Router(two_channels, default_channel=channel)
    step = next(router.plan("POST", "/v1/messages", json={"to": TO, "text": {"body": "hé"}}))
    assert isinstance(step, Exchange)  # a fresh channel has its whole burst: no pacing wait
    sent = step.request
    plain = [(k, v) for k, v in sent.headers.raw if k.lower() not in (b"host", b"content-length")]
    expected = httpx.Request(sent.method, sent.url, headers=plain, content=sent.content)
    assert sent.headers.raw == expected.headers.raw
    assert sent.headers["Host"] == f"{sent.url.host}:{sent.url.port}"
    assert sent.content == expected.content and "hé".encode() in sent.content
    assert b"".join(sent.stream) == sent.content  # readable again, as for a resend


def test_in_process_login_for_a_named_channel_mints_a_token_that_routes_there(
    two_channels,
    sb360: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    router = Router(two_channels)
    with Dispatcher(router) as d:
        login = d.dispatch("POST", "/v1/users/login", headers={"Authorization": "Basic eDp5"},
                           channel="shop")
        token = login.json()["users"][0]["token"]
        sent = d.dispatch("POST", "/v1/messages", content=BODY,
                          headers={**JSON, "Authorization": f"Bearer {token}"})
        # reached by the default channel, no URL or caller chose it: the table's 501
        by_default = d.dispatch("POST", "/v1/users/login", channel=None)
    assert login.status_code == 200 and login.channel == "shop" and login.endpoint == "login"
    assert sent.status_code == 200 and sent.channel == "shop" and len(sb360.outbox()) == 1
    assert by_default.status_code == 501
    with Dispatcher(Router(two_channels, default_channel="shop")) as d:
        assert d.dispatch("POST", "/v1/users/login").status_code == 501
        # tokens live in the router that minted them, not in another one
        other = d.dispatch("POST", "/v1/messages", content=BODY,
                           headers={**JSON, "Authorization": f"Bearer {token}"})
    assert other.status_code == 401 and len(sb360.outbox()) == 1


def test_a_gateway_router_never_mints_a_login_token(
    two_channels,
    sb360: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    with Dispatcher(Router(two_channels, require_key=True)) as d:
        keyed = d.dispatch("POST", "https://wa-node.internal:9090/whatsapp/v1/users/login",
                           headers={"D360-API-KEY": LEGACY_KEY})
        basic = d.dispatch("POST", "https://wa-node.internal:9090/whatsapp/v1/users/login",
                           headers={"Authorization": "Basic eDp5"})
    assert keyed.status_code == 501 and "api_key" in keyed.json()["errors"][0]["details"]
    assert basic.status_code == 401
    assert "users" not in keyed.json() and "users" not in basic.json()


def test_a_login_for_an_onprem_channel_goes_to_its_node(
    two_channels,
    sbonprem: RunningSandbox,  # type: ignore[no-untyped-def]
) -> None:
    # the node has a real login (the sandbox answers like 360dialog's: blocked): not minted here
    router = Router(two_channels)
    with Dispatcher(router) as d:
        resp = d.dispatch("POST", "/v1/users/login", headers={"Authorization": "Basic eDp5"},
                          channel="old")
    assert resp.status_code == 403 and resp.backend == "onprem" and len(router.logins) == 0
