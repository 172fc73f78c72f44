"""PostgreSQL store: several relay instances (behind one load balancer) share one queue.

Workers claim conversation heads with ``FOR UPDATE SKIP LOCKED`` and a lease,
so instances never hand out the same delivery twice and a crashed instance's
deliveries come back once its lease runs out. Splitting events into
deliveries is serialised with a transaction-level advisory lock, which keeps
delivery ids (the per-conversation order) in commit order across instances.
Ingest and queue work use separate connections so claims never delay an ack.

An instance that restarts under the same ``instance`` name (default: host and
port) takes back its own in-flight deliveries at once instead of waiting for
their leases; two live instances must therefore never share a name.
"""

from __future__ import annotations

import psycopg

from shim.relay.store import Delivery
from shim.relay.store_sql import DELIVERY_COLUMNS, DUE, HEAD, SQLStore, delivery
from shim.relay.writer import GroupCommitWriter

__all__ = ["PostgresStore"]

#: Advisory lock keys (any constants unique to this schema).
SCHEMA_LOCK = 0x7761_6261_0001
EXPAND_LOCK = 0x7761_6261_0002

SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS relay_events_new ON relay_events (id) WHERE state = 'new';
CREATE TABLE IF NOT EXISTS relay_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id BIGINT,
    channel TEXT NOT NULL,
    conv_key TEXT NOT NULL,
    dedupe_key TEXT,
    phone_number_id TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    claimed_by TEXT,
    done_at DOUBLE PRECISION,
    last_error TEXT
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


class PostgresStore(SQLStore):
    """The relay queue in a PostgreSQL database (``postgresql://user@host/db``)."""

    shared = True

    def __init__(self, dsn: str, *, instance: str | None = None) -> None:
        self.dsn = dsn
        self.instance = instance
        self._ingest = self._writer("relay-pg-ingest")
        try:
            self._work = self._writer("relay-pg-work")
        except BaseException:
            self._ingest.close()
            raise
        if instance is not None:  # our previous run died: take back what it had in flight
            sql = ("UPDATE relay_deliveries SET state = 'pending', lease_until = NULL "
                   "WHERE state = 'inflight' AND claimed_by = %s")
            self._work.submit(lambda c: c.execute(sql, (instance,))).result()

    def _writer(self, name: str) -> GroupCommitWriter[psycopg.Connection[tuple[object, ...]]]:
        return GroupCommitWriter(
            self._connect,
            begin=lambda c: None,  # psycopg opens a transaction on the first statement
            commit=lambda c: c.commit(),
            rollback=lambda c: c.rollback(),
            close=lambda c: c.close(),
            healthy=lambda c: not c.closed and not c.broken,
            name=name,
        )

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(self.dsn, autocommit=False, connect_timeout=10)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(SCHEMA)
        conn.commit()
        return conn

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _expand_lock(self, conn: psycopg.Connection[tuple[object, ...]]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (EXPAND_LOCK,)).fetchone()
        return bool(row and row[0])

    def _claim(self, conn: psycopg.Connection[tuple[object, ...]], limit: int, now: float,
               lease: float) -> list[Delivery]:
        sql = self.q(
            f"""WITH heads AS (
                SELECT d.id FROM relay_deliveries d WHERE {DUE} AND {HEAD}
                ORDER BY d.id LIMIT ? FOR UPDATE OF d SKIP LOCKED)
            UPDATE relay_deliveries u
            SET state = 'inflight', lease_until = ?, claimed_by = ?, attempts = u.attempts + 1
            FROM heads WHERE u.id = heads.id
            RETURNING {", ".join("u." + c.strip() for c in DELIVERY_COLUMNS.split(","))}"""
        )
        rows = conn.execute(sql, (now, now, limit, now + lease, self.instance)).fetchall()
        return sorted((delivery(row, now + lease) for row in rows), key=lambda d: d.id)
