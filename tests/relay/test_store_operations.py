"""What an operator of the relay's store sees besides the queue itself: the named writer
threads, why a waiting delivery failed last, a failed upgrade of an old SQLite file, a
PostgreSQL server that never answers, and connections kept across failed transactions."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim.relay.dedupe import Item
from shim.relay.store import Outcome, open_store
from shim.relay.store_sqlite import SCHEMA, SQLiteStore
from shim.relay.worker import make_split
from tests.relay.loopback import cloud_event, encode

pytestmark = pytest.mark.anyio
split = make_split()
LEASE = 30.0


def relay_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("relay-"))


def test_a_sqlite_store_runs_one_named_writer_thread(tmp_path: Path) -> None:
    before = relay_threads()
    store = SQLiteStore(tmp_path / "relay.db")
    try:
        assert relay_threads() == sorted([*before, "relay-sqlite"])
    finally:
        store.close()
    assert relay_threads() == before


@pytest.mark.postgres
def test_a_postgres_store_runs_named_ingest_and_work_threads(postgres_db: str) -> None:
    before = relay_threads()
    store = open_store(postgres_db)
    try:
        assert relay_threads() == sorted([*before, "relay-pg-ingest", "relay-pg-work"])
    finally:
        store.close()
    assert relay_threads() == before


def _last_errors(db: str) -> list[tuple[str, str | None, int]]:
    sql = "SELECT state, last_error, attempts FROM relay_deliveries ORDER BY id"
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as pg:
            return [(str(r[0]), None if r[1] is None else str(r[1]), int(str(r[2])))
                    for r in pg.execute(sql).fetchall()]
    conn = sqlite3.connect(db)
    try:
        return [(str(r[0]), r[1], int(r[2])) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


async def test_a_waiting_delivery_keeps_why_its_last_attempt_failed(db: str) -> None:
    store = open_store(db)
    try:
        body = encode(cloud_event([("111", "m1", "x"), ("222", "m2", "x")]))
        await store.add_event("shop", body, time.time())
        await store.expand(split, 10)
        now = time.time()
        first, second = await store.claim(10, now, LEASE)
        await store.finish(first.id, Outcome.retry(now + 60, "HTTP 503 from the app"))
        await store.finish(second.id, Outcome.defer(now + 60, "circuit open for app:8000"))
        assert _last_errors(db) == [("pending", "HTTP 503 from the app", 1),
                                    ("pending", "circuit open for app:8000", 0)]
    finally:
        store.close()


def _head_free_db(path: Path) -> None:
    """A queue written before the head flag, whose table carries a trigger (added by its
    operator) that refuses every update: the upgrade's backfill fails on it."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA.replace(",\n    head INTEGER NOT NULL DEFAULT 0", ""))
    conn.execute("INSERT INTO relay_deliveries (channel, conv_key, kind, body, state, "
                 "created_at, next_at) VALUES ('shop', '111', 'body', x'7b7d', 'pending', 0, 0)")
    conn.execute("CREATE TRIGGER frozen BEFORE UPDATE ON relay_deliveries "
                 "BEGIN SELECT RAISE(ABORT, 'relay_deliveries is frozen'); END")
    conn.commit()
    conn.close()


def _columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(r[1]) for r in conn.execute("PRAGMA table_info(relay_deliveries)")]
    finally:
        conn.close()


async def test_a_failed_upgrade_names_its_cause_and_leaves_the_file_as_it_was(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _head_free_db(path)
    with pytest.raises(sqlite3.IntegrityError, match=r"^relay_deliveries is frozen$"):
        SQLiteStore(path)
    assert "head" not in _columns(path)  # the added column was undone with the backfill
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER frozen")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)  # the next start upgrades it
    try:
        assert len(await store.claim(10, time.time(), LEASE)) == 1
    finally:
        store.close()
    assert "head" in _columns(path)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes them) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_postgres_server_that_never_answers_fails_the_opening(silent_server: int) -> None:
    import psycopg

    from shim.relay.store_postgres import PostgresStore

    outcome: list[BaseException | None] = []

    def opening() -> None:
        try:
            PostgresStore(f"postgresql://relay@127.0.0.1:{silent_server}/relay",
                          connect_timeout=2).close()
            outcome.append(None)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    thread = threading.Thread(target=opening, daemon=True)
    thread.start()
    thread.join(60)  # psycopg's own fallback without a timeout is 130 s
    assert not thread.is_alive(), "opening the store hung on a server that never answers"
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.OperationalError)
    assert "timeout" in str(outcome[0])


def _backends(url: str) -> set[int]:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                             (name,)).fetchall()
    return {int(r[0]) for r in rows}


@pytest.mark.postgres
async def test_a_failed_transaction_keeps_a_sound_connection(postgres_db: str) -> None:
    """Opening a connection again takes the schema lock and checks the schema: a step
    that fails on a connection still sound must not pay that."""
    store = open_store(postgres_db)
    try:
        await store.add_event("shop", encode(cloud_event([("111", "m1", "x")])), time.time())
        await store.stats()
        backends = _backends(postgres_db)
        assert len(backends) == 2

        def lost(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
            raise store.transient[0]("serialization failure")  # type: ignore[attr-defined]

        with pytest.raises(store.transient[0]):  # type: ignore[attr-defined]
            await store.expand(lost, 10)
        assert _backends(postgres_db) == backends
        assert await store.expand(split, 10) == 1
        assert _backends(postgres_db) == backends
    finally:
        store.close()
