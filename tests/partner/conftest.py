"""A loopback emulator of the 360dialog Partner API key endpoints (an external API).

Behaviour follows api-mapping section 1: ``POST /token`` {username, password}
-> ``{access_token, token_type, expires_in}``; Bearer-protected
``POST|GET|DELETE /partners/{pid}/channels/{cid}/api_keys``; create answers
201 ``{id, address, api_key, app_id}`` and revokes the channel's earlier keys;
list answers ``{api_keys: [...]}`` (values included, so tests can prove the CLI
never prints them). Knobs: expire every token, delay the create answer.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shim.sandbox import running_asgi

USERNAME = "partner@example.com"
PASSWORD = "pw-SECRET-partner-71f3"
PARTNER_ID = "PAabc123"
CHANNEL_ID = "CHxyz789"
ADDRESS = "https://waba-v2.360dialog.io"


@dataclass
class PartnerHub:
    url: str = ""
    tokens: set[str] = field(default_factory=set)
    keys: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    token_calls: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    create_delay_s: float = 0.0
    fail_next: int | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v2"

    def issue_token(self) -> str:
        token = "tok-SECRET-" + secrets.token_hex(8)
        self.tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def seed_key(self, partner: str = PARTNER_ID, channel: str = CHANNEL_ID) -> dict[str, str]:
        key = self._new_key()
        self.keys.setdefault((partner, channel), []).append(key)
        return key

    def _new_key(self) -> dict[str, str]:
        return {
            "id": str(next(self._ids)),
            "address": ADDRESS,
            "api_key": "KEY-SECRET-" + secrets.token_hex(12),
            "app_id": "104148",
        }

    def reset(self) -> None:
        self.tokens.clear()
        self.keys.clear()
        self.calls.clear()
        self.token_calls = 0
        self.create_delay_s = 0.0
        self.fail_next = None


def _hub(request: Request) -> PartnerHub:
    hub: PartnerHub = request.app.state.hub
    return hub


async def _token(request: Request) -> Response:
    hub = _hub(request)
    hub.token_calls += 1
    body: Any = await request.json()
    if body.get("username") != USERNAME or body.get("password") != PASSWORD:
        return JSONResponse({"detail": "Invalid username or password"}, status_code=401)
    return JSONResponse(
        {"access_token": hub.issue_token(), "token_type": "bearer", "expires_in": 86400}
    )


async def _api_keys(request: Request) -> Response:
    hub = _hub(request)
    partner, channel = request.path_params["partner"], request.path_params["channel"]
    hub.calls.append((request.method, f"{partner}/{channel}"))
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in hub.tokens:
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    if hub.fail_next is not None:
        status, hub.fail_next = hub.fail_next, None
        return JSONResponse({"meta": {"developer_message": "hub is down"}}, status_code=status)
    if partner != PARTNER_ID:
        return JSONResponse({"detail": "Partner not found"}, status_code=403)
    slot = (partner, channel)
    if request.method == "GET":
        return JSONResponse({"api_keys": hub.keys.get(slot, [])})
    if request.method == "DELETE":
        hub.keys.pop(slot, None)
        return JSONResponse({}, status_code=200)
    key = hub._new_key()
    hub.keys[slot] = [key]  # a new key revokes the earlier ones
    if hub.create_delay_s:
        await asyncio.sleep(hub.create_delay_s)
    return JSONResponse(key, status_code=201)


@pytest.fixture(scope="package")
def hub_server() -> Iterator[PartnerHub]:
    app = Starlette(
        routes=[
            Route("/api/v2/token", _token, methods=["POST"]),
            Route(
                "/api/v2/partners/{partner}/channels/{channel}/api_keys",
                _api_keys,
                methods=["GET", "POST", "DELETE"],
            ),
        ]
    )
    hub = PartnerHub()
    app.state.hub = hub
    with running_asgi(app) as url:
        hub.url = url
        yield hub


@pytest.fixture
def hub(hub_server: PartnerHub) -> PartnerHub:
    hub_server.reset()
    return hub_server
