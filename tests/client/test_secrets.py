"""Secrets never appear in logs, exception messages or responses."""

from __future__ import annotations

import logging
import socket

import pytest

from shim import Client
from shim.client import Dispatcher, OutcomeUnknown, Router
from shim.config import MissingSecretError, parse_config
from shim.sandbox import RunningSandbox
from tests.client.conftest import D360_KEY, LEGACY_KEY, SECRETS, channel_table, config_for

TO = "4915112345678"


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_no_secret_in_logs_errors_or_responses(
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb360.reset()
    sbmeta.reset()
    monkeypatch.setenv("T_DEAD_KEY", D360_KEY + "-dead")
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = parse_config(
        {
            "channels": {
                "d": channel_table(sb360, legacy_api_key="env:T_LEGACY_KEY"),
                "m": channel_table(sbmeta),
                "dead": channel_table(
                    sb360,
                    base_url=dead,
                    api_key="env:T_DEAD_KEY",
                    retry={"max_attempts": 2, "backoff_base": 0.01},
                ),
            }
        }
    )
    with Client(cfg, raise_on_unknown=False) as client:
        seen.append(client.send_text(TO, "ok", channel="d"))
        seen.append(client.send_text(TO, "ok", channel="m"))
        sb360.fault(drop_after_accept=True, path="/messages")
        seen.append(
            client.post("/v1/messages", channel="d", json={"to": TO, "text": {"body": "x"}}).text
        )
        seen.append(
            client.post("/v1/messages", channel="dead", json={"to": TO, "text": {"body": "x"}}).text
        )
        seen.append(client.post("/v1/messages", channel="d", json={"to": 5}).text)
        monkeypatch.delenv("T_META_TOKEN")
        missing = client.post("/v1/messages", channel="m", json={"to": TO, "text": {"body": "x"}})
        assert missing.status_code == 500 and "T_META_TOKEN" in missing.text
        seen.append(missing.text)
    with Dispatcher(Router(cfg, require_key=True)) as d:
        denied = d.dispatch("GET", "/v1/health", headers={"D360-API-KEY": LEGACY_KEY + "x"})
        assert denied.status_code == 401
        seen.append(denied.text)
    with pytest.raises(MissingSecretError) as exc:
        cfg.channels["m"].secret("access_token")
    seen.append(str(exc.value))
    assert_clean(caplog.text, *seen, repr(cfg), str(cfg.channels["d"].api_key))


def test_outcome_unknown_message_carries_the_key_not_the_secret(
    sb360: RunningSandbox,
) -> None:
    sb360.reset()
    sb360.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb360)) as client, pytest.raises(OutcomeUnknown) as exc:
        client.send_text(TO, "x")
    assert exc.value.idempotency_key in str(exc.value)
    assert_clean(str(exc.value), repr(exc.value))
