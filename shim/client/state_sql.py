"""The SQL both shared state stores run; the dialects differ in DDL, placeholders and GREATEST.

Every operation is one or two autocommitted statements, so no lock is held
across statements; races between statements are benign (the second one
re-checks the state it changes). The exception is the claim, which can take a
pacing slot atomically with it (:meth:`SQLStateStore.claim` with ``pace``;
each dialect has its form: one statement with a CTE on PostgreSQL, one short
transaction of plain statements on SQLite).

Recording an outcome need not delay the caller's answer: ``complete`` and
``release`` with ``wait=False`` queue the write. The next claim carries the
queued outcomes along (on PostgreSQL as extra rows of its own upsert, one
round trip; on SQLite in its transaction), so a busy sender never pays a
separate commit;
when no claim comes within ``WRITE_LINGER`` a writer thread commits the
queue. Until a write lands, the key is still ``pending`` under
our claim: a retry with the key waits for it, and if the process dies first
the claim's lease runs out and the key turns ``unknown``. Never a second
send either way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shim.client.state import OPEN_STATES, TIMELINE_IDLE, Claim, Entry, SlotRequest

log = logging.getLogger("shim.client.state")

__all__ = ["MEDIA_TTL", "SQLStateStore", "StoreCounts"]

Row = tuple[Any, ...]
Batch = list[tuple[str, Row]]

#: Cloud media ids are valid for 30 days; ownership is kept as long.
MEDIA_TTL: Final = 30 * 24 * 3600.0
#: A queued write waits this long (seconds) for a claim to carry it before the writer
#: thread commits it alone (at most twice as long).
WRITE_LINGER: Final = 0.02
#: The writer looks for queued writes every ``WRITE_LINGER`` this many times after the
#: last one before it waits to be woken (a busy sender wakes no thread per write).
IDLE_POLLS: Final = 50
#: Forget expired rows at most this often (seconds).
PRUNE_EVERY: Final = 600.0

COLUMNS: Final = ("channel, key, state, owner, created_at, updated_at, expires_at, status, "
                  "content, content_type, message_id, detail")

_UNKNOWN_DETAIL: Final = ("the process that claimed this key stopped before it recorded an "
                          "outcome; the send may have gone out")


@dataclass
class StoreCounts:
    """What the store asked of the database (for the bench: statements per send)."""

    #: statements on the callers' path (BEGIN and COMMIT count), and round trips they took
    statements: int = 0
    round_trips: int = 0
    #: the same for the outcome writer thread
    behind_statements: int = 0
    behind_round_trips: int = 0


class SQLStateStore:
    """Ledger, media owners and pacing timelines in SQL tables prefixed ``wm_``."""

    shared = True
    where = ""
    #: the dialect's n-ary maximum ("max" in SQLite, "GREATEST" in PostgreSQL)
    greatest = "max"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_prune = 0.0
        self._queue: Batch = []
        #: when the oldest queued write was queued (monotonic)
        self._since = 0.0
        #: guards the queue; the send path takes it bare (a Condition's ``with`` is Python
        #: code, and it runs twice per keyed send)
        self._queued = queued = threading.Lock()
        #: the writer thread waits on ``_wake``; ``flush`` on ``_done``
        self._wake = threading.Condition(queued)
        self._done = threading.Condition(queued)
        #: the writer waits without a timeout: the next queued write must wake it
        self._idle = False
        #: callers waiting in ``flush``: the writer writes at once
        self._flushing = 0
        #: see ``WRITE_LINGER``
        self.write_linger = WRITE_LINGER
        self._writer: threading.Thread | None = None
        self._busy = False
        #: claims carrying queued writes right now (``flush`` waits for them too)
        self._riding = 0
        #: writes that failed along with a claim: only the writer thread retries them
        self._stuck: Batch = []
        self._closing = False
        self._complete_sql = self.q(COMPLETE)
        self._take_sql = self.q(TAKE.format(g=self.greatest))
        #: the claim's INSERT with n rows (n - 1 queued outcomes first), by (n, paced)
        self._claims: dict[tuple[int, bool], str] = {}
        self.counts = StoreCounts()

    # -- dialect ---------------------------------------------------------------

    def q(self, sql: str) -> str:
        return sql

    def _connect(self) -> Any:
        """A new autocommit connection (the writer thread opens its own)."""
        raise NotImplementedError

    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        self.counts.statements += 1
        self.counts.round_trips += 1
        return conn.execute(sql, params)

    @contextlib.contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        raise NotImplementedError
        yield

    _conn: Any

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one autocommitted statement; rows it returns (if any)."""
        with self._lock:
            cur = self._execute(self._conn, sql, params)
            return list(cur.fetchall()) if cur.description else []

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one autocommitted statement; rows it changed."""
        with self._lock:
            return int(self._execute(self._conn, sql, params).rowcount)

    # -- idempotency ledger -----------------------------------------------------

    def claim(self, channel: str, key: str, owner: str, lease_s: float, now: float,
              pace: SlotRequest | None = None) -> Claim:
        if now - self._last_prune >= PRUNE_EVERY:
            self._prune_due(now)
        row = (channel, key, "pending", owner, now, now, now + lease_s, 0, b"",
               "application/json", None, None)
        won, slot = self._insert_claim(row, pace, now)
        if won:
            return Claim(True, slot=slot)
        # Someone holds it. A claim whose lease ran out becomes unknown, never "send again".
        self._count(self.q(
            "UPDATE wm_keys SET state = 'unknown', updated_at = ?, expires_at = 0, detail = ? "
            "WHERE channel = ? AND key = ? AND state = 'pending' AND expires_at <= ?"
        ), (now, _UNKNOWN_DETAIL, channel, key, now))
        found = self.get(channel, key)
        if found is None:  # released between our statements: try once more
            return self.claim(channel, key, owner, lease_s, now)
        return Claim(False, found, slot)

    def _insert_claim(self, row: Row, pace: SlotRequest | None,
                      now: float) -> tuple[bool, float | None]:
        """Insert the claim (with what is queued) and take the slot in one transaction;
        (won, first slot). If the queued writes fail, the claim is made alone."""
        rows, batch = self._ride(row[0], row[1])
        if rows or batch:
            try:
                found = self._claim_with(rows, batch, row, pace, now)
            except Exception as exc:
                self._landed([(self._complete_sql, r) for r in rows] + batch, exc)
            else:
                self._landed()
                return found
        return self._claim_with([], [], row, pace, now)

    def _claim_sql(self, rows: int, paced: bool) -> str:
        """The claim statement for ``rows`` rows, built once per shape."""
        sql = self._claims.get((rows, paced))
        if sql is None:
            sql = self._claims[(rows, paced)] = self._build_claim_sql(rows, paced)
        return sql

    def _build_claim_sql(self, rows: int, paced: bool) -> str:
        """(Dialect.) The claim's upsert with ``rows`` rows in all; it returns each row it
        wrote's state."""
        values = ", ".join([ROW] * rows)
        return self.q(f"{UPSERT}{values}{UPSERT_WHEN}")

    def _claim_with(self, rows: list[Row], batch: Batch, row: Row, pace: SlotRequest | None,
                    now: float) -> tuple[bool, float | None]:
        """(Dialect.) Run ``batch``, then the claim upsert with ``rows`` before ``row``, and
        take the slot, as one transaction; (won, first slot)."""
        raise NotImplementedError

    def get(self, channel: str, key: str) -> Entry | None:
        rows = self._run(self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE channel = ? AND key = ?"),
                         (channel, key))
        return entry_of(rows[0]) if rows else None

    def find(self, key: str) -> list[Entry]:
        return [entry_of(row) for row in self._run(
            self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE key = ? ORDER BY channel"), (key,))]

    def complete(self, entry: Entry, *, wait: bool = True) -> None:
        params = (entry.channel, entry.key, entry.state, entry.owner, entry.created_at,
                  entry.updated_at, entry.expires_at, entry.status, entry.content,
                  entry.content_type, entry.message_id, entry.detail)
        if wait:
            self._count(self._complete_sql, params)
        else:
            self._later(self._complete_sql, params)

    def release(self, channel: str, key: str, owner: str, *, wait: bool = True) -> None:
        if wait:
            self._count(self.q(RELEASE), (channel, key, owner))
        else:
            self._later(self.q(RELEASE), (channel, key, owner))

    # -- write-behind -------------------------------------------------------------

    def _later(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a write (``sql`` in this dialect) for the next claim or the writer thread."""
        with self._queued:
            if not self._queue:
                self._since = time.monotonic()
            self._queue.append((sql, params))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_behind, daemon=True,
                                                name="waba-state-writer")
                self._writer.start()
            elif self._idle:  # while sends keep coming the writer polls: no wake-up per write
                self._idle = False
                self._wake.notify()

    def _ride(self, channel: str, key: str) -> tuple[list[Row], Batch]:
        """Take queued writes along with the claim of ``key`` (call :meth:`_landed` after it).

        Outcomes become rows of the claim's own upsert (at most ``RIDE_MAX``); anything
        else stays queued for the writer thread. If the claimed key itself is queued (a
        retry in this process) or a key is queued twice, every queued write goes first, in
        order, as statements of their own."""
        if not self._queue:  # unlocked peek: a write queued just now waits for the next claim
            return [], []
        with self._queued:
            queue = self._queue
            if len(queue) == 1:  # the usual case: the last send's answer
                sql, args = queue[0]
                if sql is self._complete_sql and (args[0] != channel or args[1] != key):
                    self._queue = []
                    self._riding += 1
                    return [args], []
            if not queue:
                return [], []
            idents = {(args[0], args[1]) for _, args in queue}
            if (channel, key) in idents or len(idents) < len(queue):
                self._queue = []
                self._riding += 1
                return [], queue
            rows = [args for sql, args in queue if sql is self._complete_sql][:RIDE_MAX]
            if len(rows) == len(queue):
                self._queue = []
            else:
                taken = {id(r) for r in rows}
                self._queue = [item for item in queue if id(item[1]) not in taken]
            if rows:
                self._riding += 1
            return rows, []

    def _landed(self, failed: Sequence[tuple[str, Row]] = (),
                exc: Exception | None = None) -> None:
        """The claim that carried queued writes committed, or they ``failed`` with it: then
        the writer thread retries them alone (a write the database refuses never holds up a
        claim twice)."""
        with self._queued:
            self._riding -= 1
            if failed:
                log.warning("%d queued write(s) failed along with a claim in %s (the writer "
                            "retries them): %s", len(failed), self.where, exc)
                self._stuck.extend(failed)
                self._idle = False
                self._wake.notify()
            if self._flushing:
                self._done.notify_all()

    #: The writer thread opens its own connection (PostgreSQL); SQLite shares the
    #: main one under the lock, since a second connection would only wait on the file lock.
    own_writer_connection = True

    def _write_batch(self, conn: Any, batch: Batch) -> Any:
        """Commit ``batch`` in one transaction; returns the writer's connection to keep."""
        self.counts.behind_statements += len(batch) + 2
        self.counts.behind_round_trips += len(batch) + 2
        if not self.own_writer_connection:
            with self._lock, self._transaction(self._conn):
                for sql, params in batch:
                    self._conn.execute(sql, params)
            return None
        conn = conn or self._connect()
        with self._transaction(conn):
            for sql, params in batch:
                conn.execute(sql, params)
        return conn

    def _write_behind(self) -> None:
        conn: Any = None
        while True:
            with self._wake:
                batch = self._next_batch()
                if batch is None:
                    break
                self._busy = True
            conn = self._write_each(conn, batch)
            with self._wake:
                self._busy = False
                self._done.notify_all()
        if conn is not None:
            conn.close()

    def _write_each(self, conn: Any, batch: Batch) -> Any:
        """Write ``batch``; if that fails, each write alone, so one bad write loses only
        itself (a key whose outcome is lost stays claimed until its lease turns it unknown)."""
        try:
            return self._write_batch(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                log.error("could not record an outcome in %s: %s", self.where, exc)
                return _usable(conn)
            conn = _usable(conn)
        for one in batch:
            try:
                conn = self._write_batch(conn, [one])
            except Exception as exc:
                log.error("could not record an outcome in %s: %s", self.where, exc)
                conn = _usable(conn)
        return conn

    def _next_batch(self) -> Batch | None:
        """(Writer thread, lock held.) The writes no claim carried for ``write_linger``
        since they were queued; None once the store is closing and nothing is left.

        While writes keep coming it looks once per ``write_linger`` (a wake-up per write
        would cost the sender more than the write); after ``IDLE_POLLS`` empty looks it
        sleeps until the next write wakes it."""
        quiet = 0
        while True:
            if self._stuck or (self._queue and (self._closing or self._flushing)):
                break
            if self._queue:
                if self._since <= time.monotonic() - self.write_linger:
                    break
                quiet = 0
            elif self._closing:
                return None
            elif quiet >= IDLE_POLLS:
                self._idle = True
                while self._idle and not self._closing:
                    self._wake.wait()
                self._idle = False
                quiet = 0  # woken by a write: poll again (claims usually carry it first)
                continue
            else:
                quiet += 1
            self._wake.wait(self.write_linger)
        batch, self._queue, self._stuck = self._stuck + self._queue, [], []
        return batch

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued outcomes are written; False if that took over ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._done:
            self._flushing += 1
            self._idle = False
            self._wake.notify_all()
            try:
                while self._queue or self._stuck or self._busy or self._riding:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._done.wait(left)
            finally:
                self._flushing -= 1
        return True

    def forget(self, channel: str, key: str) -> bool:
        return self._count(self.q("DELETE FROM wm_keys WHERE channel = ? AND key = ?"),
                           (channel, key)) > 0

    def settle(self, channel: str, key: str, *, happened: bool, message_id: str | None,
               detail: str | None, now: float, ttl: float) -> bool:
        states = ", ".join(f"'{s}'" for s in OPEN_STATES)
        return self._count(self.q(
            "UPDATE wm_keys SET state = ?, message_id = COALESCE(?, message_id), detail = ?, "
            f"updated_at = ?, expires_at = ? WHERE channel = ? AND key = ? AND state IN ({states})"
        ), ("happened" if happened else "failed", message_id, detail, now, now + ttl, channel,
            key)) > 0

    def entries(self, states: Sequence[str] = (), limit: int = 1000) -> list[Entry]:
        sql = f"SELECT {COLUMNS} FROM wm_keys"
        params: list[Any] = []
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
            params += list(states)
        sql += " ORDER BY created_at, channel, key LIMIT ?"
        params.append(limit)
        return [entry_of(row) for row in self._run(self.q(sql), params)]

    def prune(self, now: float) -> int:
        states = ", ".join(f"'{s}'" for s in OPEN_STATES)
        n = self._count(self.q(f"DELETE FROM wm_keys WHERE state NOT IN ({states}) "
                               "AND expires_at <= ?"), (now,))
        self._count(self.q("DELETE FROM wm_media WHERE created_at <= ?"), (now - MEDIA_TTL,))
        idle = now - TIMELINE_IDLE
        self._count(self.q("DELETE FROM wm_pace WHERE tat <= ? AND paused <= ?"), (idle, idle))
        return n

    def _prune_due(self, now: float) -> None:
        """Forget expired rows (the claim path calls it once ``PRUNE_EVERY`` has passed)."""
        self._last_prune = now
        self.prune(now)

    # -- media ownership ----------------------------------------------------------

    def record_media(self, media_id: str, channel: str, now: float) -> None:
        self._count(self.q(
            "INSERT INTO wm_media (media_id, channel, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (media_id) DO UPDATE SET channel = excluded.channel, "
            "created_at = excluded.created_at"
        ), (media_id, channel, now))

    def media_owner(self, media_id: str) -> str | None:
        rows = self._run(self.q("SELECT channel FROM wm_media WHERE media_id = ?"), (media_id,))
        return str(rows[0][0]) if rows else None

    # -- pacing ---------------------------------------------------------------------

    def take_slots(self, name: str, count: int, interval: float, now: float,
                   tolerance: float = 0.0) -> float:
        if now - self._last_prune >= PRUNE_EVERY:  # sends without keys never claim
            self._prune_due(now)
        with self._lock:
            return self._take(self._conn, SlotRequest(name, count, interval, tolerance), now)

    def _take(self, conn: Any, pace: SlotRequest, now: float) -> float:
        span = pace.count * pace.interval
        rows = self._execute(conn, self._take_sql, (pace.name, now + span, now, span)).fetchall()
        return first_slot(float(rows[0][0]), float(rows[0][1]), span, pace.tolerance, now)

    def pause(self, name: str, until: float) -> None:
        g = self.greatest
        self._count(self.q(
            "INSERT INTO wm_pace AS p (name, tat, paused) VALUES (?, 0, ?) "
            f"ON CONFLICT (name) DO UPDATE SET paused = {g}(p.paused, excluded.paused)"
        ), (name, until))

    def timelines(self) -> int:
        return int(self._run("SELECT count(*) FROM wm_pace")[0][0])

    def close(self) -> None:
        self.flush()
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._writer is not None:
            self._writer.join(10)
        with self._lock:
            self._conn.close()


#: The claim is an upsert of a ``pending`` row that wins only over a row whose answer
#: expired. Queued outcomes (never ``pending``) ride in the same statement as rows before
#: it, each with COMPLETE's rule. ``RETURNING state``: a ``pending`` row back means won.
UPSERT: Final = f"INSERT INTO wm_keys AS k ({COLUMNS}) VALUES "
ROW: Final = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: The columns the claim upsert sets on a conflict, and when (shared with SQLite's form).
UPSERT_SET: Final = (
    "state = excluded.state, owner = excluded.owner, "
    "created_at = CASE WHEN excluded.state = 'pending' THEN excluded.created_at "
    "ELSE k.created_at END, updated_at = excluded.updated_at, expires_at = "
    "excluded.expires_at, status = excluded.status, content = excluded.content, "
    "content_type = excluded.content_type, message_id = excluded.message_id, "
    "detail = excluded.detail"
)
UPSERT_WHERE: Final = (
    "CASE WHEN excluded.state = 'pending' "
    "THEN k.state NOT IN ('pending', 'unknown') AND k.expires_at <= excluded.created_at "
    "ELSE k.state IN ('pending', 'unknown') OR excluded.state = 'ok' END"
)
UPSERT_WHEN: Final = (
    f" ON CONFLICT (channel, key) DO UPDATE SET {UPSERT_SET} WHERE {UPSERT_WHERE} "
    "RETURNING state"
)
#: Queued outcomes one claim carries at most.
RIDE_MAX: Final = 8

#: A status webhook may settle a key before its sender records "unknown": never undo that.
COMPLETE: Final = (
    f"INSERT INTO wm_keys AS k ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (channel, key) DO UPDATE SET state = excluded.state, owner = "
    "excluded.owner, updated_at = excluded.updated_at, expires_at = excluded.expires_at, "
    "status = excluded.status, content = excluded.content, content_type = "
    "excluded.content_type, message_id = excluded.message_id, detail = excluded.detail "
    "WHERE k.state IN ('pending', 'unknown') OR excluded.state = 'ok'"
)

RELEASE: Final = ("DELETE FROM wm_keys WHERE channel = ? AND key = ? "
                  "AND state = 'pending' AND owner = ?")

#: One GCRA step on a timeline: push its TAT by the leased span ({g}: GREATEST / max).
TAKE: Final = (
    "INSERT INTO wm_pace AS p (name, tat, paused) VALUES (?, ?, 0) "
    "ON CONFLICT (name) DO UPDATE SET tat = {g}(p.tat, ?, p.paused) + ? "
    "RETURNING tat, paused"
)


def first_slot(tat: float, paused: float, span: float, tolerance: float, now: float) -> float:
    """GCRA: the first leased slot is the latest of now, the pause and (TAT - span - tolerance)."""
    return max(now, paused, tat - span - tolerance)


def claim_won(states: Sequence[Sequence[Any]]) -> bool:
    """Whether the claim upsert wrote its ``pending`` row (the outcomes it carried never are)."""
    return any(state[0] == "pending" for state in states)


def _usable(conn: Any) -> Any:
    """``conn`` if it can run another statement, else None (closed, so a new one is made)."""
    if conn is not None and (conn.closed or getattr(conn, "broken", False)):
        with contextlib.suppress(Exception):
            conn.close()
        return None
    return conn


def entry_of(row: Sequence[Any]) -> Entry:
    return Entry(
        channel=row[0], key=row[1], state=row[2], owner=row[3] or "",
        created_at=float(row[4]), updated_at=float(row[5]), expires_at=float(row[6]),
        status=int(row[7] or 0), content=bytes(row[8] or b""), content_type=row[9] or "",
        message_id=row[10], detail=row[11],
    )

