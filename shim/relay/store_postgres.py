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

import contextlib
import math
from collections.abc import Callable, Sequence

import psycopg

from shim.relay.store import Delivery, Outcome
from shim.relay.store_sql import (
    ACTIVE,
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
    state TEXT NOT NULL,
    peers TEXT
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
    body BYTEA NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    claimed_by TEXT,
    done_at DOUBLE PRECISION,
    last_error TEXT,
    head SMALLINT NOT NULL DEFAULT 0,
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


class PostgresStore(SQLStore):
    """The relay queue in a PostgreSQL database (``postgresql://user@host/db``)."""

    shared = True
    transient = (psycopg.OperationalError, psycopg.errors.TransactionRollback)

    def __init__(self, dsn: str, *, instance: str | None = None,
                 connect_timeout: int = 10) -> None:
        """``connect_timeout``: whole seconds (libpq counts 1 as 2) to wait for a server
        that accepts the connection but never answers; opening then fails, not hangs."""
        self.dsn = dsn
        self.instance = instance
        self.connect_timeout = connect_timeout
        self._leases_checked = -math.inf
        self._ingest = self._writer("relay-pg-ingest", self._connect)
        try:
            self._work = self._writer("relay-pg-work", self._connect_work)
        except BaseException:
            self._ingest.close()
            raise
        if instance is not None:  # our previous run died: take back what it had in flight
            self._work.submit(lambda c: c.execute(placeholders(
                "UPDATE relay_deliveries SET state = ?, lease_until = NULL "  # pragma: no mutate
                "WHERE state = ? AND claimed_by = ?"),  # pragma: no mutate
                ("pending", "inflight", instance))).result()

    def _writer(self, name: str, connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
                ) -> GroupCommitWriter[psycopg.Connection[tuple[object, ...]]]:
        return GroupCommitWriter(
            connect,
            begin=_no_begin,
            commit=lambda c: c.commit(),
            rollback=lambda c: c.rollback(),
            close=lambda c: c.close(),
            healthy=lambda c: not c.closed and not c.broken,
            name=name,
        )

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        # Not in autocommit (psycopg's default): each writer batch is one transaction.
        conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout)
        with conn.transaction():
            conn.execute(placeholders(
                "SELECT pg_advisory_xact_lock(?)"),  # pragma: no mutate
                (SCHEMA_LOCK,))
            conn.execute(SCHEMA)
            _migrate(conn)
            conn.execute(HEAD_INDEXES)
        conn.commit()
        conn.prepare_threshold = 0  # the same few statements run all day: prepare at once
        return conn

    def _connect_work(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = self._connect()
        # Queue work only (acks commit on the ingest connection, synchronously): a
        # server crash may forget the last instants of outcomes, which sends those
        # deliveries again, as at-least-once allows; claims and splits roll back whole.
        conn.execute(
            "SET synchronous_commit = off",  # pragma: no mutate
        )
        conn.commit()
        return conn

    def q(self, sql: str) -> str:
        return placeholders(sql)

    def _lock_heads(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        conn.execute(placeholders(
            "SELECT pg_advisory_xact_lock(?)"),  # pragma: no mutate
            (HEADS_LOCK,))

    def _pipeline(self, conn: psycopg.Connection[tuple[object, ...]]
                  ) -> contextlib.AbstractContextManager[object]:
        return conn.pipeline()

    def _record(self, conn: psycopg.Connection[tuple[object, ...]],
                records: Sequence[tuple[int, int | None, Outcome]]) -> None:
        """Two statements for any number of outcomes (the outcomes travel as arrays)."""
        if not records:
            return
        conn.execute(RECORD, (
            [r[0] for r in records], [r[1] for r in records], [r[2].state for r in records],
            [r[2].at for r in records], [r[2].error for r in records],
            [0 if r[2].attempted else 1 for r in records]))
        finished = [r[0] for r in records if r[2].state != "pending"]
        if finished:
            conn.execute(PROMOTE_ANY, (finished,))

    def _claim(self, conn: psycopg.Connection[tuple[object, ...]], limit: int, now: float,
               lease: float) -> list[Delivery]:
        expired = 0
        if now >= self._leases_checked + LEASE_CHECK_EVERY:
            self._leases_checked, expired = now, limit
        rows = conn.execute(CLAIM, (now, expired, now, limit, limit, now + lease,
                                    self.instance)).fetchall()
        return sorted((delivery(row, now + lease) for row in rows), key=lambda d: d.id)

    def _next_due(self, conn: psycopg.Connection[tuple[object, ...]]) -> float | None:
        (pending,) = conn.execute(NEXT_PENDING).fetchone() or (None,)
        return None if pending is None else float(pending)  # type: ignore[arg-type]


#: Leases run out only when an instance died or fell far behind, and every finished
#: claim leaves a dead index entry below the live ones until vacuum: so expired
#: leases are looked for at most this often (seconds), and ``next_due`` leaves
#: leases out (callers of a shared store poll).
LEASE_CHECK_EVERY = 1.0
NEXT_PENDING = ("SELECT MIN(next_at) FROM relay_deliveries "
                "WHERE head = 1 AND state = 'pending'")

#: Outcomes as arrays (id, claim's attempts or NULL, state, when, error, 1 when put back
#: untried: its attempt is not counted); only a claim still in flight takes one. A
#: finished head stops leading ...
RECORD = """UPDATE relay_deliveries u SET
        state = v.state,
        next_at = CASE WHEN v.state = 'pending' THEN v.at ELSE u.next_at END,
        done_at = CASE WHEN v.state = 'pending' THEN u.done_at ELSE v.at END,
        head = CASE WHEN v.state = 'pending' THEN u.head ELSE 0 END,
        attempts = u.attempts - v.untried,
        lease_until = NULL, last_error = v.error
    FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::float8[], %s::text[], %s::int[])
        AS v(id, attempts, state, at, error, untried)
    WHERE u.id = v.id AND u.state = 'inflight'
      AND (v.attempts IS NULL OR u.attempts = v.attempts)"""
#: ... and the oldest active delivery of its conversation takes over.
PROMOTE_ANY = f"""UPDATE relay_deliveries SET head = 1 WHERE head = 0 AND id IN (
    SELECT (SELECT e.id FROM relay_deliveries e
            WHERE e.channel = f.channel AND e.conv_key = f.conv_key AND e.state IN {ACTIVE}
            ORDER BY e.id LIMIT 1)
    FROM relay_deliveries f WHERE f.id = ANY(%s) AND f.state IN ('done', 'dead'))"""

_RETURNING = ", ".join("u." + c.strip() for c in DELIVERY_COLUMNS.split(","))
#: One statement reading the partial indexes only: in-flight rows whose lease ran out,
#: then pending conversation heads by due time; rows another instance holds are skipped.
CLAIM = f"""WITH expired AS (
    SELECT id, 0 AS rank, lease_until AS due FROM relay_deliveries
    WHERE state = 'inflight' AND lease_until < %s
    ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED),
  ready AS (
    SELECT id, 1 AS rank, next_at AS due FROM relay_deliveries
    WHERE head = 1 AND state = 'pending' AND next_at <= %s
    ORDER BY next_at, id LIMIT %s FOR UPDATE SKIP LOCKED),
  c AS (
    SELECT id FROM (SELECT * FROM expired UNION ALL SELECT * FROM ready) x
    ORDER BY rank, due, id LIMIT %s)
UPDATE relay_deliveries u
    SET state = 'inflight', lease_until = %s, claimed_by = %s, attempts = u.attempts + 1
    FROM c WHERE u.id = c.id
    RETURNING {_RETURNING}"""


#: Later columns, and text bodies turned into bytes; checked first, so an up-to-date
#: schema takes no table lock.
UPGRADE = """
DO $$
DECLARE
    body_type TEXT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'relay_events' AND column_name = 'peers') THEN
        ALTER TABLE relay_events ADD COLUMN peers TEXT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'relay_deliveries' AND column_name = 'uid') THEN
        ALTER TABLE relay_deliveries ADD COLUMN uid TEXT;
    END IF;
    SELECT data_type INTO body_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'relay_deliveries'
          AND column_name = 'body';
    IF body_type = 'text' THEN
        ALTER TABLE relay_deliveries ALTER COLUMN body TYPE BYTEA USING convert_to(body, 'UTF8');
    END IF;
END $$;
"""


def placeholders(sql: str) -> str:
    """psycopg's ``%s`` for the ``?`` the shared statements (and ours) are written with."""
    return sql.replace("?", "%s")


def _no_begin(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Nothing to do: psycopg opens a transaction on the first statement."""


def _migrate(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Bring a database written by an older relay up to date (under the schema lock)."""
    conn.execute(UPGRADE)
    found = conn.execute(placeholders(
        "SELECT 1 FROM information_schema.columns "  # pragma: no mutate
        "WHERE table_schema = current_schema() "  # pragma: no mutate
        "AND table_name = ? AND column_name = ?"),  # pragma: no mutate
        ("relay_deliveries", "head")).fetchone()
    if found is None:  # PostgreSQL folds the unquoted column name to lower case
        conn.execute(
            "ALTER TABLE relay_deliveries "  # pragma: no mutate
            "ADD COLUMN head SMALLINT NOT NULL DEFAULT 0",  # pragma: no mutate
        )
        conn.execute(BACKFILL_HEADS)
