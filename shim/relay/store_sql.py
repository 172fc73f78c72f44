"""The queue logic both SQL stores share; dialects differ only in DDL, placeholders and claiming."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shim.relay.dedupe import Item
from shim.relay.store import DeadLetter, Delivery, Outcome, QueueStats, Split, Step
from shim.relay.writer import GroupCommitWriter

__all__ = ["SQLStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = Any  # sqlite3.Connection or psycopg.Connection: both offer execute() and cursor()

ACTIVE = "('pending', 'inflight')"

DELIVERY_COLUMNS = (
    "id, channel, conv_key, dedupe_key, phone_number_id, body, attempts, created_at"
)

#: New deliveries are the head of their conversation when it has nothing active.
INSERT_DELIVERY = f"""INSERT INTO relay_deliveries
    (event_id, channel, conv_key, dedupe_key, phone_number_id, kind, body, state,
     attempts, created_at, next_at, head)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, CASE WHEN EXISTS (
        SELECT 1 FROM relay_deliveries e WHERE e.channel = ? AND e.conv_key = ?
          AND e.state IN {ACTIVE}) THEN 0 ELSE 1 END)
    ON CONFLICT DO NOTHING"""

INSERT_DEAD_EVENT = """INSERT INTO relay_deliveries
    (event_id, channel, conv_key, kind, body, state, attempts, created_at, next_at,
     done_at, last_error)
    VALUES (?, ?, '', 'event', ?, 'dead', 0, ?, ?, ?, ?)"""

#: Outcomes apply to a claim still in flight (``attempts`` names the claim): a late
#: answer to a claim whose lease ran out and was taken again changes nothing.
RETRY = """UPDATE relay_deliveries SET state = 'pending', next_at = ?, lease_until = NULL,
    last_error = ? WHERE id = ? AND state = 'inflight'"""
FINAL = """UPDATE relay_deliveries SET state = ?, done_at = ?, lease_until = NULL,
    last_error = ?, head = 0 WHERE id = ? AND state = 'inflight'"""
CLAIM_GUARD = " AND attempts = ?"
#: After a head is done or dead, the oldest active delivery of its conversation leads
#: (rows already leading are left alone, so nothing waits on their row locks).
PROMOTE = f"""UPDATE relay_deliveries SET head = 1 WHERE head = 0 AND id = (
    SELECT e.id FROM relay_deliveries f JOIN relay_deliveries e
      ON e.channel = f.channel AND e.conv_key = f.conv_key
    WHERE f.id = ? AND f.state IN ('done', 'dead') AND e.state IN {ACTIVE}
    ORDER BY e.id LIMIT 1)"""
#: Recompute one conversation's head (after a replay put an older item back).
REHEAD = f"""UPDATE relay_deliveries SET head = CASE WHEN id = (
        SELECT MIN(e.id) FROM relay_deliveries e WHERE e.channel = ? AND e.conv_key = ?
          AND e.state IN {ACTIVE}) THEN 1 ELSE 0 END
    WHERE channel = ? AND conv_key = ? AND state IN {ACTIVE}"""
#: Set heads on a database written before the flag existed (or repair them).
BACKFILL_HEADS = f"""UPDATE relay_deliveries SET head = CASE WHEN id IN (
        SELECT MIN(e.id) FROM relay_deliveries e WHERE e.state IN {ACTIVE}
        GROUP BY e.channel, e.conv_key) THEN 1 ELSE 0 END
    WHERE state IN {ACTIVE} OR head <> 0"""

#: Each half reads one end of a partial index (cheap whatever the depth of the queue).
NEXT_DUE = """SELECT
    (SELECT MIN(next_at) FROM relay_deliveries WHERE head = 1 AND state = 'pending'),
    (SELECT MIN(lease_until) FROM relay_deliveries WHERE state = 'inflight')"""

#: Indexes on the head flag (created after a migration has added the column).
HEAD_INDEXES = """
CREATE INDEX IF NOT EXISTS relay_deliveries_ready
    ON relay_deliveries (next_at, id) WHERE head = 1 AND state = 'pending';
CREATE INDEX IF NOT EXISTS relay_deliveries_leased
    ON relay_deliveries (lease_until) WHERE state = 'inflight';
