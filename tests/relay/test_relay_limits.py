"""Hostile bodies at the relay's door: a plain 4xx, nothing stored, still serving."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.relay.loopback import (
    SECRET,
    Receiver,
    channel_table,
    cloud_event,
    encode,
    running_receiver,
    running_relay,
    signed_headers,
)


def wait_until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_deeply_nested_signed_body_is_400_and_nothing_is_stored(tmp_path: Path) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook, \
            running_relay(str(tmp_path / "relay.db"), {"shop": channel_table(hook)}) as relay, \
            httpx.Client(timeout=10.0) as client:
        for deep in (b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                     b'{"entry": [' + b'{"a":' * 70 + b"1" + b"}" * 70 + b"]}"):
            response = client.post(relay.webhook(), content=deep,
                                   headers=signed_headers(deep, SECRET))
            assert response.status_code == 400, response.text
            assert "nested deeper than 64" in response.json()["error"]
        assert client.get(f"{relay.url}/healthz").json()["queue_depth"] == 0
        good = encode(cloud_event([("111", "m1", "x")]))
        ok = client.post(relay.webhook(), content=good, headers=signed_headers(good, SECRET))
        assert ok.status_code == 200
        wait_until(lambda: receiver.message_ids() == ["m1"])


def test_dead_letters_with_lone_surrogates_list_as_valid_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from shim.cli.relay import relay as relay_command

    receiver = Receiver()
    db = str(tmp_path / "relay.db")
    raw = (b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": '
           b'[{"field": "messages", "value": {"messaging_product": "whatsapp", '
           b'"metadata": {"phone_number_id": "\\ud800"}, "messages": [{"id": 5, '
           b'"type": ["text"], "text": {"body": "\\ud800"}}]}}]}]}')
    with running_receiver(receiver) as hook, \
            running_relay(db, {"shop": channel_table(hook)}) as relay, \
            httpx.Client(timeout=10.0) as client:
        response = client.post(relay.webhook(), content=raw, headers=signed_headers(raw, SECRET))
        assert response.status_code == 200, response.text

        def listed() -> list[str]:
            result = CliRunner().invoke(relay_command, ["dlq", "list", "--db", db, "--json"])
            assert result.exit_code == 0, result.output
            return result.output.splitlines()

        wait_until(lambda: len(listed()) == 1)
    letter = json.loads(listed()[0])
    assert "\ud800" in json.dumps(letter["body"], ensure_ascii=False)
