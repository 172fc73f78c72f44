"""Shared state in PostgreSQL: gateways and relays on several machines share it.

The URL is the one the relay's ``--db`` takes (``postgresql://user@host/db``).
One autocommit connection per process, guarded by a lock; every operation is
one statement, so a claim costs one round trip. A broken connection is
replaced on the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from shim.client.state import mask_url
from shim.client.state_sql import SQLStateStore

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

    def _cursor(self) -> psycopg.Cursor[tuple[Any, ...]]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn.cursor()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._cursor() as cur:
            cur.execute(sql, params, prepare=True)
            return cur.fetchall() if cur.description else []

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock, self._cursor() as cur:
            cur.execute(sql, params, prepare=True)
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
