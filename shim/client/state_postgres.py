"""Shared state in PostgreSQL: gateways and relays on several machines share it.

The URL is the one the relay's ``--db`` takes (``postgresql://user@host/db``).
One autocommit connection per process, guarded by a lock, plus one for the
outcome writer thread; every operation is one statement, so a keyed send's
claim (with its pacing slot) costs one round trip. A broken connection is
replaced on the next call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from shim.client.state import SlotRequest, mask_url
from shim.client.state_sql import TAKE, SQLStateStore, first_slot

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
        return conn.execute(sql, params, prepare=True)

    @contextlib.contextmanager
    def _transaction(self, conn: psycopg.Connection[tuple[Any, ...]]) -> Iterator[None]:
        with conn.transaction():
            yield

    def _insert_claim(self, sql: str, params: tuple[Any, ...], pace: SlotRequest | None,
                      now: float) -> tuple[bool, float | None]:
        """The claim and the slot lease in one statement: one round trip per keyed send."""
        if pace is None:
            rows = self._run(sql, params)
            return bool(rows), None
        span = pace.count * pace.interval
        take = self.q(TAKE.format(g=self.greatest))
        rows = self._run(
            f"WITH claimed AS ({sql}), paced AS ({take}) "
            "SELECT (SELECT count(*) FROM claimed), tat, paused FROM paced",
            (*params, pace.name, now + span, now, span),
        )
        won, tat, paused = rows[0]
        return bool(won), first_slot(float(tat), float(paused), span, pace.tolerance, now)
