"""The queue logic both SQL stores share; dialects differ only in DDL, placeholders and claiming."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shim.relay.dedupe import Item
from shim.relay.encoding import delivery_uid, encode_body, safe_key, safe_text
from shim.relay.store import DeadLetter, Delivery, Outcome, QueueStats, Split, Step
from shim.relay.writer import GroupCommitWriter

__all__ = ["SQLStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = Any  # sqlite3.Connection or psycopg.Connection: both offer execute() and cursor()

ACTIVE = "('pending', 'inflight')"

DELIVERY_COLUMNS = (
    "id, channel, conv_key, dedupe_key, phone_number_id, body, attempts, created_at, uid"
)

#: New deliveries are the head of their conversation when it has nothing active.
INSERT_DELIVERY = f"""INSERT INTO relay_deliveries
    (event_id, channel, conv_key, dedupe_key, phone_number_id, kind, body, state,
     attempts, created_at, next_at, uid, head)
    VALUES (?, ?, ?, ?, ?, 'body', ?, 'pending', 0, ?, ?, ?, CASE WHEN EXISTS (
        SELECT 1 FROM relay_deliveries e WHERE e.channel = ? AND e.conv_key = ?
          AND e.state IN {ACTIVE}) THEN 0 ELSE 1 END)
    ON CONFLICT DO NOTHING"""

#: An item refused for its channel: kept for review as a dead letter without its
#: dedupe key (so it shadows no genuine item) and never replayed.
INSERT_REFUSED = """INSERT INTO relay_deliveries
    (event_id, channel, conv_key, phone_number_id, kind, body, state, attempts,
     created_at, next_at, done_at, last_error, uid)
    VALUES (?, ?, ?, ?, 'refused', ?, 'dead', 0, ?, ?, ?, ?, ?)"""

INSERT_DEAD_EVENT = """INSERT INTO relay_deliveries
    (event_id, channel, conv_key, kind, body, state, attempts, created_at, next_at,
     done_at, last_error)
    VALUES (?, ?, '', 'event', ?, 'dead', 0, ?, ?, ?, ?)"""

#: Dead letters of these kinds are kept for review only: ``replay`` skips them.
NOT_REPLAYABLE = ("refused",)

#: Outcomes apply to a claim still in flight (``attempts`` names the claim): a late
#: answer to a claim whose lease ran out and was taken again changes nothing.
RETRY = """UPDATE relay_deliveries SET state = 'pending', next_at = ?, lease_until = NULL,
    last_error = ? WHERE id = ? AND state = 'inflight'"""
#: Put back untried (the target's circuit is open): the claim's attempt is not counted.
DEFER = """UPDATE relay_deliveries SET state = 'pending', next_at = ?, lease_until = NULL,
    last_error = ?, attempts = attempts - 1 WHERE id = ? AND state = 'inflight'"""
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

HAS_NEW = "SELECT id FROM relay_events WHERE state = 'new' ORDER BY id LIMIT 1"

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
    #: Database errors that say nothing about the event (lost connection, lock or
    #: serialisation conflicts): the step fails and is retried, nothing is dead-lettered.
    transient: tuple[type[Exception], ...] = ()
    _ingest: GroupCommitWriter[Conn]
    _work: GroupCommitWriter[Conn]

    def q(self, sql: str) -> str:
        return sql

    # -- async API (server) -------------------------------------------------

    async def _on(self, writer: GroupCommitWriter[Conn], op: Callable[[Conn], T]) -> T:
        return await writer.run(op)

    async def add_event(self, channel: str, body: bytes, received_at: float,
                        peers: Sequence[str] = ()) -> None:
        sql = self.q("INSERT INTO relay_events (channel, received_at, body, state, peers) "
                     "VALUES (?, ?, ?, 'new', ?)")
        params = (channel, received_at, body, " ".join(peers) or None)
        await self._on(self._ingest, lambda c: c.execute(sql, params))

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

    def drop(self, ids: Sequence[int]) -> int:
        return self._work.submit(lambda c: self._drop(c, ids)).result()

    def close(self) -> None:
        self._ingest.close()
        if self._work is not self._ingest:
            self._work.close()

    # -- operations (run on a writer thread, inside its transaction) -----------

    def _claim(self, conn: Conn, limit: int, now: float, lease: float) -> list[Delivery]:
        raise NotImplementedError

    def _has_new(self, conn: Conn) -> bool:
        # ORDER BY id: read from the partial index of new events. Without it PostgreSQL
        # may scan the whole table (kept for the dedupe window) hoping to hit one soon.
        return conn.execute(HAS_NEW).fetchone() is not None

    def _expand(self, conn: Conn, split: Split, limit: int) -> int:
        self._lock_heads(conn)  # deliveries get ids in split order; heads stay consistent
        rows = conn.execute(
            self.q("SELECT id, channel, received_at, body, peers FROM relay_events "
                   "WHERE state = 'new' ORDER BY id LIMIT ?"),
            (limit,),
        ).fetchall()
        for event_id, channel, received_at, raw, peers in rows:
            raw = bytes(raw)
            # Each event in its own savepoint: whatever it does wrong (translation,
            # encoding, a value the database refuses) undoes only its own rows and
            # turns it into a dead letter; the queue moves on.
            conn.execute("SAVEPOINT relay_event")
            try:
                items = split(channel, raw, tuple(peers.split()) if peers else ())
                self._insert(conn, event_id, items, received_at)
            except self.transient:
                raise
            except Exception as exc:
                conn.execute("ROLLBACK TO SAVEPOINT relay_event")
                reason = safe_text(f"cannot translate or store: {type(exc).__name__}: {exc}")
                log.warning("event %s of channel %s dead-lettered: %s", event_id, channel, reason)
                conn.execute(self.q(INSERT_DEAD_EVENT), (
                    event_id, channel, raw, received_at, received_at, time.time(), reason))
                state = "rejected"
            else:
                state = "split"
            conn.execute("RELEASE SAVEPOINT relay_event")
            conn.execute(self.q("UPDATE relay_events SET state = ? WHERE id = ?"),
                         (state, event_id))
        return len(rows)

    def _insert(self, conn: Conn, event_id: int, items: Sequence[Item],
                received_at: float) -> None:
        """Store an event's items: bodies as bytes, keys fit for any column."""
        deliveries: list[tuple[Any, ...]] = []
        refused: list[tuple[Any, ...]] = []
        for item in items:
            body = encode_body(item.body)
            pnid = safe_key(item.phone_number_id)
            conv = safe_key(item.conv_key) or ""
            if item.refused is not None:
                refused.append((event_id, item.channel, conv, pnid, body, received_at,
                                received_at, time.time(), safe_text(item.refused),
                                delivery_uid(item.channel, None)))
                continue
            key = safe_key(item.dedupe_key)
            deliveries.append((event_id, item.channel, conv, key, pnid, body, received_at,
                               received_at, delivery_uid(item.channel, key), item.channel, conv))
        cursor = conn.cursor()
        if deliveries:
            cursor.executemany(self.q(INSERT_DELIVERY), deliveries)
        if refused:
            cursor.executemany(self.q(INSERT_REFUSED), refused)

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
                sql = RETRY if outcome.attempted else DEFER
                params = (outcome.at, outcome.error, delivery_id)
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
        dead_by = tuple((str(ch), str(kind), int(n)) for ch, kind, n in conn.execute(
            "SELECT channel, kind, COUNT(*) FROM relay_deliveries WHERE state = 'dead' "
            "GROUP BY channel, kind ORDER BY channel, kind"
        ).fetchall())
        stamps = [t for t in (oldest, oldest_event) if t is not None]
        return QueueStats(int(pending), int(new), sum(n for _, _, n in dead_by),
                          min(stamps) if stamps else None, dead_by)

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
        return [DeadLetter(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), float(r[6]), r[7], r[8],
                           as_bytes(r[9]))
                for r in conn.execute(self.q(sql), params).fetchall()]

    def _replay(self, conn: Conn, ids: Sequence[int], now: float) -> int:
        self._lock_heads(conn)
        count = 0
        for dl in self._dead_letters(conn, ids, 1_000_000):
            if dl.kind in NOT_REPLAYABLE:
                continue
            if dl.kind == "event":  # split it again (the event row may have been pruned)
                peers = None
                if dl.event_id is not None:  # keep who authenticated it, if still known
                    found = conn.execute(self.q("SELECT peers FROM relay_events WHERE id = ?"),
                                         (dl.event_id,)).fetchone()
                    peers = found[0] if found else None
                conn.execute(self.q("INSERT INTO relay_events (channel, received_at, body, "
                                    "state, peers) VALUES (?, ?, ?, 'new', ?)"),
                             (dl.channel, now, dl.body, peers))
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


    def _drop(self, conn: Conn, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        sql = f"DELETE FROM relay_deliveries WHERE state = 'dead' AND id IN ({marks})"
        return int(conn.execute(self.q(sql), list(ids)).rowcount)


def as_bytes(value: bytes | memoryview | str) -> bytes:
    """A body column's value (rows written before bodies were bytes hold text)."""
    return value.encode() if isinstance(value, str) else bytes(value)


def delivery(row: Sequence[Any], lease_until: float) -> Delivery:
    # rows from before delivery ids were stored: derive one the same way
    uid = row[8] or (delivery_uid(row[1], row[3]) if row[3] else f"row-{row[0]}")
    return Delivery(int(row[0]), row[1], row[2], row[3], row[4], as_bytes(row[5]), int(row[6]),
                    float(row[7]), lease_until, uid)