"""


class SQLStore:
    """Queue operations over a DB-API-ish connection, run on group-commit writers.

    Subclasses provide ``q`` (placeholder rewrite), ``_lock_heads`` and
    ``_claim``, and set ``_ingest``/``_work`` writers (may be the same one).
    """

    shared = False
    _ingest: GroupCommitWriter[Conn]
    _work: GroupCommitWriter[Conn]

    def q(self, sql: str) -> str:
        return sql

    # -- async API (server) -------------------------------------------------

    async def _on(self, writer: GroupCommitWriter[Conn], op: Callable[[Conn], T]) -> T:
        return await writer.run(op)

    async def add_event(self, channel: str, body: bytes, received_at: float) -> None:
        sql = self.q("INSERT INTO relay_events (channel, received_at, body, state) "
                     "VALUES (?, ?, ?, 'new')")
        await self._on(self._ingest, lambda c: c.execute(sql, (channel, received_at, body)))

    async def expand(self, split: Split, limit: int) -> int:
        return await self._on(self._work, lambda c: self._expand(c, split, limit))

    async def claim(self, limit: int, now: float, lease: float) -> list[Delivery]:
        return await self._on(self._work, lambda c: self._claim(c, limit, now, lease))

    async def finish(self, delivery_id: int, outcome: Outcome, *, claim_next: int = 0,
                     now: float = 0.0, lease: float = 30.0) -> list[Delivery]:
        def op(conn: Conn) -> list[Delivery]:
            self._lock_heads(conn)
            self._record(conn, [(delivery_id, None, outcome)])
            return self._claim(conn, claim_next, now, lease) if claim_next > 0 else []

        return await self._on(self._work, op)

    async def step(self, outcomes: Sequence[tuple[Delivery, Outcome]], split: Split | None, *,
                   expand: int, claim: int, now: float, lease: float) -> Step:
        records = [(d.id, d.attempts, o) for d, o in outcomes]

        def op(conn: Conn) -> Step:
            with self._pipeline(conn):  # one round trip for the lock, outcomes and the look
                if records or split is not None:
                    self._lock_heads(conn)  # first, before any row lock: no lock-order cycles
                self._record(conn, records)
                expanding = split is not None and expand > 0 and self._has_new(conn)
            expanded = self._expand(conn, split, expand) if split is not None and expanding else 0
            claimed = self._claim(conn, claim, now, lease) if claim > 0 else []
            # A full claim means more may be due: the caller comes back without sleeping.
            next_due = self._next_due(conn) if len(claimed) < claim or claim == 0 else None
            return Step(expanded, claimed, next_due)

        return await self._on(self._work, op)

    async def stats(self) -> QueueStats:
        return await self._on(self._work, self._stats)

    async def prune(self, before: float) -> int:
        return await self._on(self._work, lambda c: self._prune(c, before))

    # -- sync API (admin commands) --------------------------------------------

    def dead_letters(self, ids: Sequence[int] = (), limit: int = 1000) -> list[DeadLetter]:
        return self._work.submit(lambda c: self._dead_letters(c, ids, limit)).result()

    def replay(self, ids: Sequence[int] = (), now: float = 0.0) -> int:
        return self._work.submit(lambda c: self._replay(c, ids, now)).result()

    def close(self) -> None:
        self._ingest.close()
        if self._work is not self._ingest:
            self._work.close()

    # -- operations (run on a writer thread, inside its transaction) -----------

    def _claim(self, conn: Conn, limit: int, now: float, lease: float) -> list[Delivery]:
        raise NotImplementedError

    def _has_new(self, conn: Conn) -> bool:
        return conn.execute("SELECT 1 FROM relay_events WHERE state = 'new' LIMIT 1"
                            ).fetchone() is not None

    def _expand(self, conn: Conn, split: Split, limit: int) -> int:
        self._lock_heads(conn)  # deliveries get ids in split order; heads stay consistent
        rows = conn.execute(
            self.q("SELECT id, channel, received_at, body FROM relay_events "
                   "WHERE state = 'new' ORDER BY id LIMIT ?"),
            (limit,),
        ).fetchall()
        insert = self.q(INSERT_DELIVERY)
        for event_id, channel, received_at, raw in rows:
            raw = bytes(raw)
            try:
                items = split(channel, raw)
            except Exception as exc:  # a bad event must not wedge the queue
                log.warning("event %s of channel %s cannot be split: %s", event_id, channel, exc)
                conn.execute(self.q(INSERT_DEAD_EVENT), (
                    event_id, channel, raw.decode("utf-8", "replace"), received_at,
                    received_at, time.time(), f"cannot translate: {exc}"))
                state = "rejected"
            else:
                conn.cursor().executemany(insert, [_row(event_id, item, received_at)
                                                   for item in items])
                state = "split"
            conn.execute(self.q("UPDATE relay_events SET state = ? WHERE id = ?"),
                         (state, event_id))
        return len(rows)

    def _lock_heads(self, conn: Conn) -> None:
        """Serialise head changes with other processes sharing the queue (none for SQLite)."""

    def _pipeline(self, conn: Conn) -> contextlib.AbstractContextManager[object]:
        """Send the statements inside without waiting for each answer (where supported)."""
        return contextlib.nullcontext()

    def _record(self, conn: Conn, records: Sequence[tuple[int, int | None, Outcome]]) -> None:
        """Apply outcomes; ``attempts`` None (admin, tests) accepts any in-flight claim."""
        groups: dict[tuple[str, bool], list[tuple[Any, ...]]] = {}
        promote = []
        params: tuple[Any, ...]
        for delivery_id, attempts, outcome in records:
            if outcome.state == "pending":
                sql, params = RETRY, (outcome.at, outcome.error, delivery_id)
            else:  # done or dead: done_at records when; the next item leads
                sql, params = FINAL, (outcome.state, outcome.at, outcome.error, delivery_id)
                promote.append((delivery_id,))
            guarded = attempts is not None
            groups.setdefault((sql, guarded), []).append(
                (*params, attempts) if guarded else params)
        cursor = conn.cursor()
        for (sql, guarded), rows in groups.items():
            cursor.executemany(self.q(sql + CLAIM_GUARD if guarded else sql), rows)
        if promote:
            cursor.executemany(self.q(PROMOTE), promote)

    def _next_due(self, conn: Conn) -> float | None:
        pending, leased = conn.execute(NEXT_DUE).fetchone()
        stamps = [float(t) for t in (pending, leased) if t is not None]
        return min(stamps) if stamps else None

    def _stats(self, conn: Conn) -> QueueStats:
        pending, oldest = conn.execute(
            f"SELECT COUNT(*), MIN(created_at) FROM relay_deliveries WHERE state IN {ACTIVE}"
        ).fetchone()
        new, oldest_event = conn.execute(
            "SELECT COUNT(*), MIN(received_at) FROM relay_events WHERE state = 'new'"
        ).fetchone()
        (dead,) = conn.execute(
            "SELECT COUNT(*) FROM relay_deliveries WHERE state = 'dead'"
        ).fetchone()
        stamps = [t for t in (oldest, oldest_event) if t is not None]
        return QueueStats(int(pending), int(new), int(dead), min(stamps) if stamps else None)

    def _prune(self, conn: Conn, before: float) -> int:
        n = conn.execute(self.q("DELETE FROM relay_deliveries WHERE state = 'done' "
                                "AND done_at < ?"), (before,)).rowcount
        conn.execute(self.q("DELETE FROM relay_events WHERE state <> 'new' "
                            "AND received_at < ?"), (before,))
        return int(n)

    def _dead_letters(self, conn: Conn, ids: Sequence[int], limit: int) -> list[DeadLetter]:
        sql = ("SELECT id, event_id, channel, kind, dedupe_key, attempts, created_at, done_at, "
               "last_error, body FROM relay_deliveries WHERE state = 'dead'")
        params: list[Any] = []
        if ids:
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params += list(ids)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [DeadLetter(*row) for row in conn.execute(self.q(sql), params).fetchall()]

    def _replay(self, conn: Conn, ids: Sequence[int], now: float) -> int:
        self._lock_heads(conn)
        count = 0
        for dl in self._dead_letters(conn, ids, 1_000_000):
            if dl.kind == "event":  # split it again (the event row may have been pruned)
                conn.execute(self.q("INSERT INTO relay_events (channel, received_at, body, state) "
                                    "VALUES (?, ?, ?, 'new')"),
                             (dl.channel, now, dl.body.encode()))
                conn.execute(self.q("DELETE FROM relay_deliveries WHERE id = ?"), (dl.id,))
            else:  # a fresh max-age budget, same place in its conversation
                conn.execute(self.q("UPDATE relay_deliveries SET state = 'pending', next_at = ?, "
                                    "created_at = ?, attempts = 0, last_error = NULL, "
                                    "done_at = NULL WHERE id = ?"), (now, now, dl.id))
                (conv_key,) = conn.execute(
                    self.q("SELECT conv_key FROM relay_deliveries WHERE id = ?"), (dl.id,)
                ).fetchone()
                conn.execute(self.q(REHEAD), (dl.channel, conv_key, dl.channel, conv_key))
            count += 1
        return count


def _row(event_id: int, item: Item, received_at: float) -> tuple[Any, ...]:
    body = json.dumps(item.body, ensure_ascii=False, separators=(",", ":"))
    return (event_id, item.channel, item.conv_key, item.dedupe_key, item.phone_number_id,
            "body", body, "pending", received_at, received_at, item.channel, item.conv_key)


def delivery(row: Sequence[Any], lease_until: float) -> Delivery:
    return Delivery(int(row[0]), row[1], row[2], row[3], row[4], row[5], int(row[6]),
                    float(row[7]), lease_until)
