"""Shared state in PostgreSQL: gateways and relays on several machines share it.

The URL is the one the relay's ``--db`` takes (``postgresql://user@host/db``).
One autocommit connection per process, guarded by a lock, plus one for the
outcome writer thread. A keyed send's claim, its pair slot and the outcomes
queued since the last claim are one statement: one round trip per keyed
send. A broken connection is replaced on the next call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from shim.client.state import SlotRequest, mask_url
from shim.client.state_sql import Batch, Row, SQLStateStore, claim_won, first_slot

__all__ = ["PostgresStateStore"]

#: Advisory lock serialising schema creation (any constant unique to this schema).
SCHEMA_LOCK = 0x7761_6261_0101

SCHEMA = """
CREATE TABLE IF NOT EXISTS wm_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    content BYTEA,
    content_type TEXT,
    message_id TEXT,
    detail TEXT,
    PRIMARY KEY (channel, key)
);
CREATE INDEX IF NOT EXISTS wm_keys_state ON wm_keys (state, created_at);
CREATE TABLE IF NOT EXISTS wm_media (
    media_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS wm_pace (
    name TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL,
    paused DOUBLE PRECISION NOT NULL
);
"""


class PostgresStateStore(SQLStateStore):
    """The state in a PostgreSQL database (tables ``wm_keys``, ``wm_media``, ``wm_pace``)."""

    greatest = "GREATEST"
    #: every call is a network round trip (async callers run them off their event loop)
    remote = True

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.where = mask_url(dsn)
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(SCHEMA)
        return conn

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        if conn.closed or conn.broken:
            if conn is not self._conn:
                raise psycopg.OperationalError("the connection is closed")
            self._conn = conn = self._connect()
        self.counts.statements += 1
        self.counts.round_trips += 1
        return conn.execute(sql, params, prepare=True)

    @contextlib.contextmanager
    def _transaction(self, conn: psycopg.Connection[tuple[Any, ...]]) -> Iterator[None]:
        with conn.transaction():
            yield

    def _build_claim_sql(self, rows: int, paced: bool) -> str:
        """The claim upsert; ``paced``: with the slot lease, in one statement."""
        sql = super()._build_claim_sql(rows, False)
        if not paced:
            return sql
        return (f"WITH claimed AS ({sql}), paced AS ({self._take_sql}) "
                "SELECT (SELECT count(*) FROM claimed WHERE state = 'pending') > 0, "
                "tat, paused FROM paced")

    def _claim_with(self, rows: list[Row], batch: Batch, row: Row, pace: SlotRequest | None,
                    now: float) -> tuple[bool, float | None]:
        """The claim, the outcomes it carries and the slot lease in one statement: one round
        trip. Queued statements (rare: a retry of a key queued here) go first in the same
        pipeline and transaction (explicit, so that a write psycopg cannot even send rolls
        back the ones before it)."""
        sql = self._claim_sql(len(rows) + 1, pace is not None)
        params = [v for r in rows for v in r] if rows else []
        params += row
        if pace is not None:
            span = pace.count * pace.interval
            params += (pace.name, now + span, now, span)
        with self._lock:
            if not batch:
                found = self._execute(self._conn, sql, params).fetchall()
            else:
                conn = self._conn
                if conn.closed or conn.broken:
                    self._conn = conn = self._connect()
                with conn.pipeline(), conn.transaction():
                    for queued, args in batch:
                        conn.execute(queued, args, prepare=True)
                    cur = conn.execute(sql, params, prepare=True)
                found = cur.fetchall()
                self.counts.statements += len(batch) + 3  # BEGIN, COMMIT
                self.counts.round_trips += 1
        if pace is None:
            return claim_won(found), None
        won, tat, paused = found[0]
        return bool(won), first_slot(float(tat), float(paused), span, pace.tolerance, now)

    def _write_batch(self, conn: Any, batch: Batch) -> Any:
        """The writer's batch in one pipeline: one round trip, one transaction."""
        conn = conn or self._connect()
        with conn.pipeline(), conn.transaction():
            for sql, params in batch:
                conn.execute(sql, params, prepare=True)
        self.counts.behind_statements += len(batch) + 2
        self.counts.behind_round_trips += 1
        return conn
