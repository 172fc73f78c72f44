"""The queue logic both SQL stores share; dialects differ only in DDL, placeholders and claiming."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shim.relay.dedupe import Item
from shim.relay.store import DeadLetter, Delivery, Outcome, QueueStats, Split
from shim.relay.writer import GroupCommitWriter

__all__ = ["SQLStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = Any  # sqlite3.Connection or psycopg.Connection: both offer execute() and cursor()

ACTIVE = "('pending', 'inflight')"

#: A delivery is a conversation head when nothing older of its conversation is active.
HEAD = f"""NOT EXISTS (
    SELECT 1 FROM relay_deliveries e
    WHERE e.channel = d.channel AND e.conv_key = d.conv_key
      AND e.state IN {ACTIVE} AND e.id < d.id)"""

DUE = f"""d.state IN {ACTIVE}
    AND ((d.state = 'pending' AND d.next_at <= ?)
         OR (d.state = 'inflight' AND d.lease_until < ?))"""

DELIVERY_COLUMNS = (
    "id, channel, conv_key, dedupe_key, phone_number_id, body, attempts, created_at"
)

INSERT_DELIVERY = """INSERT INTO relay_deliveries
    (event_id, channel, conv_key, dedupe_key, phone_number_id, kind, body, state,
     attempts, created_at, next_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
    ON CONFLICT DO NOTHING"""

INSERT_DEAD_EVENT = """INSERT INTO relay_deliveries
    (event_id, channel, conv_key, kind, body, state, attempts, created_at, next_at,
     done_at, last_error)
    VALUES (?, ?, '', 'event', ?, 'dead', 0, ?, ?, ?, ?)"""


class SQLStore:
    """Queue operations over a DB-API-ish connection, run on group-commit writers.

    Subclasses provide ``q`` (placeholder rewrite), ``_expand_lock`` and
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
            self._finish(conn, delivery_id, outcome)
            return self._claim(conn, claim_next, now, lease) if claim_next > 0 else []

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

    def _expand_lock(self, conn: Conn) -> bool:
        return True

    def _claim(self, conn: Conn, limit: int, now: float, lease: float) -> list[Delivery]:
        raise NotImplementedError

    def _expand(self, conn: Conn, split: Split, limit: int) -> int:
        if not self._expand_lock(conn):
            return 0
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

    def _finish(self, conn: Conn, delivery_id: int, outcome: Outcome) -> None:
        if outcome.state == "pending":
            sql = ("UPDATE relay_deliveries SET state = 'pending', next_at = ?, "
                   "lease_until = NULL, last_error = ? WHERE id = ?")
        else:  # done or dead: done_at records when
            sql = (f"UPDATE relay_deliveries SET state = '{outcome.state}', done_at = ?, "
                   "lease_until = NULL, last_error = ? WHERE id = ?")
        conn.execute(self.q(sql), (outcome.at, outcome.error, delivery_id))

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
            count += 1
        return count


def _row(event_id: int, item: Item, received_at: float) -> tuple[Any, ...]:
    body = json.dumps(item.body, ensure_ascii=False, separators=(",", ":"))
    return (event_id, item.channel, item.conv_key, item.dedupe_key, item.phone_number_id,
            "body", body, "pending", received_at, received_at)


def delivery(row: Sequence[Any], lease_until: float) -> Delivery:
    return Delivery(int(row[0]), row[1], row[2], row[3], row[4], row[5], int(row[6]),
                    float(row[7]), lease_until)
