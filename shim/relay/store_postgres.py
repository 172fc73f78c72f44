"""PostgreSQL store: several relay instances (behind one load balancer) share one queue.

Workers claim conversation heads with ``FOR UPDATE SKIP LOCKED`` over the
partial index of pending heads, and a lease, so instances never hand out the
same delivery twice and a crashed instance's deliveries come back once its
lease runs out. Everything that moves a head (splitting events into
deliveries, finishing a head) takes one transaction-level advisory lock
first: that keeps delivery ids (the per-conversation order) in commit order
across instances, stops a split and a finish of the same conversation from
each missing the other's row, and, taken before any row lock, cannot form a
lock cycle. Ingest and queue work use separate connections so claims never
delay an ack; queue statements are prepared once and batches of outcomes go
out pipelined (``executemany``).

An instance that restarts under the same ``instance`` name (default: host and
port) takes back its own in-flight deliveries at once instead of waiting for
their leases; two live instances must therefore never share a name.
"""

from __future__ import annotations

import psycopg

from shim.relay.store import Delivery
from shim.relay.store_sql import (
    BACKFILL_HEADS,
    DELIVERY_COLUMNS,
    HEAD_INDEXES,
    SQLStore,
    delivery,
)
from shim.relay.writer import GroupCommitWriter

__all__ = ["PostgresStore"]

#: Advisory lock keys (any constants unique to this schema).
SCHEMA_LOCK = 0x7761_6261_0001
HEADS_LOCK = 0x7761_6261_0002

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
    last_error TEXT,
    head SMALLINT NOT NULL DEFAULT 0
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
            _migrate(conn)
            conn.execute(HEAD_INDEXES)
        conn.commit()
        conn.prepare_threshold = 0  # the same few statements run all day: prepare at once
        return conn

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _lock_heads(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (HEADS_LOCK,))

    def _claim(self, conn: psycopg.Connection[tuple[object, ...]], limit: int, now: float,
               lease: float) -> list[Delivery]:
        params = (now + lease, self.instance)
        rows = conn.execute(CLAIM_EXPIRED, (now, limit, *params)).fetchall()
        if len(rows) < limit:
            rows += conn.execute(CLAIM_DUE, (now, limit - len(rows), *params)).fetchall()
        return [delivery(row, now + lease) for row in rows]


_RETURNING = ", ".join("u." + c.strip() for c in DELIVERY_COLUMNS.split(","))
_TAKE = f"""UPDATE relay_deliveries u
    SET state = 'inflight', lease_until = %s, claimed_by = %s, attempts = u.attempts + 1
    FROM c WHERE u.id = c.id
    RETURNING {_RETURNING}"""
#: Claims read the partial indexes only: in-flight rows whose lease ran out, then
#: pending conversation heads by due time; rows another instance holds are skipped.
CLAIM_EXPIRED = f"""WITH c AS (
    SELECT id FROM relay_deliveries WHERE state = 'inflight' AND lease_until < %s
    ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED)
{_TAKE}"""
CLAIM_DUE = f"""WITH c AS (
    SELECT id FROM relay_deliveries WHERE head = 1 AND state = 'pending' AND next_at <= %s
    ORDER BY next_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
{_TAKE}"""


def _migrate(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Bring a database written by an older relay up to date (under the schema lock)."""
    found = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'relay_deliveries' AND column_name = 'head'").fetchone()
    if found is None:
        conn.execute("ALTER TABLE relay_deliveries ADD COLUMN head SMALLINT NOT NULL DEFAULT 0")
        conn.execute(BACKFILL_HEADS)
