"""Shared state in one SQLite file (WAL): the processes of one machine share it.

For ``serve --workers N`` and a gateway and relay on one host. Each process
opens its own connection; SQLite serialises writers on the file, and every
operation is short (``busy_timeout`` covers the waits). ``synchronous=NORMAL``:
a power cut may lose the last few writes, never corrupt the file.

A keyed send costs one transaction: ``BEGIN IMMEDIATE``, the outcomes queued
since the last claim, the claim's upsert, the recipient's pair timeline (read,
then written, under the write lock the transaction holds), ``COMMIT``. Each
statement is a plain one that SQLite runs without temporary tables: no
``RETURNING`` (the upsert's row count says whether the claim won), no trigger,
and the ledger's partial index spells its states out with ``OR`` (an ``IN``
list there made SQLite build a temporary table for every row written). On
this machine that took the store's instructions per keyed send from about
260,000 to about 125,000 (``callgrind``), more than the five statements cost
in calls through the sqlite3 module. A claim that loses takes no slot; a claim
with nothing queued and no slot is one autocommitted statement.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from shim.client.state import Entry, SlotRequest
from shim.client.state_sql import (
    COLUMNS,
    ROW,
    UPSERT,
    UPSERT_SET,
    UPSERT_WHERE,
    Batch,
    Row,
    SQLStateStore,
    entry_of,
)

__all__ = ["SQLiteStateStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS wm_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    content BLOB,
    content_type TEXT,
    message_id TEXT,
    detail TEXT,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
DROP INDEX IF EXISTS wm_keys_state;
DROP INDEX IF EXISTS wm_keys_uncommon;
DROP TRIGGER IF EXISTS wm_keys_pace_insert;
DROP TRIGGER IF EXISTS wm_keys_pace_update;
CREATE INDEX IF NOT EXISTS wm_keys_rare ON wm_keys (state, created_at) WHERE {UNCOMMON};
CREATE TABLE IF NOT EXISTS wm_media (
    media_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wm_pace (
    name TEXT PRIMARY KEY,
    tat REAL NOT NULL,
    paused REAL NOT NULL
) WITHOUT ROWID;
"""

#: The states the ledger indexes: rows that reach them are few, while every send
#: writes a ``pending`` row and turns it ``ok``, so an index of those (``wm_keys_state``
#: in files made before) cost each send an index page in the WAL. Listing pending or
#: ok keys reads the table.
UNCOMMON_STATES: Final = ("unknown", "happened", "failed")
#: The index's condition, written out the same way in queries that mean to use it. ``OR``,
#: not ``IN``: SQLite evaluates the condition for every row written, and an ``IN`` list
#: of three made it build a temporary table each time (``wm_keys_uncommon``, the index
#: files made before had, is dropped on open).
UNCOMMON: Final = "(" + " OR ".join(f"state = '{s}'" for s in UNCOMMON_STATES) + ")"

#: The claim alone, without ``RETURNING`` (which SQLite buffers in a temporary table):
#: the upsert changes a row only where it wins, so its row count is the answer.
CLAIM: Final = (
    f"{UPSERT}{ROW} ON CONFLICT (channel, key) DO UPDATE SET {UPSERT_SET} WHERE {UPSERT_WHERE}"
)
#: A recipient's timeline, read and pushed inside the claim's transaction (it holds the
#: write lock, so no other writer moves the timeline in between).
PACE_READ: Final = "SELECT tat, paused FROM wm_pace WHERE name = ?"
PACE_WRITE: Final = (
    "INSERT INTO wm_pace (name, tat, paused) VALUES (?, ?, 0) "
    "ON CONFLICT (name) DO UPDATE SET tat = excluded.tat"
)


class SQLiteStateStore(SQLStateStore):
    """The state in a SQLite file (created if missing)."""

    own_writer_connection = False

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.where = f"sqlite:///{path}"
        parent = Path(path).parent
        if not parent.is_dir():
            raise ValueError(f"no directory {parent} for the state file {path}")
        self._conn = self._connect()
        with self._lock, self._transaction(self._conn):
            for statement in SCHEMA.format(UNCOMMON=UNCOMMON).split(";"):
                if statement.strip():
                    self._conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def entries(self, states: Sequence[str] = (), limit: int = 1000) -> list[Entry]:
        if not states or not set(states) <= set(UNCOMMON_STATES):
            return super().entries(states, limit)
        marks = ", ".join("?" * len(states))
        return [entry_of(row) for row in self._run(
            f"SELECT {COLUMNS} FROM wm_keys WHERE {UNCOMMON} AND state IN ({marks}) "
            "ORDER BY created_at, channel, key LIMIT ?", [*states, limit])]

    def _claim_with(self, rows: list[Row], batch: Batch, row: Row, pace: SlotRequest | None,
                    now: float) -> tuple[bool, float | None]:
        """The queued writes, the claim and its slot in one transaction (a claim with
        nothing to carry and no slot is one autocommitted statement)."""
        conn = self._conn
        counts = self.counts
        with self._lock:
            if not rows and not batch and pace is None:
                counts.statements += 1
                counts.round_trips += 1
                return conn.execute(CLAIM, row).rowcount == 1, None
            conn.execute("BEGIN IMMEDIATE")
            made = 3 + len(batch) + len(rows)  # BEGIN, the claim, COMMIT
            try:
                for queued, args in batch:
                    conn.execute(queued, args)
                for outcome in rows:
                    conn.execute(self._complete_sql, outcome)
                won = conn.execute(CLAIM, row).rowcount == 1
                slot = None
                if won and pace is not None:
                    slot = self._push(conn, pace, now)
                    made += 2
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                counts.statements += made
                counts.round_trips += made
            conn.execute("COMMIT")
        return won, slot

    @staticmethod
    def _push(conn: sqlite3.Connection, pace: SlotRequest, now: float) -> float:
        """GCRA on the recipient's timeline: the first slot is the latest of now, the pause
        and (TAT - tolerance); the TAT moves past the latest of TAT, slot and pause by the
        span (``TAKE``'s step, written out for a transaction that holds the write lock)."""
        span = pace.count * pace.interval
        found = conn.execute(PACE_READ, (pace.name,)).fetchone()
        if found is None:
            slot, tat = now, now + span
        else:
            tat, paused = float(found[0]), float(found[1])
            slot = max(now, paused, tat - pace.tolerance)
            tat = max(tat, slot, paused) + span
        conn.execute(PACE_WRITE, (pace.name, tat))
        return slot
