"""Gateway and sandboxes as real servers on loopback, a config file, plain httpx callers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shim.config import load_config
from shim.gateway import GatewayOptions, create_app
from shim.sandbox import RunningSandbox, running_sandbox
from shim.sandbox.runner import running_asgi

# Distinctive values, so a leak into a log or a body is easy to spot.
D360_KEY = "sk-d360-GW-SECRET-5e1f07"
META_TOKEN = "EAAG-GW-META-SECRET-93c1"
LEGACY_SHOP = "legacy-GW-shop-SECRET-a7d2"
LEGACY_BRAND = "legacy-GW-brand-SECRET-b80e"
VERIFY = "verify-GW-SECRET-c9f3"
SECRETS = (D360_KEY, META_TOKEN, LEGACY_SHOP, LEGACY_BRAND, VERIFY)

ENV = {
    "GW_D360_KEY": D360_KEY,
    "GW_META_TOKEN": META_TOKEN,
    "GW_LEGACY_SHOP": LEGACY_SHOP,
    "GW_LEGACY_BRAND": LEGACY_BRAND,
    "GW_VERIFY": VERIFY,
}

TO = "4915112345678"


@dataclass(frozen=True)
class Channel:
    """One configured channel as a caller sees it: the key it sends, the sandbox behind it."""

    name: str
    key: str
    sandbox: RunningSandbox

    @property
    def backend(self) -> str:
        return self.sandbox.api.value


@dataclass(frozen=True)
class RunningGateway:
    url: str
    config_path: Path
    shop: Channel
    brand: Channel

    def caller(self, channel: Channel | None = None, /, **headers: str) -> httpx.Client:
        """What a PHP/Node caller is: an HTTP client with the old key and the old paths."""
        sent = {"D360-API-KEY": channel.key} if channel is not None else {}
        return httpx.Client(base_url=self.url, headers={**sent, **headers}, timeout=15.0,
                            trust_env=False, verify=False)  # plain HTTP: skip the CA bundle


def write_config(path: Path, sb360: RunningSandbox, sbmeta: RunningSandbox) -> Path:
    """A config file as an operator writes it: secrets only as env: references."""
    path.write_text(
        f"""
[channels.shop]
phone_number = "+4915100000001"
backend = "360dialog"
base_url = "{sb360.base_url}"
api_key = "env:GW_D360_KEY"
legacy_api_key = "env:GW_LEGACY_SHOP"
mps = 1000

[channels.shop.retry]
max_attempts = 3
backoff_base = 0.01
backoff_max = 0.5

[channels.brand]
phone_number = "+4915100000002"
backend = "meta"
base_url = "{sbmeta.base_url}"
phone_number_id = "{sbmeta.phone_number_id}"
waba_id = "{sbmeta.waba_id}"
access_token = "env:GW_META_TOKEN"
legacy_api_key = "env:GW_LEGACY_BRAND"
verify_token = "env:GW_VERIFY"
mps = 1000

[channels.brand.retry]
max_attempts = 3
backoff_base = 0.01
backoff_max = 0.5
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def sb360() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", api_key=D360_KEY, open_windows=True) as sb:
        yield sb


@pytest.fixture(scope="module")
def sbmeta() -> Iterator[RunningSandbox]:
    with running_sandbox("meta", access_token=META_TOKEN, open_windows=True) as sb:
        yield sb


@pytest.fixture
def config_path(tmp_path: Path, sb360: RunningSandbox, sbmeta: RunningSandbox) -> Path:
    return write_config(tmp_path / "channels.toml", sb360, sbmeta)


@pytest.fixture(scope="module")
def module_env() -> Iterator[None]:
    """The env: secrets for module-scoped gateways (tests also set them per test)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        yield


@contextlib.contextmanager
def running_gateway(
    config_path: Path,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
    options: GatewayOptions | None = None,
) -> Iterator[RunningGateway]:
    sb360.reset()
    sbmeta.reset()
    app = create_app(load_config(config_path), options=options)
    with running_asgi(app) as url:
        yield RunningGateway(
            url,
            config_path,
            Channel("shop", LEGACY_SHOP, sb360),
            Channel("brand", LEGACY_BRAND, sbmeta),
        )


@pytest.fixture(scope="module")
def shared_gw(
    tmp_path_factory: pytest.TempPathFactory,
    module_env: None,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
) -> Iterator[RunningGateway]:
    path = write_config(tmp_path_factory.mktemp("gw") / "channels.toml", sb360, sbmeta)
    with running_gateway(path, sb360, sbmeta) as gateway:
        yield gateway


@pytest.fixture
def gw(shared_gw: RunningGateway) -> RunningGateway:
    """One gateway per module (its counters accumulate); the sandboxes reset per test."""
    shared_gw.shop.sandbox.reset()
    shared_gw.brand.sandbox.reset()
    return shared_gw


@pytest.fixture
def fresh_gw(
    config_path: Path, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> Iterator[RunningGateway]:
    """A gateway of its own (fresh counters), from a config file in tmp_path."""
    with running_gateway(config_path, sb360, sbmeta) as gateway:
        yield gateway


@pytest.fixture(params=["shop", "brand"])
def channel(request: pytest.FixtureRequest, gw: RunningGateway) -> Channel:
    """Each test using it runs once per backend: 360dialog (shop) and Meta (brand)."""
    found: Channel = getattr(gw, request.param)
    return found


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore")
    saved = (root.level, list(root.handlers),
             {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers),
                  logging.getLogger(n).propagate) for n in names})
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for n, (level, handlers, propagate) in saved[2].items():
        logger = logging.getLogger(n)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
