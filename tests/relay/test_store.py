"""The queue semantics, against both stores: dedupe, per-conversation order, leases,
dead letters and replay, untranslatable events, stats, pruning."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shim.relay.dedupe import Item
from shim.relay.store import Outcome, Store, open_store
from shim.relay.store_sqlite import SQLiteStore, StoreLockedError
from shim.relay.worker import make_split
from tests.relay.loopback import cloud_event, encode

pytestmark = pytest.mark.anyio
split = make_split()
LEASE = 30.0


@pytest.fixture
def store(db: str) -> Store:
    opened = open_store(db)
    yield opened  # type: ignore[misc]
    opened.close()


def ids_of(deliveries: list) -> list[str]:  # type: ignore[type-arg]
    out = []
    for d in deliveries:
        body = json.loads(d.body)
        out += [m["id"] for m in body.get("messages", [])]
        out += [f"{s['id']}:{s['status']}" for s in body.get("statuses", [])]
    return out


async def add(store: Store, body: dict, channel: str = "shop") -> None:  # type: ignore[type-arg]
    await store.add_event(channel, encode(body), time.time())


async def test_redelivered_items_are_dropped_and_batches_split_per_item(store: Store) -> None:
    first = cloud_event([("111", "m1", "hi"), ("222", "m2", "yo")])
    await add(store, first)
    await add(store, cloud_event([("111", "m3", "again")]))
    await add(store, first)  # Meta redelivers the whole POST
    assert await store.expand(split, 100) == 3
    stats = await store.stats()
    assert (stats.pending_deliveries, stats.new_events) == (3, 0)
    claimed = await store.claim(10, time.time(), LEASE)
    # m3 waits behind m1 (same conversation); m2 is another conversation
    assert ids_of(claimed) == ["m1", "m2"]
    assert [d.attempts for d in claimed] == [1, 1]
    body = json.loads(claimed[0].body)
    assert body["contacts"] == [{"profile": {"name": "User 111"}, "wa_id": "111"}]
    assert claimed[0].phone_number_id == "106540352242922"
    await store.finish(claimed[0].id, Outcome.done(time.time()))
    assert ids_of(await store.claim(10, time.time(), LEASE)) == ["m3"]


async def test_each_status_kept_once(store: Store) -> None:
    statuses = [("w1", "sent", "111"), ("w1", "delivered", "111"), ("w1", "read", "111")]
    await add(store, cloud_event(statuses=statuses))
    await add(store, cloud_event(statuses=[("w1", "read", "111"), ("w1", "sent", "111")]))
    await store.expand(split, 100)
    seen = []
    for _ in range(5):
        claimed = await store.claim(10, time.time(), LEASE)
        seen += ids_of(claimed)
        for d in claimed:
            await store.finish(d.id, Outcome.done(time.time()))
    assert seen == ["w1:sent", "w1:delivered", "w1:read"]


async def test_a_failing_conversation_holds_back_only_itself(store: Store) -> None:
    await add(store, cloud_event([("111", "a1", "x"), ("222", "b1", "x")]))
    await add(store, cloud_event([("111", "a2", "x"), ("222", "b2", "x")]))
    await store.expand(split, 100)
    now = time.time()
    a1, b1 = await store.claim(10, now, LEASE)
    await store.finish(a1.id, Outcome.retry(now + 3600, "HTTP 500"))
    await store.finish(b1.id, Outcome.done(now))
    (b2,) = await store.claim(10, now, LEASE)
    assert ids_of([b2]) == ["b2"]
    await store.finish(b2.id, Outcome.done(now))
    assert await store.claim(10, now, LEASE) == []  # a2 stays behind a1
    retried = await store.claim(10, now + 3601, LEASE)
    assert ids_of(retried) == ["a1"] and retried[0].attempts == 2


async def test_an_expired_lease_is_claimed_again(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x")]))
    await store.expand(split, 100)
    now = time.time()
    assert ids_of(await store.claim(10, now, 5)) == ["m1"]
    assert await store.claim(10, now + 1, 5) == []
    again = await store.claim(10, now + 6, 5)
    assert ids_of(again) == ["m1"] and again[0].attempts == 2


async def test_dead_letters_list_and_replay(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x"), ("111", "m2", "y")]))
    await store.expand(split, 100)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)
    assert await store.claim(10, now, LEASE) == []
    # finishing can claim the next head in the same transaction; m1's death unblocks m2
    (m2,) = await store.finish(m1.id, Outcome.dead(now, "forward URL answered HTTP 500"),
                               claim_next=5, now=now, lease=LEASE)
    assert ids_of([m2]) == ["m2"]
    (letter,) = store.dead_letters()
    assert (letter.id, letter.kind, letter.dedupe_key) == (m1.id, "body", "msg:m1")
    assert letter.last_error == "forward URL answered HTTP 500" and letter.attempts == 1
    assert (await store.stats()).dead_letters == 1
    assert store.replay([m1.id], now + 10) == 1
    assert store.dead_letters() == []
    replayed = await store.claim(10, now + 10, LEASE)
    assert ids_of(replayed) == ["m1"] and replayed[0].attempts == 1
    assert replayed[0].created_at == pytest.approx(now + 10, abs=1e-3)  # fresh max-age budget


async def test_an_untranslatable_event_is_dead_lettered_and_replayable(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x")]))
    calls = []

    def broken(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        calls.append(channel)
        raise ValueError("translator bug")

    assert await store.expand(broken, 100) == 1
    (letter,) = store.dead_letters()
    assert letter.kind == "event" and "translator bug" in (letter.last_error or "")
    assert json.loads(letter.body)["entry"][0]["id"] == "102290129340398"
    assert await store.claim(10, time.time(), LEASE) == []
    assert store.replay([], time.time()) == 1
    await store.expand(split, 100)
    assert ids_of(await store.claim(10, time.time(), LEASE)) == ["m1"]
    assert store.dead_letters() == []


async def test_stats_count_unsplit_events_and_report_the_oldest(store: Store) -> None:
    assert (await store.stats()).queue_depth == 0
    t0 = time.time() - 50
    await store.add_event("shop", encode(cloud_event([("111", "m1", "x")])), t0)
    stats = await store.stats()
    assert (stats.queue_depth, stats.new_events) == (1, 1)
    assert stats.oldest_pending_at == pytest.approx(t0)
    await store.expand(split, 100)
    stats = await store.stats()
    assert (stats.queue_depth, stats.pending_deliveries) == (1, 1)


async def test_dead_letters_survive_pruning_and_stay_replayable(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x")]))
    await store.expand(split, 100)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)
    await store.finish(m1.id, Outcome.dead(now - 1000, "HTTP 500"))

    def broken(channel: str, raw: bytes) -> list[Item]:
        raise ValueError("translator bug")

    await add(store, cloud_event([("222", "m2", "y")]))
    assert await store.expand(broken, 100) == 1
    assert sorted(d.kind for d in store.dead_letters()) == ["body", "event"]
    await store.prune(time.time() + 10_000)  # everything is "old": only dead letters must stay
    assert sorted(d.kind for d in store.dead_letters()) == ["body", "event"]
    assert (await store.stats()).dead_letters == 2
    assert store.replay([], time.time()) == 2
    await store.expand(split, 100)
    assert sorted(ids_of(await store.claim(10, time.time(), LEASE))) == ["m1", "m2"]


async def test_prune_forgets_old_done_items(store: Store) -> None:
    body = cloud_event([("111", "m1", "x")])
    await add(store, body)
    await store.expand(split, 100)
    (m1,) = await store.claim(10, time.time(), LEASE)
    await store.finish(m1.id, Outcome.done(time.time() - 100))
    assert await store.prune(time.time() - 200) == 0
    assert await store.prune(time.time() - 50) == 1
    await add(store, body)  # after the dedupe window a redelivery is new again
    await store.expand(split, 100)
    assert ids_of(await store.claim(10, time.time(), LEASE)) == ["m1"]


def test_one_sqlite_server_per_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    first = SQLiteStore(path)
    try:
        with pytest.raises(StoreLockedError, match="in use by another relay"):
            SQLiteStore(path)
        SQLiteStore(path, exclusive=False).close()  # admin commands still work
    finally:
        first.close()
    SQLiteStore(path).close()  # released on close


async def test_events_survive_reopening(db: str) -> None:
    store = open_store(db)
    await add(store, cloud_event([("111", "m1", "x")]))
    await store.expand(split, 100)
    await store.claim(10, time.time(), LEASE)  # in flight when the process "dies"
    store.close()
    store = open_store(db)
    try:
        now = time.time() + (LEASE + 1 if store.shared else 0)  # SQLite resets at start
        assert ids_of(await store.claim(10, now, LEASE)) == ["m1"]
    finally:
        store.close()


async def test_one_step_records_outcomes_claims_the_next_heads_and_says_when_next(
        store: Store) -> None:
    await add(store, cloud_event([("111", "a1", "x"), ("222", "b1", "x")]))
    await add(store, cloud_event([("111", "a2", "x"), ("222", "b2", "x")]))
    now = time.time()
    first = await store.step([], split, expand=100, claim=10, now=now, lease=LEASE)
    assert first.expanded == 2 and ids_of(first.claimed) == ["a1", "b1"]
    a1, b1 = first.claimed
    # only leases are active (a shared store leaves them out: its callers poll)
    assert first.next_due == (None if store.shared else pytest.approx(now + LEASE, abs=1e-3))
    second = await store.step([(a1, Outcome.done(now)), (b1, Outcome.retry(now + 60, "503"))],
                              split, expand=100, claim=10, now=now, lease=LEASE)
    assert second.expanded == 0 and ids_of(second.claimed) == ["a2"]  # b2 waits behind b1
    soonest = now + 60 if store.shared else now + LEASE  # b1's retry, or a2's lease
    assert second.next_due == pytest.approx(soonest, abs=1e-3)
    (a2,) = second.claimed
    third = await store.step([(a2, Outcome.done(now))], None, expand=0, claim=10, now=now,
                             lease=LEASE)
    assert third.claimed == [] and third.next_due == pytest.approx(now + 60, abs=1e-3)
    later = await store.step([], None, expand=0, claim=10, now=now + 61, lease=LEASE)
    assert ids_of(later.claimed) == ["b1"] and later.claimed[0].attempts == 2


async def test_a_late_outcome_of_a_claim_taken_again_changes_nothing(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x"), ("111", "m2", "x")]))
    await store.expand(split, 100)
    now = time.time()
    (old,) = await store.claim(10, now, 5)
    (new,) = await store.claim(10, now + 6, 5)  # the lease ran out: claimed again
    assert (old.id, old.attempts, new.attempts) == (new.id, 1, 2)
    late = await store.step([(old, Outcome.done(now + 7))], None, expand=0, claim=10,
                            now=now + 7, lease=5)
    assert late.claimed == []  # m1 is still in flight under the new claim; m2 waits
    done = await store.step([(new, Outcome.done(now + 8))], None, expand=0, claim=10,
                            now=now + 8, lease=5)
    assert ids_of(done.claimed) == ["m2"]


async def test_replaying_an_older_dead_letter_puts_it_back_at_the_head(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x"), ("111", "m2", "y"), ("111", "m3", "z")]))
    await store.expand(split, 100)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)
    (m2,) = await store.finish(m1.id, Outcome.dead(now, "HTTP 500"), claim_next=5, now=now,
                               lease=LEASE)
    await store.finish(m2.id, Outcome.retry(now + 3600, "HTTP 500"))
    assert store.replay([m1.id], now) == 1
    assert ids_of(await store.claim(10, now, LEASE)) == ["m1"]  # before m2, which waits


OLD_ROWS = [("111", "m0", "done"), ("111", "m1", "pending"), ("222", "m3", "pending"),
            ("111", "m2", "pending")]
OLD_INSERT = ("INSERT INTO relay_deliveries (event_id, channel, conv_key, dedupe_key, kind, body, "
              "state, created_at, next_at) VALUES (1, 'shop', %s, %s, 'body', %s, %s, 0, 0)")


def _old_schema_db(db: str) -> None:
    """A queue as relays before the head flag wrote it: m1, m2 (conversation 111) and m3
    (222) pending, one older item of 111 already done."""
    if db.startswith("postgresql://"):
        import psycopg

        from shim.relay.store_postgres import SCHEMA as PG_SCHEMA

        old = PG_SCHEMA.replace(",\n    head SMALLINT NOT NULL DEFAULT 0", "")
        assert old != PG_SCHEMA
        with psycopg.connect(db) as pg:
            pg.execute(old)
            for conv, mid, state in OLD_ROWS:
                body = json.dumps({"messages": [{"from": conv, "id": mid}]})
                pg.execute(OLD_INSERT, (conv, f"msg:{mid}", body, state))
        return
    import sqlite3

    from shim.relay.store_sqlite import SCHEMA

    old = SCHEMA.replace(",\n    head INTEGER NOT NULL DEFAULT 0", "")
    assert old != SCHEMA
    conn = sqlite3.connect(db)
    conn.executescript(old)
    for conv, mid, state in OLD_ROWS:
        body = json.dumps({"messages": [{"from": conv, "id": mid}]})
        conn.execute(OLD_INSERT.replace("%s", "?"), (conv, f"msg:{mid}", body, state))
    conn.commit()
    conn.close()


async def test_a_database_from_before_the_head_flag_is_migrated(db: str) -> None:
    _old_schema_db(db)
    store = open_store(db)
    try:
        now = time.time()
        claimed = await store.claim(10, now, LEASE)
        assert ids_of(claimed) == ["m1", "m3"]
        await store.finish(claimed[0].id, Outcome.done(now))
        assert ids_of(await store.claim(10, now, LEASE)) == ["m2"]
    finally:
        store.close()


def test_sqlite_claims_read_the_index_of_heads_not_the_queue(tmp_path: Path) -> None:
    import sqlite3

    from shim.relay.store_sqlite import CLAIM_DUE

    path = tmp_path / "relay.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {CLAIM_DUE}",
                                                         (0.0, 5)))
    conn.close()
    assert "relay_deliveries_ready" in plan and "TEMP B-TREE" not in plan, plan


async def test_an_item_put_back_untried_keeps_its_attempt_count(store: Store) -> None:
    await add(store, cloud_event([("111", "m1", "x")]))
    await store.expand(split, 100)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)
    step = await store.step([(m1, Outcome.defer(now + 1, "circuit open"))], None, expand=0,
                            claim=10, now=now, lease=LEASE)
    assert step.claimed == []
    (again,) = await store.claim(10, now + 2, LEASE)
    assert again.attempts == 1  # the deferred claim did not count
    await store.step([(again, Outcome.retry(now + 3, "HTTP 500"))], None, expand=0, claim=0,
                     now=now + 2, lease=LEASE)
    (third,) = await store.claim(10, now + 4, LEASE)
    assert third.attempts == 2
