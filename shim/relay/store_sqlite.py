"""SQLite store: the embedded default (one machine, one relay process, no set-up).

WAL journal with ``synchronous=FULL``: an acknowledged event survives a
process kill and a power cut. One writer thread does all work in one
connection, so there is never lock contention inside the process; a lock file
keeps a second relay server off the same database (admin commands may still
open it).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO

from shim.relay.store import Delivery
from shim.relay.store_sql import (
    BACKFILL_HEADS,
    DELIVERY_COLUMNS,
    HEAD_INDEXES,
    SQLStore,
    delivery,
)
from shim.relay.writer import GroupCommitWriter

# ``# pragma: no mutate`` marks SQL text with nothing case-sensitive in it (no quoted value
# or name, ``?`` placeholders): besides breaking the statement, which the tests catch, its
# mutants only change the case of words the database reads alike (docs/mutation.md).
__all__ = ["SQLiteStore", "StoreLockedError"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL,
    peers TEXT
);
CREATE INDEX IF NOT EXISTS relay_events_new ON relay_events (id) WHERE state = 'new';
CREATE TABLE IF NOT EXISTS relay_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER,
    channel TEXT NOT NULL,
    conv_key TEXT NOT NULL,
    dedupe_key TEXT,
    phone_number_id TEXT,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    lease_until REAL,
    claimed_by TEXT,
    done_at REAL,
    last_error TEXT,
    head INTEGER NOT NULL DEFAULT 0,
    uid TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS relay_deliveries_dedupe
    ON relay_deliveries (channel, dedupe_key);
CREATE INDEX IF NOT EXISTS relay_deliveries_active
    ON relay_deliveries (id) WHERE state IN ('pending', 'inflight');
CREATE INDEX IF NOT EXISTS relay_deliveries_conv
    ON relay_deliveries (channel, conv_key, id) WHERE state IN ('pending', 'inflight');
CREATE INDEX IF NOT EXISTS relay_deliveries_dead
    ON relay_deliveries (id) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS relay_deliveries_done
    ON relay_deliveries (done_at) WHERE state = 'done';
"""


#: Pending conversation heads by due time, read from the partial index ``relay_deliveries_ready``.
CLAIM_DUE = (f"SELECT {DELIVERY_COLUMNS} FROM relay_deliveries "
             "WHERE head = 1 AND state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?")


class StoreLockedError(RuntimeError):
    """Another relay server already owns this SQLite database."""


class SQLiteStore(SQLStore):
    """The relay queue in one SQLite file."""

    shared = False
    transient = (sqlite3.OperationalError,)

    def __init__(self, path: str | os.PathLike[str], *, exclusive: bool = True) -> None:
        self.path = Path(path)
        self._lock: IO[bytes] | None = None
        if exclusive:
            self._lock = _take_lock(self.path)
        try:
            writer = GroupCommitWriter(
                self._connect,
                begin=_begin,
                commit=_commit,
                rollback=_rollback,
                close=lambda c: c.close(),
                name="relay-sqlite",
            )
        except BaseException:
            self._release()
            raise
        self._ingest = self._work = writer
        if exclusive:  # we are the only server: whatever was in flight died with the last one
            writer.submit(lambda c: c.execute(
                "UPDATE relay_deliveries SET state = ?, lease_until = NULL "  # pragma: no mutate
                "WHERE state = ?",  # pragma: no mutate
                ("pending", "inflight"))).result()

    def _connect(self) -> sqlite3.Connection:
        if self.path.parent and not self.path.parent.exists():
            raise FileNotFoundError(f"directory {self.path.parent} does not exist")
        # Opened, used and closed on the writer thread only; transactions are the writer's own.
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute(
            "PRAGMA busy_timeout = 10000",  # pragma: no mutate
        )
        mode = conn.execute(
            "PRAGMA journal_mode = WAL",  # pragma: no mutate
        ).fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise RuntimeError(f"{self.path}: cannot switch SQLite to WAL mode (got {mode})")
        conn.execute(
            "PRAGMA synchronous = FULL",  # pragma: no mutate
        )
        conn.executescript(SCHEMA)
        _migrate(conn)
        conn.executescript(HEAD_INDEXES)
        return conn

    def _claim(self, conn: sqlite3.Connection, limit: int, now: float,
               lease: float) -> list[Delivery]:
        # Expired leases first (only in flight rows are read), then due heads by due time.
        rows = conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM relay_deliveries "
            "WHERE state = 'inflight' AND lease_until < ? ORDER BY lease_until LIMIT ?",
            (now, limit),
        ).fetchall()
        if len(rows) < limit:
            rows += conn.execute(CLAIM_DUE, (now, limit - len(rows))).fetchall()
        conn.executemany(
            "UPDATE relay_deliveries SET state = ?, lease_until = ?, "  # pragma: no mutate
            "attempts = attempts + 1 WHERE id = ?",  # pragma: no mutate
            [("inflight", now + lease, row[0]) for row in rows],
        )
        return [delivery((*row[:6], row[6] + 1, *row[7:]), now + lease) for row in rows]

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


#: Columns added later without a backfill: (table, column, type). A body column created
#: as TEXT keeps working (SQLite stores the bytes written to it as BLOBs).
_LATER_COLUMNS = (("relay_events", "peers", "TEXT"), ("relay_deliveries", "uid", "TEXT"))


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database written by an older relay up to date (in one transaction)."""
    for table, column, kind in _LATER_COLUMNS:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    columns = {row[1] for row in conn.execute(
        "PRAGMA table_info(relay_deliveries)",  # pragma: no mutate
    )}
    if "head" not in columns:
        conn.execute(
            "BEGIN IMMEDIATE",  # pragma: no mutate
        )
        try:
            conn.execute(  # the second half declares the column: its name is kept as written
                "ALTER TABLE relay_deliveries "  # pragma: no mutate
                "ADD COLUMN head INTEGER NOT NULL DEFAULT 0")
            conn.execute(BACKFILL_HEADS)
        except BaseException:
            conn.execute(
                "ROLLBACK",  # pragma: no mutate
            )
            raise
        conn.execute(
            "COMMIT",  # pragma: no mutate
        )


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute(
        "BEGIN IMMEDIATE",  # pragma: no mutate
    )


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute(
        "COMMIT",  # pragma: no mutate
    )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute(
            "ROLLBACK",  # pragma: no mutate
        )


def _take_lock(path: Path) -> IO[bytes]:
    lock = open(f"{path}.lock", "wb")  # noqa: SIM115 - held for the store's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise StoreLockedError(
            f"{path} is in use by another relay server; run one server per SQLite file, "
            "or share a PostgreSQL database (--db postgresql://...) between several"
        ) from None
    return lock
