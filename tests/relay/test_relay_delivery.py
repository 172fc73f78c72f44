"""Deliveries an app can deduplicate: a stable delivery id on every attempt, a per-channel
timeout, and a circuit breaker instead of re-sending the whole queue to a slow app."""

from __future__ import annotations

import collections
import time
from typing import Any

import httpx

from shim.relay.breaker import Breakers, target_of
from tests.relay.loopback import (
    SECRET,
    Receiver,
    channel_table,
    cloud_event,
    post_event,
    running_receiver,
    running_relay,
)


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def ids_by_message(receiver: Receiver) -> dict[str, set[str | None]]:
    out: dict[str, set[str | None]] = collections.defaultdict(set)
    with receiver.lock:
        for uid, body in receiver.seen:
            for message in body.get("messages", []):
                out[message["id"]].add(uid)
    return out


def test_every_attempt_of_an_item_carries_the_same_delivery_id(db: str) -> None:
    receiver = Receiver(fail_first=3)
    with running_receiver(receiver) as hook, running_relay(db, {"shop": channel_table(hook)}) \
            as relay, httpx.Client() as client:
        body = cloud_event([("111", "m1", "x")], statuses=[("w1", "read", "222")])
        assert post_event(client, relay.webhook(), body, SECRET) == 200
        wait_until(lambda: len(receiver.bodies) == 2)
    by_message = ids_by_message(receiver)
    (uid,) = by_message["m1"]
    assert uid and len(uid) == 32
    assert len(receiver.seen) >= 5  # three 500s, then both items
    status_ids = {u for u, b in receiver.seen if "statuses" in b}
    assert len(status_ids) == 1 and status_ids != {uid}


def test_a_slow_app_gets_each_message_a_bounded_number_of_times(db: str) -> None:
    """The app answers after the channel's forward_timeout (so it did get the body): the
    breaker opens, probes one at a time, and every retry carries the same delivery id."""
    receiver = Receiver(delay=1.0)
    total = 20
    with running_receiver(receiver) as hook, \
            running_relay(db, {"shop": channel_table(hook, forward_timeout=0.25)},
                          breaker_cooldown=0.5) as relay, httpx.Client() as client:
        for n in range(total):
            body = cloud_event([(f"4917{n:04d}", f"m{n}", "x")])
            assert post_event(client, relay.webhook(), body, SECRET) == 200
        slow_until = time.monotonic() + 3.0
        wait_until(lambda: time.monotonic() > slow_until, timeout=10)
        with receiver.lock:
            while_slow = len(receiver.seen)
        metrics = client.get(f"{relay.url}/metrics").text
        health = client.get(f"{relay.url}/healthz").json()
        receiver.delay = 0.0  # the app recovers
        wait_until(lambda: len(ids_by_message(receiver)) == total
                   and len(set(receiver.message_ids())) == total)
        wait_until(lambda: client.get(f"{relay.url}/healthz").json()["queue_depth"] == 0)
        assert client.get(f"{relay.url}/healthz").json()["status"] == "ok"
    print(f"\nslow app: {while_slow} requests in 3 s for {total} messages; "
          f"{len(receiver.seen)} in all")
    # Without a breaker every slot re-sends every 0.25-0.35 s: well over 100 requests here.
    assert while_slow <= 16 + 12
    assert len(receiver.seen) <= total + 16 + 12
    assert health["status"] == "degraded" and any("circuit" in p for p in health["problems"])
    assert 'waba_relay_circuit_open{target="http://127.0.0.1:' in metrics
    by_message = ids_by_message(receiver)
    assert all(len(uids) == 1 and None not in uids for uids in by_message.values())
    assert any(count > 1 for count in collections.Counter(
        m["id"] for _, b in receiver.seen for m in b["messages"]).values())


def test_breaker_states() -> None:
    now = [0.0]
    breakers = Breakers(threshold=2, cooldown=1.0, max_cooldown=3.0, clock=lambda: now[0])
    target = target_of("http://user@app.internal/hook?x=1")
    assert target == "http://app.internal:80"
    assert breakers.admit(target) is None
    breakers.failure(target)
    assert breakers.admit(target) is None  # one failure: still closed
    breakers.failure(target)
    assert breakers.admit(target) == 1.0  # open
    now[0] = 1.0
    assert breakers.admit(target) is None  # half-open: the probe
    assert breakers.admit(target) == 1.0  # nobody else while it is out
    breakers.failure(target)  # failed probe: open twice as long
    now[0] = 2.5
    assert breakers.admit(target) == 0.5
    now[0] = 3.0
    assert breakers.admit(target) is None
    breakers.failure(target)
    now[0] = 5.9
    assert breakers.admit(target) is not None  # capped at 3 s, not 4
    now[0] = 6.0
    assert breakers.admit(target) is None
    breakers.success(target)
    assert breakers.states() == [(target, "closed")] and breakers.admit(target) is None
