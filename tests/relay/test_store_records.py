"""What the relay stores hand back and keep, field by field, against both stores: claimed
deliveries, dead letters (listing, replay, drop, refused items), peers, stats, and the
limits of a step or a finish."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim.relay.dedupe import Item
from shim.relay.store import Delivery, Outcome, Store, open_store
from shim.relay.store_sqlite import SCHEMA, SQLiteStore, StoreLockedError
from shim.relay.worker import make_split
from tests.relay.loopback import PNID, cloud_event, encode

pytestmark = pytest.mark.anyio
split = make_split()
LEASE = 30.0


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = open_store(db)
    yield opened
    opened.close()


def ids_of(deliveries: list[Delivery]) -> list[str]:
    return [m["id"] for d in deliveries for m in json.loads(d.body).get("messages", [])]


async def add(store: Store, messages: list[tuple[str, str, str]], *, channel: str = "shop",
              at: float | None = None, peers: tuple[str, ...] = ()) -> None:
    body = encode(cloud_event(messages))
    await store.add_event(channel, body, time.time() if at is None else at, peers)


def broken(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
    raise ValueError("translator bug")


async def test_a_claimed_delivery_carries_its_item_and_lease(store: Store) -> None:
    received = time.time() - 40
    await add(store, [("111", "m1", "hi")], at=received)
    await store.expand(split, 10)
    now = time.time()
    (d,) = await store.claim(10, now, LEASE)
    assert (d.channel, d.conv_key, d.dedupe_key, d.phone_number_id) == (
        "shop", "111", "msg:m1", PNID)
    assert d.created_at == pytest.approx(received, abs=1e-3)
    assert d.lease_until == pytest.approx(now + LEASE, abs=1e-3)
    assert d.attempts == 1 and len(d.uid) == 32


async def test_an_item_without_keys_keeps_an_empty_conversation(store: Store) -> None:
    def errors_only(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        return [Item(channel, "", None, None, {"errors": [{"code": 1}]})]

    await add(store, [("111", "m1", "x")])
    await store.expand(errors_only, 10)
    (d,) = await store.claim(10, time.time(), LEASE)
    assert (d.conv_key, d.dedupe_key, d.phone_number_id) == ("", None, None)
    assert json.loads(d.body) == {"errors": [{"code": 1}]} and d.uid


async def test_delivery_ids_are_per_channel_stable_and_survive_the_dedupe_window(
        store: Store) -> None:
    await add(store, [("111", "m1", "x")], channel="shop")
    await add(store, [("111", "m1", "x")], channel="desk")
    await store.expand(split, 10)
    now = time.time()
    shop, desk = sorted(await store.claim(10, now, 5), key=lambda d: d.channel, reverse=True)
    assert (shop.channel, desk.channel) == ("shop", "desk")
    assert shop.uid != desk.uid  # the same message id on two channels is two items
    (again,) = [d for d in await store.claim(10, now + 6, 5) if d.channel == "shop"]
    assert again.uid == shop.uid and again.attempts == 2  # every attempt: the same id
    await store.finish(again.id, Outcome.done(now - 100))
    await store.finish(desk.id, Outcome.done(now - 100))
    assert await store.prune(now) == 2
    await add(store, [("111", "m1", "x")], channel="shop")  # after the window: new again
    await store.expand(split, 10)
    (redelivered,) = await store.claim(10, time.time(), LEASE)
    assert redelivered.id != shop.id and redelivered.uid == shop.uid


async def test_peers_reach_the_split_and_survive_a_dead_letter_replay(store: Store) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []

    def failing(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        seen.append((channel, peers))
        raise ValueError("translator bug")

    def recording(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        seen.append((channel, peers))
        return split(channel, raw, peers)

    await add(store, [("111", "m1", "x")], peers=("desk", "back"))
    await add(store, [("222", "m2", "x")])
    assert await store.expand(failing, 10) == 2
    assert seen == [("shop", ("desk", "back")), ("shop", ())]
    seen.clear()
    assert store.replay([], time.time()) == 2
    assert await store.expand(recording, 10) == 2
    assert seen == [("shop", ("desk", "back")), ("shop", ())]
    assert sorted(ids_of(await store.claim(10, time.time(), LEASE))) == ["m1", "m2"]


async def test_dead_letters_say_which_event_when_it_arrived_and_when_it_failed(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    t_bad, t_good = time.time() - 500, time.time() - 300
    await add(store, [("111", "bad", "x")], at=t_bad)
    with caplog.at_level(logging.WARNING, logger="shim.relay.store_sql"):
        split_at = time.time()
        await store.expand(broken, 10)
    (event_letter,) = store.dead_letters()
    reason = "cannot translate or store: ValueError: translator bug"
    assert event_letter.last_error == reason
    assert (event_letter.kind, event_letter.channel, event_letter.attempts) == ("event", "shop", 0)
    assert event_letter.created_at == pytest.approx(t_bad, abs=1e-3)
    assert event_letter.failed_at == pytest.approx(split_at, abs=5)
    assert event_letter.event_id is not None
    assert [r.getMessage() for r in caplog.records if r.name == "shim.relay.store_sql"] == [
        f"event {event_letter.event_id} of channel shop dead-lettered: {reason}"]

    await add(store, [("222", "m0", "x"), ("333", "m1", "y")], at=t_good)
    await store.expand(split, 10)
    now = time.time()
    m0, m1 = await store.claim(10, now, LEASE)
    await store.finish(m0.id, Outcome.dead(now - 20, "HTTP 500"))
    await store.finish(m1.id, Outcome.dead(now - 10, "HTTP 502"))
    event_again, l0, l1 = store.dead_letters()
    assert event_again == event_letter
    assert [l0.id, l1.id] == [m0.id, m1.id]
    assert l0.event_id == l1.event_id and l0.event_id not in (None, event_letter.event_id)
    assert (l0.kind, l0.dedupe_key, l0.attempts, l0.last_error) == ("body", "msg:m0", 1,
                                                                     "HTTP 500")
    assert l0.created_at == pytest.approx(t_good, abs=1e-3)
    assert l0.failed_at == pytest.approx(now - 20, abs=1e-3)
    assert l1.failed_at == pytest.approx(now - 10, abs=1e-3)
    assert json.loads(l1.body)["messages"][0]["id"] == "m1"


async def _three_letters(store: Store) -> list[int]:
    await add(store, [("111", "m1", "x"), ("222", "m2", "x"), ("333", "m3", "x")])
    await store.expand(split, 10)
    now = time.time()
    claimed = await store.claim(10, now, LEASE)
    for d in claimed:
        await store.finish(d.id, Outcome.dead(now, "HTTP 500"))
    return [d.id for d in claimed]


async def test_dead_letters_are_listed_replayed_and_dropped_by_id(store: Store) -> None:
    a, b, c = await _three_letters(store)
    assert [x.id for x in store.dead_letters([b])] == [b]
    assert [x.id for x in store.dead_letters([a, c])] == [a, c]
    assert [x.id for x in store.dead_letters(limit=2)] == [a, b]
    assert store.replay([b], time.time()) == 1
    assert [x.id for x in store.dead_letters()] == [a, c]
    assert ids_of(await store.claim(10, time.time(), LEASE)) == ["m2"]
    assert store.drop([]) == 0
    assert store.drop([a, b]) == 1  # b is in flight again, not a dead letter
    assert [x.id for x in store.dead_letters()] == [c]
    assert store.drop([c]) == 1 and store.dead_letters() == []
    assert (await store.stats()).dead_letters == 0


async def test_the_dead_letter_listing_is_bounded_by_default(store: Store) -> None:
    def all_refused(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        return [Item(channel, "999", None, "777", {"n": n}, refused="not allowed")
                for n in range(1001)]

    await add(store, [("111", "m1", "x")])
    await store.expand(all_refused, 10)
    assert (await store.stats()).refused == 1001
    listed = store.dead_letters()
    assert len(listed) == 1000 and json.loads(listed[-1].body) == {"n": 999}


async def test_a_refused_item_is_kept_apart_and_never_replayed(store: Store) -> None:
    def refusing(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        body = {"messages": [{"id": "spoof"}]}
        return [Item(channel, "999", "msg:spoof", "777", body, refused="number 777 not allowed"),
                *split(channel, raw, peers)]

    await add(store, [("111", "m1", "x")])
    await store.expand(refusing, 10)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)  # the item after the refused one still goes
    assert ids_of([m1]) == ["m1"]
    (refused,) = store.dead_letters()
    assert (refused.kind, refused.channel, refused.dedupe_key, refused.attempts) == (
        "refused", "shop", None, 0)
    assert refused.last_error == "number 777 not allowed"
    assert json.loads(refused.body) == {"messages": [{"id": "spoof"}]}
    assert refused.event_id is not None
    await store.finish(m1.id, Outcome.dead(now, "HTTP 500"))
    await add(store, [("111", "m9", "x")], channel="desk")
    await store.expand(broken, 10)
    stats = await store.stats()
    assert stats.dead_by == (("desk", "event", 1), ("shop", "body", 1), ("shop", "refused", 1))
    assert (stats.dead_letters, stats.refused) == (3, 1)
    assert store.replay([], now) == 2  # the refused letter is skipped, the others go
    assert [x.kind for x in store.dead_letters()] == ["refused"]


async def test_prune_keeps_events_not_yet_split(store: Store) -> None:
    await add(store, [("111", "m1", "x")], at=time.time() - 1000)
    assert await store.prune(time.time()) == 0
    assert await store.expand(split, 10) == 1
    assert ids_of(await store.claim(10, time.time(), LEASE)) == ["m1"]


async def test_finish_claims_only_what_it_is_asked_for(store: Store) -> None:
    await add(store, [("111", "a1", "x"), ("222", "b1", "x"), ("333", "c1", "x"),
                      ("444", "d1", "x")])
    await store.expand(split, 10)
    now = time.time()
    (a1,) = await store.claim(1, now, LEASE)
    assert await store.finish(a1.id, Outcome.done(now), now=now) == []  # by default: none
    (b1,) = await store.claim(1, now, LEASE)
    (c1,) = await store.finish(b1.id, Outcome.done(now), claim_next=1, now=now)
    assert ids_of([b1, c1]) == ["b1", "c1"]
    assert c1.lease_until == pytest.approx(now + 30.0, abs=1e-3)  # the default lease
    assert ids_of(await store.claim(10, now, LEASE)) == ["d1"]


async def test_a_step_splits_and_claims_no_more_than_asked(store: Store) -> None:
    await add(store, [("111", "a1", "x")])
    await add(store, [("222", "b1", "x")])
    now = time.time()
    first = await store.step([], split, expand=1, claim=1, now=now, lease=LEASE)
    assert (first.expanded, ids_of(first.claimed)) == (1, ["a1"])
    assert (await store.stats()).new_events == 1
    second = await store.step([], split, expand=5, claim=1, now=now, lease=LEASE)
    assert (second.expanded, ids_of(second.claimed)) == (1, ["b1"])


async def test_a_full_claim_does_not_look_ahead_and_an_empty_one_does(store: Store) -> None:
    await add(store, [("111", "a1", "x"), ("222", "b1", "x")])
    now = time.time()
    full = await store.step([], split, expand=5, claim=1, now=now, lease=LEASE)
    assert len(full.claimed) == 1 and full.next_due is None  # come back at once
    (a1,) = full.claimed
    later = now + 100
    look = await store.step([(a1, Outcome.retry(later, "HTTP 500"))], None, expand=0,
                            claim=0, now=now, lease=LEASE)
    assert look.claimed == [] and look.next_due is not None
    assert look.next_due <= later  # b1 is due now, a1 later


async def test_a_step_without_a_split_leaves_new_events_alone(store: Store) -> None:
    empty = await store.step([], None, expand=0, claim=10, now=time.time(), lease=LEASE)
    assert (empty.expanded, empty.claimed, empty.next_due) == (0, [], None)
    await add(store, [("111", "m1", "x")])
    step = await store.step([], None, expand=10, claim=10, now=time.time(), lease=LEASE)
    assert (step.expanded, step.claimed) == (0, [])
    stats = await store.stats()
    assert (stats.new_events, stats.dead_letters) == (1, 0)


async def test_recording_outcomes_alone_does_not_put_off_expired_leases(
        store: Store) -> None:
    await add(store, [("111", "m1", "x"), ("222", "m2", "x")])
    await store.expand(split, 10)
    now = time.time()
    _, m2 = await store.claim(10, now, 5)
    await store.finish(m2.id, Outcome.done(now + 6), now=now + 6)  # claims nothing
    again = await store.claim(10, now + 6.5, 5)
    assert ids_of(again) == ["m1"] and again[0].attempts == 2
    await store.step([], None, expand=0, claim=0, now=now + 12, lease=5)  # nor does this
    third = await store.claim(10, now + 12.5, 5)
    assert ids_of(third) == ["m1"] and third[0].attempts == 3


async def test_a_claim_counts_expired_leases_within_its_limit(store: Store) -> None:
    await add(store, [("111", "m1", "x")])
    await store.expand(split, 10)
    now = time.time()
    assert ids_of(await store.claim(10, now, 5)) == ["m1"]
    await add(store, [("222", "a1", "x"), ("333", "b1", "x")])
    await store.expand(split, 10)
    claimed = await store.claim(2, now + 6, 5)
    assert ids_of(claimed)[0] == "m1" and len(claimed) == 2


async def test_a_database_error_fails_the_whole_step_and_the_store_goes_on(
        store: Store) -> None:
    await add(store, [("111", "m1", "x")])
    await store.expand(split, 10)
    now = time.time()
    (m1,) = await store.claim(10, now, LEASE)
    await add(store, [("222", "m2", "x")])

    def lost(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        raise store.transient[0]("database is locked")  # type: ignore[attr-defined]

    with pytest.raises(store.transient[0]):  # type: ignore[attr-defined]
        await store.step([(m1, Outcome.done(now))], lost, expand=10, claim=10, now=now,
                         lease=LEASE)
    stats = await store.stats()  # m1's outcome was undone with the rest; m2 is not lost
    assert (stats.pending_deliveries, stats.new_events, stats.dead_letters) == (1, 1, 0)
    step = await store.step([(m1, Outcome.done(now))], split, expand=10, claim=10,
                            now=time.time(), lease=LEASE)
    assert (step.expanded, ids_of(step.claimed)) == (1, ["m2"])


def test_closing_twice_is_harmless(db: str) -> None:
    store = open_store(db)
    store.close()
    store.close()


# -- SQLite only: the file, its lock, and rows written by older relays ----------------


def test_servers_on_different_files_run_side_by_side(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "a.db")
    try:
        SQLiteStore(tmp_path / "b.db").close()
    finally:
        first.close()


def test_a_second_server_is_told_what_to_do_instead(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "relay.db")
    try:
        with pytest.raises(StoreLockedError) as caught:
            SQLiteStore(tmp_path / "relay.db")
        assert str(caught.value) == (
            f"{tmp_path / 'relay.db'} is in use by another relay server; run one server per "
            "SQLite file, or share a PostgreSQL database (--db postgresql://...) between several")
    finally:
        first.close()


def test_a_missing_directory_or_a_database_without_wal_is_a_clear_error(
        tmp_path: Path) -> None:
    missing = re.escape(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=f"^directory {missing} does not exist$"):
        SQLiteStore(tmp_path / "nope" / "relay.db", exclusive=False)
    no_wal = r"^:memory:: cannot switch SQLite to WAL mode \(got memory\)$"
    with pytest.raises(RuntimeError, match=no_wal):
        SQLiteStore(":memory:", exclusive=False)


async def test_a_closed_store_leaves_one_self_contained_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore(path)
    await add(store, [("111", "m1", "x")])
    assert path.with_name("relay.db-wal").exists()
    store.close()
    assert not path.with_name("relay.db-wal").exists()  # checkpointed into relay.db
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM relay_events").fetchone() == (1,)
    conn.close()


async def test_items_without_keys_get_ids_no_other_database_repeats(tmp_path: Path) -> None:
    def errors_only(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        return [Item(channel, "", None, None, {"errors": [{"code": 1}]})]

    uids = []
    for name in ("a.db", "b.db"):  # e.g. a relay moved to a new database
        store = SQLiteStore(tmp_path / name)
        try:
            await add(store, [("111", "m1", "x")])
            await store.expand(errors_only, 10)
            uids += [d.uid for d in await store.claim(10, time.time(), LEASE)]
        finally:
            store.close()
    assert len(uids) == 2 and uids[0] != uids[1]


OLD_ROWS = [("shop", "111", "msg:m1", None), ("shop", "", None, PNID), ("shop", "", None, PNID)]


async def test_rows_from_before_peers_and_delivery_ids_get_stable_ids(tmp_path: Path) -> None:
    """A queue written before events kept their peers and deliveries their id (and heads):
    keyed rows get the id a new relay gives the same item, the others one that stays the same."""
    old_schema = (SCHEMA.replace(",\n    peers TEXT", "").replace(",\n    uid TEXT", "")
                  .replace(",\n    head INTEGER NOT NULL DEFAULT 0", ""))
    assert all(c not in old_schema for c in ("peers", "uid", "head"))
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute("INSERT INTO relay_events (channel, received_at, body, state) "
                 "VALUES ('shop', 0, x'7b7d', 'split')")
    for channel, conv, key, pnid in OLD_ROWS:
        conn.execute("INSERT INTO relay_deliveries (event_id, channel, conv_key, dedupe_key, "
                     "phone_number_id, kind, body, state, created_at, next_at) "
                     "VALUES (1, ?, ?, ?, ?, 'body', '{}', 'pending', 0, 0)",
                     (channel, conv, key, pnid))
    conn.commit()
    conn.close()

    fresh = SQLiteStore(tmp_path / "new.db")
    try:
        await add(fresh, [("111", "m1", "x")])
        await fresh.expand(split, 10)
        (new_m1,) = await fresh.claim(10, time.time(), LEASE)
    finally:
        fresh.close()

    store = SQLiteStore(path)
    try:
        now = time.time()
        keyed, first = await store.claim(10, now, 5)
        assert keyed.uid == new_m1.uid  # the app sees the same id as before the upgrade
        again = [d for d in await store.claim(10, now + 6, 5) if d.id == first.id]
        assert [d.uid for d in again] == [first.uid]
        await store.finish(first.id, Outcome.done(now))
        (second,) = await store.claim(10, now + 6, 5)
        assert second.uid not in (first.uid, keyed.uid, "")
        await store.add_event("shop", b"{}", now, ("desk",))  # the added column works
        assert (await store.stats()).new_events == 1
    finally:
        store.close()


def test_an_admin_command_opens_a_file_a_server_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "relay.db")
    server = open_store(path)
    try:
        with pytest.raises(StoreLockedError):
            open_store(path)
        open_store(path, exclusive=False).close()
    finally:
        server.close()


# -- PostgreSQL only: URLs, instances, connections ----------------------------------


def _connections(url: str) -> int:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        row = admin.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
async def test_both_url_spellings_open_the_shared_store(postgres_db: str) -> None:
    assert postgres_db.startswith("postgresql://")
    for url in (postgres_db, "postgres://" + postgres_db.removeprefix("postgresql://")):
        store = open_store(url)
        try:
            assert store.shared
            await add(store, [("111", f"m-{url[:9]}", "x")])
            assert await store.expand(split, 10) == 1
        finally:
            store.close()


@pytest.mark.postgres
async def test_a_restarted_instance_takes_back_only_its_own_claims_at_once(
        postgres_db: str) -> None:
    first, other = open_store(postgres_db, instance="a"), open_store(postgres_db, instance="b")
    await add(first, [("111", "m1", "x"), ("222", "m2", "x")])
    await first.expand(split, 10)
    now = time.time()
    assert ids_of(await first.claim(1, now, LEASE)) == ["m1"]
    assert ids_of(await other.claim(1, now, LEASE)) == ["m2"]
    first.close()  # "a" dies with m1 in flight; "b" lives on with m2
    again = open_store(postgres_db, instance="a")
    try:
        (m1,) = await again.claim(10, now + 1, LEASE)  # long before m1's lease runs out
        assert ids_of([m1]) == ["m1"] and m1.attempts == 2
    finally:
        again.close()
        other.close()


@pytest.mark.postgres
async def test_closing_a_postgres_store_releases_its_connections(postgres_db: str) -> None:
    store = open_store(postgres_db)
    await add(store, [("111", "m1", "x")])
    await store.expand(split, 10)
    assert _connections(postgres_db) == 2  # ingest and queue work
    store.close()
    deadline = time.monotonic() + 30
    while _connections(postgres_db) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server ends a backend shortly after its client leaves
    assert _connections(postgres_db) == 0


def _waiting_for_a_lock(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute("SELECT COUNT(*) FROM pg_locks l JOIN pg_database d "
                            "ON d.oid = l.database WHERE l.locktype = 'advisory' "
                            "AND NOT l.granted AND d.datname = current_database()").fetchone()
    return row is not None and int(row[0]) > 0


@pytest.mark.postgres
async def test_a_finish_racing_a_split_of_the_same_conversation_strands_nothing(
        postgres_db: str) -> None:
    """Instance A splits an event holding the next item of a conversation whose head
    instance B is finishing. B must wait for A's split: if it did not, B would look
    for the next item before A's insert is visible, and that item would never lead."""
    import threading

    splitter, finisher = open_store(postgres_db), open_store(postgres_db)
    try:
        await add(splitter, [("111", "a1", "x")])
        await splitter.expand(split, 10)
        now = time.time()
        (a1,) = await finisher.claim(10, now, LEASE)
        await add(splitter, [("111", "a2", "x")])  # a1's successor
        await add(splitter, [("222", "b1", "x")])
        entered, release = threading.Event(), threading.Event()

        def slow(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
            if b'"b1"' in raw:  # a2 is inserted, not yet committed
                entered.set()
                release.wait(30)
            return split(channel, raw, peers)

        splitting = asyncio.ensure_future(splitter.expand(slow, 10))
        deadline = time.monotonic() + 30
        while not entered.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert entered.is_set()
        finishing = asyncio.ensure_future(finisher.step(
            [(a1, Outcome.done(now))], None, expand=0, claim=0, now=now, lease=LEASE))
        while not finishing.done() and not _waiting_for_a_lock(postgres_db) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        release.set()
        assert await splitting == 2
        await finishing
        claimed = await splitter.claim(10, time.time(), LEASE)
        assert sorted(ids_of(claimed)) == ["a2", "b1"]
    finally:
        release.set()
        splitter.close()
        finisher.close()


@pytest.mark.postgres
async def test_a_store_reconnects_after_the_server_drops_its_connections(
        postgres_db: str) -> None:
    import psycopg

    store = open_store(postgres_db)
    try:
        await add(store, [("111", "m1", "x")])
        await store.stats()
        name = postgres_db.rsplit("/", 1)[1]
        with psycopg.connect(postgres_db.rsplit("/", 1)[0] + "/postgres",
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))
        deadline = time.monotonic() + 30
        while _connections(postgres_db) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _connections(postgres_db) == 0
        with pytest.raises(psycopg.OperationalError):  # the call that finds it lost fails
            await add(store, [("222", "m2", "x")])
        with pytest.raises(psycopg.OperationalError):
            await store.stats()
        await add(store, [("222", "m2", "x")])  # then each connection is opened again
        assert (await store.stats()).new_events == 2
    finally:
        store.close()
