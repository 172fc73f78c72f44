"""Shared state in one SQLite file (WAL): the processes of one machine share it.

For ``serve --workers N`` and a gateway and relay on one host. Each process
opens its own connection; SQLite serialises writers on the file, and every
operation is one short autocommitted statement, so waits are brief
(``busy_timeout`` covers them). ``synchronous=NORMAL``: a power cut may lose
the last few writes, never corrupt the file.

A keyed send costs one statement: the claim's upsert carries the outcomes
queued since the last claim as extra rows, and the pair slot it leases rides
in the claim row (``pace_name``, ``pace_span``; the slot it got comes back as
``pace_slot``), where a trigger pushes the recipient's timeline in the same
statement. One autocommitted statement instead of four (BEGIN IMMEDIATE, the
upsert, the slot, COMMIT) saves three trips through the sqlite3 module and
the lock work of an explicit transaction. A claim that loses takes no slot.
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
    pace_name TEXT,
    pace_span REAL,
    pace_slot REAL,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
DROP INDEX IF EXISTS wm_keys_state;
CREATE INDEX IF NOT EXISTS wm_keys_uncommon ON wm_keys (state, created_at) WHERE {UNCOMMON};
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
#: The index's condition, written out the same way in queries that mean to use it.
UNCOMMON: Final = f"state IN ({', '.join(repr(s) for s in UNCOMMON_STATES)})"

#: Columns a file made before the claim carried its slot lacks (added on open).
PACE_COLUMNS: Final = (("pace_name", "TEXT"), ("pace_span", "REAL"), ("pace_slot", "REAL"))

#: A claim row that leased a slot pushes its timeline in the same statement (its TAT
#: moves past max(TAT, the slot, the pause) by the span: TAKE's GCRA step). Only a
#: claim writes pace_slot; outcomes and settlements never fire these.
#: What both triggers do: push the claim row's timeline by its span.
_PACE_PUSH: Final = """
WHEN NEW.pace_name IS NOT NULL BEGIN
    INSERT INTO wm_pace (name, tat, paused) VALUES (NEW.pace_name, NEW.pace_slot + NEW.pace_span, 0)
    ON CONFLICT (name) DO UPDATE SET
        tat = max(wm_pace.tat, NEW.pace_slot, wm_pace.paused) + NEW.pace_span;
END"""
#: SQLite has no trigger for INSERT and UPDATE at once: one each, the same body.
TRIGGERS: Final = (
    f"CREATE TRIGGER IF NOT EXISTS wm_keys_pace_insert AFTER INSERT ON wm_keys {_PACE_PUSH}",
    f"CREATE TRIGGER IF NOT EXISTS wm_keys_pace_update AFTER UPDATE OF pace_slot ON wm_keys "
    f"{_PACE_PUSH}",
)

#: The claim's upsert: outcome rows carry no slot; the claim row's slot is the GCRA
#: first slot, max(now, pause, TAT - tolerance), read in the statement that pushes it.
_PACED_ROW: Final = (
    f"{ROW[:-1]}, ?, ?, coalesce((SELECT max(?, p.paused, p.tat - ?) FROM wm_pace AS p "
    "WHERE p.name = ?), ?))"
)
_UNPACED_ROW: Final = f"{ROW[:-1]}, NULL, NULL, NULL)"
_UPSERT: Final = (
    f"INSERT INTO wm_keys AS k ({COLUMNS}, pace_name, pace_span, pace_slot) VALUES "
)
_UPSERT_TAIL: Final = (
    f" ON CONFLICT (channel, key) DO UPDATE SET {UPSERT_SET}, pace_name = excluded.pace_name, "
    f"pace_span = excluded.pace_span, pace_slot = excluded.pace_slot WHERE {UPSERT_WHERE} "
    "RETURNING state, pace_slot"
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
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(wm_keys)")}
            for name, kind in PACE_COLUMNS:
                if name not in have:
                    self._conn.execute(f"ALTER TABLE wm_keys ADD COLUMN {name} {kind}")
            for trigger in TRIGGERS:
                self._conn.execute(trigger)

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

    def _build_claim_sql(self, rows: int, paced: bool) -> str:
        """The claim upsert with ``rows`` rows (the claim last, with its slot if ``paced``)."""
        values = ", ".join([_UNPACED_ROW] * (rows - 1) + [_PACED_ROW if paced else _UNPACED_ROW])
        return f"{_UPSERT}{values}{_UPSERT_TAIL}"

    def _claim_with(self, rows: list[Row], batch: Batch, row: Row, pace: SlotRequest | None,
                    now: float) -> tuple[bool, float | None]:
        """The claim, the outcomes it carries and its slot in one autocommitted statement
        (queued statements, rare, go first in one transaction with it)."""
        params = [v for r in rows for v in r] if rows else []
        params += row
        if pace is not None:
            params += (pace.name, pace.count * pace.interval, now, pace.tolerance, pace.name,
                       now)
        sql = self._claim_sql(len(rows) + 1, pace is not None)
        conn = self._conn
        counts = self.counts
        with self._lock:
            if not batch:
                counts.statements += 1
                counts.round_trips += 1
                found = conn.execute(sql, params).fetchall()
            else:
                counts.statements += 3 + len(batch)  # BEGIN, the upsert, COMMIT
                counts.round_trips += 3 + len(batch)
                with self._transaction(conn):
                    for queued, args in batch:
                        conn.execute(queued, args)
                    found = conn.execute(sql, params).fetchall()
        for state, slot in found:  # the carried outcomes' rows come back too
            if state == "pending":
                return True, (float(slot) if pace is not None else None)
        return False, None
