"""The relay over loopback: a real uvicorn relay, a real receiving app, both stores."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from shim.cli.relay import relay as relay_command
from shim.webhooks import sign
from tests.relay.loopback import (
    ENV,
    SECRET,
    Receiver,
    channel_table,
    cloud_event,
    conv_of,
    encode,
    post_event,
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


def test_verify_handshake(db: str) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        url = relay.webhook()
        ok = client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                                     "hub.challenge": "1158201444"})
        assert (ok.status_code, ok.text) == (200, "1158201444")
        wrong = client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                        "hub.challenge": "1"})
        assert wrong.status_code == 403
        mode = client.get(url, params={"hub.mode": "unsubscribe", "hub.verify_token": "verify-me",
                                       "hub.challenge": "1"})
        assert mode.status_code == 400 and "hub.mode" in mode.json()["error"]
        assert client.get(url).status_code == 400
        unknown = client.get(relay.webhook("nope"), params={"hub.mode": "subscribe"})
        assert unknown.status_code == 404


def test_signed_events_reach_the_app_as_onprem_bodies(db: str) -> None:
    receiver = Receiver()
    body = cloud_event([("111", "m1", "hello"), ("222", "m2", "hi")],
                       statuses=[("w9", "delivered", "333")])
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        raw = encode(body)
        for secret in (ENV["APP_SECRET_OLD"], SECRET):  # both secrets valid during rotation
            headers = signed_headers(raw, secret)
            response = client.post(relay.webhook(), content=raw, headers=headers)
            assert (response.status_code, response.text) == (200, "OK")
        wait_until(lambda: len(receiver.bodies) == 3)
        time.sleep(0.2)
    assert len(receiver.bodies) == 3  # the second POST was a redelivery: deduplicated
    by_conv = {conv_of(b): b for b in receiver.bodies}
    assert by_conv["111"] == {
        "contacts": [{"profile": {"name": "User 111"}, "wa_id": "111"}],
        "messages": [{"from": "111", "id": "m1", "timestamp": "1749416383", "type": "text",
                      "text": {"body": "hello"}}],
    }
    status = by_conv["333"]["statuses"][0]
    assert status["message"] == {"recipient_id": "333"} and status["status"] == "delivered"
    assert all("entry" not in b and "metadata" not in b for b in receiver.bodies)
    headers = receiver.headers[0]
    assert headers["x-legacy"] == "yes" and headers["authorization"] == "Bearer legacy-token"
    assert headers["content-type"] == "application/json"


def test_bad_input_gets_a_clear_4xx_and_nothing_is_stored(db: str) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        url = relay.webhook()
        good = encode(cloud_event([("111", "m1", "x")]))

        def post(raw: bytes, **headers: str) -> httpx.Response:
            return client.post(url, content=raw, headers=headers)

        missing = post(good, **{"content-type": "application/json"})
        assert missing.status_code == 401 and "X-Hub-Signature-256" in missing.json()["error"]
        forged = post(good, **{"content-type": "application/json",
                               "x-hub-signature-256": sign("wrong-secret", good)})
        assert forged.status_code == 403
        tampered = good.replace(b"m1", b"m9")
        assert post(tampered, **signed_headers(good, SECRET)).status_code == 403
        bad_json = b'{"entry": [,]}'
        response = post(bad_json, **signed_headers(bad_json, SECRET))
        assert response.status_code == 400 and "line 1, column 12" in response.json()["error"]
        not_webhook = b'{"hello": "world"}'
        response = post(not_webhook, **signed_headers(not_webhook, SECRET))
        assert response.status_code == 400 and "not a webhook body" in response.json()["error"]
        form = {**signed_headers(good, SECRET), "content-type": "application/x-www-form-urlencoded"}
        response = post(good, **form)
        assert response.status_code == 415 and "application/json" in response.json()["error"]
        huge = b'{"entry": [], "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        assert post(huge, **signed_headers(huge, SECRET)).status_code == 413
        unknown = client.post(relay.webhook("nope"), content=good,
                              headers=signed_headers(good, SECRET))
        assert unknown.status_code == 404 and "unknown channel" in unknown.json()["error"]
        health = client.get(f"{relay.url}/healthz").json()
        assert health["queue_depth"] == 0 and health["status"] == "ok"
        # still running, still accepting good events
        assert post(good, **signed_headers(good, SECRET)).status_code == 200
        wait_until(lambda: receiver.message_ids() == ["m1"])


def test_order_per_conversation_and_a_stuck_one_blocks_nobody(db: str) -> None:
    receiver = Receiver(fail_senders={"111"})
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        for n in range(5):
            body = cloud_event([("111", f"a{n}", "x"), ("222", f"b{n}", "x")])
            assert post_event(client, relay.webhook(), body, SECRET) == 200
        wait_until(lambda: len(receiver.message_ids()) == 5)
        assert receiver.message_ids() == [f"b{n}" for n in range(5)]
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["queue_depth"] == 5)
        assert client.get(f"{relay.url}/healthz").json()["oldest_pending_age_s"] > 0
        receiver.fail_senders.clear()
        wait_until(lambda: len(receiver.message_ids()) == 10)
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["queue_depth"] == 0)
    a_ids = [i for i in receiver.message_ids() if i.startswith("a")]
    assert a_ids == [f"a{n}" for n in range(5)]


def test_dead_letter_after_max_age_then_replay_from_the_cli(db: str, tmp_path: Path) -> None:
    receiver = Receiver(fail_senders={"111"})
    runner = CliRunner()
    with running_receiver(receiver) as hook, \
            running_relay(db, {"shop": channel_table(hook)}, max_age=0.3) as relay, \
            httpx.Client() as client:
        assert post_event(client, relay.webhook(), cloud_event([("111", "m1", "x")]), SECRET) == 200
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["dead_letters"] == 1)
        listed = runner.invoke(relay_command, ["dlq", "list", "--db", db])
        assert listed.exit_code == 0, listed.output
        assert "msg:m1" in listed.output and "HTTP 503" in listed.output
        as_json = runner.invoke(relay_command, ["dlq", "list", "--db", db, "--json"])
        letter = __import__("json").loads(as_json.output)
        assert letter["body"]["messages"][0]["id"] == "m1" and letter["attempts"] >= 1
        missing = runner.invoke(relay_command, ["dlq", "replay", "--db", db, "--id", "999"])
        assert missing.exit_code == 1 and "no dead letter with id 999" in missing.output
        receiver.fail_senders.clear()
        replay = runner.invoke(relay_command, ["dlq", "replay", "--db", db, "--id",
                                               str(letter["id"])])
        assert replay.exit_code == 0 and "1 dead letter(s) queued again" in replay.output
        wait_until(lambda: receiver.message_ids() == ["m1"])
        assert runner.invoke(relay_command, ["dlq", "list", "--db", db]).output.startswith(
            "no dead letters")


def test_360dialog_shared_secret_header(db: str) -> None:
    receiver = Receiver()
    table = channel_table("http://placeholder/hook", app_secret=None,
                          webhook_secret_header="X-Relay-Secret",
                          webhook_secret="env:HEADER_SECRET")
    with running_receiver(receiver) as hook:
        table["forward_url"] = hook
        with running_relay(db, {"shop": table}) as relay, httpx.Client() as client:
            raw = encode(cloud_event([("111", "m1", "x")]))
            base = {"content-type": "application/json"}
            assert client.post(relay.webhook(), content=raw, headers=base).status_code == 401
            wrong = {**base, "x-relay-secret": "guess"}
            assert client.post(relay.webhook(), content=raw, headers=wrong).status_code == 403
            right = {**base, "x-relay-secret": ENV["HEADER_SECRET"]}
            assert client.post(relay.webhook(), content=raw, headers=right).status_code == 200
            wait_until(lambda: receiver.message_ids() == ["m1"])


def test_one_url_for_several_numbers_routes_by_phone_number_id(db: str) -> None:
    first, second = Receiver(), Receiver()
    with running_receiver(first) as hook1, running_receiver(second) as hook2:
        channels = {"shop": channel_table(hook1),
                    "support": channel_table(hook2, phone_number="+15550000002",
                                             phone_number_id="2000000002",
                                             api_key="env:D360_KEY_2")}
        body = cloud_event([("111", "s1", "x")])
        other = cloud_event([("222", "t1", "y")], phone_number_id="2000000002")
        body["entry"].append(other["entry"][0])  # one POST, two numbers
        with running_relay(db, channels) as relay, httpx.Client() as client:
            assert post_event(client, relay.webhook("shop"), body, SECRET) == 200
            wait_until(lambda: first.message_ids() == ["s1"] and second.message_ids() == ["t1"])


def test_a_never_ending_ack_burst_still_lets_deliveries_trickle_out(tmp_path: Path) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook, \
            running_relay(str(tmp_path / "relay.db"), {"shop": channel_table(hook)}) as relay, \
            httpx.Client() as client:
        relay.worker.ingest_busy = lambda: True  # acks always "busy": only slot 0 runs
        for n in range(6):
            body = cloud_event([(f"49{n}", f"m{n}", "x")])
            assert post_event(client, relay.webhook(), body, SECRET) == 200
        wait_until(lambda: len(receiver.message_ids()) == 6)
    assert sorted(receiver.message_ids()) == [f"m{n}" for n in range(6)]


def test_webhook_shaped_body_the_translator_refuses_is_kept_as_a_dead_letter(db: str) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        odd = {"object": "whatsapp_business_account",
               "entry": [{"id": "1", "changes": [{"field": "messages", "value": "nope"}]}]}
        assert post_event(client, relay.webhook(), odd, SECRET) == 200  # no Meta retry storm
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["dead_letters"] == 1)
        (letter,) = relay.store.dead_letters()
    assert letter.kind == "event" and "$.entry[0].changes[0].value" in (letter.last_error or "")
    assert receiver.bodies == []
