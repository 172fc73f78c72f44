"""Fixtures: a 360dialog and a Meta sandbox, an unrelated echo server, a config file on disk.

The config has two channels, as a migrating business would:

* ``shop``: callers still send the old 360dialog On-Prem key to
  ``https://waba.360dialog.io``; served by 360dialog Cloud (sandbox).
* ``clinic``: callers still talk to a self-hosted node
  (``https://wa-node.internal:9090``, its ``legacy_base_url``) with a Bearer
  token; served by Meta Cloud (sandbox).

No request ever leaves loopback: intercepted URLs are routed to the sandboxes by
``base_url``, and the echo server stands for "any other API" the drop-ins must
leave alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shim import compat
from shim.sandbox import RunningSandbox, running_asgi, running_sandbox

# Distinctive values, so a leak into a message is easy to spot.
SHOP_OLD_KEY = "old-onprem-SECRET-shop-5d1e"
SHOP_NEW_KEY = "new-d360-SECRET-shop-8b2c"
CLINIC_OLD_TOKEN = "old-node-SECRET-clinic-0a9f"
CLINIC_META_TOKEN = "EAAG-SECRET-clinic-3c7d"
SECRETS = (SHOP_OLD_KEY, SHOP_NEW_KEY, CLINIC_OLD_TOKEN, CLINIC_META_TOKEN)

ONPREM_HOST = "https://waba.360dialog.io"
NODE_HOST = "https://wa-node.internal:9090"
TO = "4915112345678"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass(frozen=True)
class Caller:
    """How existing code reaches one channel, and the sandbox that serves it."""

    channel: str
    base: str  # the On-Prem base URL the caller has in its settings
    auth: dict[str, str]  # the header the caller sends
    sandbox: RunningSandbox

    def outbox(self) -> list[dict[str, Any]]:
        return self.sandbox.outbox()


@pytest.fixture(scope="package")
def sb360() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", api_key=SHOP_NEW_KEY, open_windows=True) as sb:
        yield sb


@pytest.fixture(scope="package")
def sbmeta() -> Iterator[RunningSandbox]:
    with running_sandbox("meta", access_token=CLINIC_META_TOKEN, open_windows=True) as sb:
        yield sb


class Echo:
    """What the unrelated server saw."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.url = ""


async def _echo(request: Request) -> JSONResponse:
    echo: Echo = request.app.state.echo
    body = await request.body()
    seen = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": body.decode("latin-1"),
    }
    echo.seen.append(seen)
    return JSONResponse({"echo": True, "path": request.url.path}, status_code=218)


@pytest.fixture(scope="package")
def echo_server() -> Iterator[Echo]:
    app = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "PUT", "PATCH"])])
    echo = Echo()
    app.state.echo = echo
    with running_asgi(app) as url:
        echo.url = url
        yield echo


@pytest.fixture
def echo(echo_server: Echo) -> Echo:
    echo_server.seen.clear()
    return echo_server


FAST_RETRY = {"max_attempts": 3, "backoff_base": 0.01, "backoff_max": 0.5}


def write_config(path: Path, sb360: RunningSandbox, sbmeta: RunningSandbox) -> Path:
    config = f"""
[channels.shop]
phone_number = "+4915100000001"
backend = "360dialog"
api_key = "env:CT_SHOP_NEW_KEY"
legacy_api_key = "env:CT_SHOP_OLD_KEY"
base_url = {json.dumps(sb360.base_url)}
mps = 1000
retry = {{ max_attempts = 3, backoff_base = 0.01, backoff_max = 0.5 }}

[channels.clinic]
phone_number = "+4915100000002"
backend = "meta"
phone_number_id = {json.dumps(sbmeta.phone_number_id)}
waba_id = {json.dumps(sbmeta.waba_id)}
access_token = "env:CT_CLINIC_META_TOKEN"
legacy_api_key = "env:CT_CLINIC_OLD_TOKEN"
legacy_base_url = {json.dumps(NODE_HOST)}
base_url = {json.dumps(sbmeta.base_url)}
mps = 1000
retry = {{ max_attempts = 3, backoff_base = 0.01, backoff_max = 0.5 }}
"""
    path.write_text(config, encoding="utf-8")
    return path


@pytest.fixture
def config_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
) -> Iterator[Path]:
    """The channel config on disk, named by WABA_MIGRATE_CONFIG, secrets in env vars."""
    path = write_config(tmp_path / "waba-migrate.toml", sb360, sbmeta)
    monkeypatch.setenv("CT_SHOP_OLD_KEY", SHOP_OLD_KEY)
    monkeypatch.setenv("CT_SHOP_NEW_KEY", SHOP_NEW_KEY)
    monkeypatch.setenv("CT_CLINIC_OLD_TOKEN", CLINIC_OLD_TOKEN)
    monkeypatch.setenv("CT_CLINIC_META_TOKEN", CLINIC_META_TOKEN)
    monkeypatch.setenv("WABA_MIGRATE_CONFIG", str(path))
    sb360.reset()
    sbmeta.reset()
    yield path
    compat.reset()


@pytest.fixture(params=["shop", "clinic"])
def route(
    request: pytest.FixtureRequest,
    config_file: Path,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
) -> Caller:
    """Each channel, reached the way its existing code reaches it."""
    if request.param == "shop":
        return Caller("shop", ONPREM_HOST, {"D360-API-KEY": SHOP_OLD_KEY}, sb360)
    return Caller("clinic", NODE_HOST, {"Authorization": f"Bearer {CLINIC_OLD_TOKEN}"}, sbmeta)


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("WABA_MIGRATE_CONFIG", raising=False)
    compat.reset()
    yield
    compat.reset()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
