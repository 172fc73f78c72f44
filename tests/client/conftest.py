"""Fixtures: sandboxes on loopback (one per surface per module) and configs pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shim.config import Config, parse_config
from shim.sandbox import RunningSandbox, running_sandbox

# Distinctive secret values, so a leak is easy to spot in logs and messages.
D360_KEY = "sk-d360-SECRET-4f9a1c"
META_TOKEN = "EAAG-META-SECRET-77b2e"
ONPREM_KEY = "sk-onprem-SECRET-0c3d"
LEGACY_KEY = "legacy-SECRET-key-91aa"
SECRETS = (D360_KEY, META_TOKEN, ONPREM_KEY, LEGACY_KEY)

ENV = {
    "T_D360_KEY": D360_KEY,
    "T_META_TOKEN": META_TOKEN,
    "T_ONPREM_KEY": ONPREM_KEY,
    "T_LEGACY_KEY": LEGACY_KEY,
    "T_VERIFY": "verify-me",
}

FAST_RETRY = {"max_attempts": 4, "backoff_base": 0.01, "backoff_max": 2.0}


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


@pytest.fixture(scope="module")
def sbonprem() -> Iterator[RunningSandbox]:
    with running_sandbox("onprem", api_key=ONPREM_KEY, open_windows=True) as sb:
        yield sb


def channel_table(sb: RunningSandbox, **extra: Any) -> dict[str, Any]:
    """A ``[channels.NAME]`` table pointing at ``sb`` with fast retries."""
    table: dict[str, Any] = {
        "phone_number": "+15550000001",
        "backend": sb.api.value,
        "base_url": sb.base_url,
        "mps": 1000,
        "retry": dict(FAST_RETRY),
    }
    if sb.api.value == "meta":
        table.update(
            phone_number_id=sb.phone_number_id,
            waba_id=sb.waba_id,
            access_token="env:T_META_TOKEN",
            verify_token="env:T_VERIFY",
        )
    elif sb.api.value == "onprem":
        table["api_key"] = "env:T_ONPREM_KEY"
    else:
        table["api_key"] = "env:T_D360_KEY"
    table.update(extra)
    return table


def config_for(sb: RunningSandbox, name: str = "main", **extra: Any) -> Config:
    return parse_config({"channels": {name: channel_table(sb, **extra)}}, "test.toml")


@pytest.fixture(params=["360dialog", "meta", "onprem"])
def any_sandbox(
    request: pytest.FixtureRequest,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
    sbonprem: RunningSandbox,
) -> RunningSandbox:
    sb = {"360dialog": sb360, "meta": sbmeta, "onprem": sbonprem}[request.param]
    sb.reset()
    return sb


@pytest.fixture(params=["360dialog", "meta"])
def cloud_sandbox(
    request: pytest.FixtureRequest, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> RunningSandbox:
    sb = {"360dialog": sb360, "meta": sbmeta}[request.param]
    sb.reset()
    return sb
