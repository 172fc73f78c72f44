"""Channel isolation over loopback: an item reaches only the app of a channel whose own
credentials authenticated the POST, whatever number the body claims."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from shim.cli.relay import relay as relay_command
from shim.webhooks import sign
from tests.relay.loopback import (
    ENV,
    PNID,
    Receiver,
    channel_table,
    cloud_event,
    encode,
    running_receiver,
    running_relay,
)

OTHER = "2000000002"
SECRETS = {"A_SECRET": "secret-of-a", "B_SECRET": "secret-of-b"}
ENV.update(SECRETS)  # the in-process relay resolves env: references from ENV


def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def header_channels(hook_a: str, hook_b: str) -> dict[str, dict[str, Any]]:
    """Two 360dialog-style channels, each with its own shared secret."""
    common = {"app_secret": None, "webhook_secret_header": "X-Relay-Secret"}
    return {
        "a": channel_table(hook_a, webhook_secret="env:A_SECRET", **common),
        "b": channel_table(hook_b, phone_number="+15550000002", phone_number_id=OTHER,
                           api_key="env:D360_KEY_2",
                           webhook_secret="env:B_SECRET", **common),
    }


def signed_channels(hook_a: str, hook_b: str) -> dict[str, dict[str, Any]]:
    """Two Meta channels on different apps (different app secrets)."""
    return {
        "a": channel_table(hook_a, app_secret=["env:A_SECRET"]),
        "b": channel_table(hook_b, phone_number="+15550000002", phone_number_id=OTHER,
                           api_key="env:D360_KEY_2",
                           app_secret=["env:B_SECRET"]),
    }


def by_header(secret: str) -> Any:
    return lambda raw: {"content-type": "application/json", "x-relay-secret": secret}


def by_signature(secret: str) -> Any:
    return lambda raw: {"content-type": "application/json",
                        "x-hub-signature-256": sign(secret, raw)}


@pytest.mark.parametrize("style", ["shared-secret", "signature"])
def test_a_channel_cannot_inject_events_for_another_number(
        db: str, style: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shim.relay.security")
    app_a, app_b = Receiver(), Receiver()
    make = header_channels if style == "shared-secret" else signed_channels
    auth = by_header if style == "shared-secret" else by_signature
    runner = CliRunner()
    with running_receiver(app_a) as hook_a, running_receiver(app_b) as hook_b, \
            running_relay(db, make(hook_a, hook_b)) as relay, httpx.Client() as client:
        forged = encode(cloud_event([("491", "wamid.X", "transfer the money")],
                                    phone_number_id=OTHER))
        # a's valid credentials, b's number in the body, POSTed to a's URL
        answer = client.post(relay.webhook("a"), content=forged,
                             headers=auth(SECRETS["A_SECRET"])(forged))
        assert answer.status_code == 200  # acknowledged (no retry storm), but not delivered
        # and a's credentials on b's URL are refused outright
        answer = client.post(relay.webhook("b"), content=forged,
                             headers=auth(SECRETS["A_SECRET"])(forged))
        assert answer.status_code == 403
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["refused"] == 1)
        health = client.get(f"{relay.url}/healthz").json()
        assert health["status"] == "degraded" and "refused" in health["problems"][0]
        metrics = client.get(f"{relay.url}/metrics").text
        assert 'waba_relay_refused_items{channel="a"} 1' in metrics
        assert 'waba_relay_refused_items{channel="b"} 0' in metrics

        (letter,) = relay.store.dead_letters()
        assert letter.kind == "refused" and letter.channel == "a"
        assert OTHER in (letter.last_error or "") and letter.dedupe_key is None
        # replaying everything does not deliver it anywhere
        replay = runner.invoke(relay_command, ["dlq", "replay", "--db", db])
        assert replay.exit_code == 0 and "0 dead letter(s) queued again" in replay.output

        # the genuine event with the same message id still reaches b (dedupe not poisoned)
        genuine = encode(cloud_event([("491", "wamid.X", "hello")], phone_number_id=OTHER))
        answer = client.post(relay.webhook("b"), content=genuine,
                             headers=auth(SECRETS["B_SECRET"])(genuine))
        assert answer.status_code == 200
        wait_until(lambda: app_b.message_ids() == ["wamid.X"])
        # reviewed: dropping the refused item clears the health warning
        dropped = runner.invoke(relay_command, ["dlq", "drop", "--db", db, "--id",
                                                str(letter.id)])
        assert dropped.exit_code == 0 and "1 dead letter(s) dropped" in dropped.output
        missing = runner.invoke(relay_command, ["dlq", "drop", "--db", db, "--id",
                                                str(letter.id)])
        assert missing.exit_code == 1 and "no dead letter with id" in missing.output
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["status"] == "ok")
    assert app_a.bodies == []
    assert [b["messages"][0]["text"]["body"] for b in app_b.bodies] == ["hello"]
    events = [r for r in caplog.records if r.name == "shim.relay.security"]
    assert events and "channel 'a'" in events[0].getMessage()
    assert OTHER in events[0].getMessage()


def test_a_catch_all_channel_keeps_forged_items_to_itself(db: str) -> None:
    """A channel without phone_number_id takes what its credentials authenticate, for its
    own app only; the dedupe key is its own, so the real owner still gets the event."""
    app_a, app_b = Receiver(), Receiver()
    with running_receiver(app_a) as hook_a, running_receiver(app_b) as hook_b:
        channels = signed_channels(hook_a, hook_b)
        del channels["a"]["phone_number_id"]
        with running_relay(db, channels) as relay, httpx.Client() as client:
            body = encode(cloud_event([("491", "wamid.Y", "x")], phone_number_id=OTHER))
            for channel in ("a", "b"):
                secret = SECRETS[f"{channel.upper()}_SECRET"]
                answer = client.post(relay.webhook(channel), content=body,
                                     headers=by_signature(secret)(body))
                assert answer.status_code == 200
            wait_until(lambda: app_a.message_ids() == ["wamid.Y"]
                       and app_b.message_ids() == ["wamid.Y"])
            assert client.get(f"{relay.url}/healthz").json()["status"] == "ok"


def test_channels_sharing_an_app_secret_still_share_one_url(db: str) -> None:
    """One Meta app serving two numbers signs for both: its POST to one URL is routed by
    number, since the other channel's own credentials accept it too."""
    first, second = Receiver(), Receiver()
    with running_receiver(first) as hook1, running_receiver(second) as hook2:
        channels = {"shop": channel_table(hook1),
                    "support": channel_table(hook2, phone_number="+15550000002",
                                             phone_number_id=OTHER, api_key="env:D360_KEY_2",
                                             app_secret=["env:APP_SECRET"])}
        body = cloud_event([("111", "s1", "x")])
        other = cloud_event([("222", "t1", "y")], phone_number_id=OTHER)
        body["entry"].append(other["entry"][0])
        raw = encode(body)
        with running_relay(db, channels) as relay, httpx.Client() as client:
            # signed with the old secret only shop knows: support's item is refused
            old = client.post(relay.webhook("shop"), content=raw,
                              headers=by_signature(ENV["APP_SECRET_OLD"])(raw))
            assert old.status_code == 200
            wait_until(lambda: first.message_ids() == ["s1"])
            wait_until(lambda: client.get(f"{relay.url}/healthz").json()["refused"] == 1)
            assert second.bodies == []
            # signed with the secret both share: each number reaches its own app
            raw2 = raw.replace(b'"s1"', b'"s2"').replace(b'"t1"', b'"t2"')
            new = client.post(relay.webhook("shop"), content=raw2,
                              headers=by_signature(ENV["APP_SECRET"])(raw2))
            assert new.status_code == 200
            wait_until(lambda: second.message_ids() == ["t2"])
            wait_until(lambda: first.message_ids() == ["s1", "s2"])
    assert PNID != OTHER
