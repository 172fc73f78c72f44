"""Hostile JSON through the client, the gateway and ``translate``: typed outcomes only.

The same generators as the translator properties (``tests.strategies``:
wrong types, lists where strings belong, huge strings, lone surrogates, deep
nesting), now through real entry points: the Python client and the gateway
(both against a sandbox playing 360dialog Cloud on loopback) and the CLI. A
5xx answer, an exception other than the typed ones, or a traceback fails.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim import Client
from shim.cli import main
from shim.client.pacing import PairLimit
from shim.config import Config, parse_config
from shim.gateway import create_app
from shim.mapping.errors import ONPREM_ERRORS
from shim.sandbox import RunningSandbox, running_asgi, running_sandbox
from tests.strategies import hostile_json, mutated, onprem_send_requests

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
ENV = {"HP_KEY": "hp-cloud-key", "HP_LEGACY": "hp-legacy-key"}
NUMBERS = itertools.count(4915100000000)

hostile_sends = st.one_of(hostile_json(), mutated(onprem_send_requests(media_ids="cloud")))


def fresh_recipient(value: Any) -> Any:
    """One recipient per example, so pair pacing never makes a test wait."""
    if isinstance(value, dict) and isinstance(value.get("to"), str):
        value = {**value, "to": str(next(NUMBERS))}
    return value


def wire(value: Any) -> bytes:
    # How a hostile sender writes it: lone surrogates as JSON escapes.
    return json.dumps(value, ensure_ascii=True).encode()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", api_key=ENV["HP_KEY"], open_windows=True) as sb:
        yield sb


@pytest.fixture(scope="module")
def config(sandbox: RunningSandbox) -> Config:
    return parse_config({"channels": {"main": {
        "phone_number": "+15550000001", "backend": "360dialog", "base_url": sandbox.base_url,
        "api_key": "env:HP_KEY", "legacy_api_key": "env:HP_LEGACY", "mps": 1000,
        "retry": {"max_attempts": 1},
    }}})


@pytest.fixture(scope="module")
def client(config: Config) -> Iterator[Client]:
    with Client(config, environ=ENV,
                pair_limit=PairLimit(interval_s=0.001, burst=1_000_000)) as c:
        yield c


@pytest.fixture(scope="module")
def gateway(config: Config) -> Iterator[httpx.Client]:
    with running_asgi(create_app(config, environ=ENV)) as url, httpx.Client(
        base_url=url, headers={"D360-API-KEY": ENV["HP_LEGACY"]}, timeout=15, trust_env=False
    ) as http:
        yield http


@SETTINGS
@given(hostile_sends)
def test_client_answers_hostile_sends_with_a_4xx_or_a_send(client: Client, value: Any) -> None:
    value = fresh_recipient(value)
    as_json = client.post("/v1/messages", json=value)
    as_bytes = client.post("/v1/messages", content=wire(value),
                           headers={"Content-Type": "application/json"})
    for response in (as_json, as_bytes):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["errors"][0]["details"]


@SETTINGS
@given(hostile_sends)
def test_gateway_answers_hostile_sends_with_a_4xx_or_a_send(
    gateway: httpx.Client, value: Any
) -> None:
    response = gateway.post("/v1/messages", content=wire(fresh_recipient(value)),
                            headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        # Refused by the gateway (1008/1009) or answered by the backend (a template that
        # does not exist, a closed window...): always an On-Prem error from the table.
        error = response.json()["errors"][0]
        assert error["code"] in ONPREM_ERRORS and error["details"], error


@SETTINGS
@given(st.one_of(hostile_json(), mutated(onprem_send_requests(media_ids="cloud"))),
       st.booleans())
def test_translate_command_turns_hostile_documents_into_error_lines(
    value: Any, jsonl: bool
) -> None:
    doc = wire({"method": "POST", "path": "/v1/messages", "body": value})
    args = ["translate", "request", *(["--jsonl"] if jsonl else []), "-"]
    result = CliRunner().invoke(main, args, input=doc)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 1:
        assert result.stderr.startswith("error: ")
