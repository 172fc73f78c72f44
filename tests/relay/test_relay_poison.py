"""No poison events: whatever one event holds, the queue moves on (both stores, over loopback
and against the store directly)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from shim.relay.store import Outcome, Store, open_store
from shim.relay.worker import make_split
from tests.relay.loopback import (
    SECRET,
    Receiver,
    channel_table,
    cloud_event,
    encode,
    post_event,
    running_receiver,
    running_relay,
)

LEASE = 30.0


def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def untranslatable() -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": "nope"}]}]}


def test_a_lone_surrogate_does_not_wedge_the_queue(db: str) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook:
        channels = {"shop": channel_table(hook)}
        with running_relay(db, channels) as relay, httpx.Client() as client:
            health = f"{relay.url}/healthz"
            assert post_event(client, relay.webhook(), cloud_event([("111", "m1", "a")]),
                              SECRET) == 200
            # the poison: lone surrogates in the text, the message id and the sender
            poison = cloud_event([("222\ud800", "m2\udfff", "x\ud800y")])
            assert post_event(client, relay.webhook(), poison, SECRET) == 200
            assert post_event(client, relay.webhook(), untranslatable(), SECRET) == 200
            for n in (3, 4):
                assert post_event(client, relay.webhook(),
                                  cloud_event([("111", f"m{n}", "b")]), SECRET) == 200
            wait_until(lambda: {"m1", "m3", "m4", "m2\udfff"} <= set(receiver.message_ids()))
            wait_until(lambda: client.get(health).json()["dead_letters"] == 1)
            state = client.get(health).json()
            assert state["status"] == "degraded" and state["queue_depth"] == 0
            assert any("dead letter" in p for p in state["problems"])
        # restart on the same store: it serves, delivers and still reports the dead letter
        with running_relay(db, channels) as relay, httpx.Client() as client:
            assert post_event(client, relay.webhook(), cloud_event([("111", "m5", "c")]),
                              SECRET) == 200
            wait_until(lambda: "m5" in receiver.message_ids())
            assert client.get(f"{relay.url}/healthz").json()["status"] == "degraded"
            (letter,) = relay.store.dead_letters()
            assert letter.kind == "event" and json.loads(letter.body) == untranslatable()
    assert sorted(set(receiver.message_ids())) == sorted(["m1", "m2\udfff", "m3", "m4", "m5"])
    (raw,) = [r for r in receiver.raw if b"m2" in r]
    raw.decode("utf-8")  # valid UTF-8 ...
    assert b'"x\\ud800y"' in raw and b'"m2\\udfff"' in raw  # ... with the surrogates escaped
    body = json.loads(raw)
    assert body["messages"][0]["text"]["body"] == "x\ud800y"  # nothing dropped
    assert body["contacts"][0]["wa_id"] == "222\ud800"


# -- the store alone ---------------------------------------------------------------

split = make_split()


@pytest.fixture
def store(db: str) -> Store:
    opened = open_store(db)
    yield opened  # type: ignore[misc]
    opened.close()


def ids(deliveries: list[Any]) -> list[str]:
    return [m["id"] for d in deliveries for m in json.loads(d.body).get("messages", [])]


async def add(store: Store, raw: bytes) -> None:
    await store.add_event("shop", raw, time.time())


@pytest.mark.anyio
async def test_values_no_column_takes_are_stored_or_dead_lettered(store: Store) -> None:
    good = cloud_event([("111", "m1", "x")])
    await add(store, encode(good))
    nul = cloud_event([("222", "m\x00nul", "text with \x00 inside")])
    await add(store, encode(nul))  # PostgreSQL text refuses NUL: the key is hashed
    long_id = "w" * 10_000  # far over a B-tree index entry
    await add(store, encode(cloud_event([("333", long_id, "x")])))
    infinite = encode(cloud_event([("444", "m4", "x")])).replace(b'"x"', b"1e999")
    await add(store, infinite)  # parses as Infinity, which is not JSON
    await add(store, encode(cloud_event([("555", "m5", "x")])))
    assert await store.expand(split, 100) == 5
    claimed = await store.claim(10, time.time(), LEASE)
    assert sorted(ids(claimed)) == sorted(["m1", "m\x00nul", long_id, "m5"])
    (letter,) = store.dead_letters()
    assert letter.kind == "event" and "cannot encode" in (letter.last_error or "")
    assert letter.body == infinite  # the raw bytes as received
    for delivery in claimed:
        assert delivery.dedupe_key is not None and len(delivery.dedupe_key) < 100
        await store.finish(delivery.id, Outcome.done(time.time()))
    # redeliveries of the odd ones are still recognised as such
    await add(store, encode(nul))
    await add(store, encode(cloud_event([("333", long_id, "x")])))
    await store.expand(split, 100)
    assert await store.claim(10, time.time(), LEASE) == []


@pytest.mark.anyio
async def test_delivery_ids_are_stable_and_scoped_by_channel(store: Store) -> None:
    raw = encode(cloud_event([("111", "m1", "x")]))
    await store.add_event("shop", raw, time.time())
    await store.add_event("other", raw, time.time())
    await store.expand(split, 100)
    first = await store.claim(10, time.time(), LEASE)
    assert sorted(d.channel for d in first) == ["other", "shop"]
    assert len({d.uid for d in first}) == 2 and all(len(d.uid) == 32 for d in first)
    for d in first:
        await store.finish(d.id, Outcome.retry(time.time(), "HTTP 500"))
    again = await store.claim(10, time.time() + 1, LEASE)
    assert {d.id: d.uid for d in again} == {d.id: d.uid for d in first}


@pytest.mark.postgres
def test_repeated_worker_errors_make_the_relay_degraded_until_they_stop(
        postgres_db: str) -> None:
    """A real fault: another session makes every write to the queue fail (a trigger that
    raises), then lifts it. The worker keeps retrying; /healthz says degraded meanwhile."""
    import psycopg

    receiver = Receiver()
    with running_receiver(receiver) as hook, \
            running_relay(postgres_db, {"shop": channel_table(hook)}) as relay, \
            httpx.Client() as client, psycopg.connect(postgres_db, autocommit=True) as admin:
        health = f"{relay.url}/healthz"
        assert post_event(client, relay.webhook(), cloud_event([("111", "m1", "a")]),
                          SECRET) == 200
        wait_until(lambda: receiver.message_ids() == ["m1"])
        admin.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                         $$ BEGIN RAISE EXCEPTION 'disk trouble'; END $$""")
        admin.execute("CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON relay_deliveries "
                      "FOR EACH ROW EXECUTE FUNCTION refuse()")
        try:
            # events are still acknowledged (they land in relay_events)
            assert post_event(client, relay.webhook(), cloud_event([("111", "m2", "b")]),
                              SECRET) == 200
            wait_until(lambda: client.get(health).json()["status"] == "degraded", timeout=30)
            state = client.get(health).json()
            assert any("steps in a row" in p for p in state["problems"])
        finally:
            admin.execute("DROP TRIGGER refuse ON relay_deliveries")
        wait_until(lambda: receiver.message_ids() == ["m1", "m2"], timeout=60)
        wait_until(lambda: client.get(health).json()["status"] == "ok", timeout=30)
        assert client.get(health).json()["worker_errors"] >= 3
        assert relay.store.dead_letters() == []  # the fault was not the event's: nothing lost
