"""The SQL both shared state stores run; the dialects differ in DDL, placeholders and GREATEST.

Every operation is one or two autocommitted statements, so no lock is held
across statements; races between statements are benign (the second one
re-checks the state it changes). A claim can take a pacing slot in the same
round trip (:meth:`SQLStateStore.claim` with ``pace``).

Recording an outcome need not delay the caller's answer: ``complete`` and
``release`` with ``wait=False`` queue the write for a writer thread with its
own connection, which commits whatever queued up in one transaction. Until
it lands, the key is still ``pending`` under our claim: a retry with the key
waits for it, and if the process dies first the claim's lease runs out and
the key turns ``unknown``. Never a second send either way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from shim.client.state import OPEN_STATES, Claim, Entry, SlotRequest

log = logging.getLogger("shim.client.state")

__all__ = ["MEDIA_TTL", "SQLStateStore"]

#: Cloud media ids are valid for 30 days; ownership is kept as long.
MEDIA_TTL: Final = 30 * 24 * 3600.0
#: The outcome writer waits this long (seconds) after the first queued write.
WRITE_LINGER: Final = 0.005
#: Forget expired rows at most this often (seconds).
PRUNE_EVERY: Final = 600.0

COLUMNS: Final = ("channel, key, state, owner, created_at, updated_at, expires_at, status, "
                  "content, content_type, message_id, detail")

_UNKNOWN_DETAIL: Final = ("the process that claimed this key stopped before it recorded an "
                          "outcome; the send may have gone out")


class SQLStateStore:
    """Ledger, media owners and pacing timelines in SQL tables prefixed ``wm_``."""

    shared = True
    where = ""
    #: the dialect's n-ary maximum ("max" in SQLite, "GREATEST" in PostgreSQL)
    greatest = "max"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_prune = 0.0
        self._queue: list[tuple[str, tuple[Any, ...]]] = []
        self._queued = threading.Condition()
        self._writer: threading.Thread | None = None
        self._busy = False
        self._closing = False

    # -- dialect ---------------------------------------------------------------

    def q(self, sql: str) -> str:
        return sql

    def _connect(self) -> Any:
        """A new autocommit connection (the writer thread opens its own)."""
        raise NotImplementedError

    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
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
        self._maybe_prune(now)
        won, slot = self._insert_claim(
            self.q(CLAIM), (channel, key, owner, now, now, now + lease_s, b"", now), pace, now
        )
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

    def _insert_claim(self, sql: str, params: tuple[Any, ...], pace: SlotRequest | None,
                      now: float) -> tuple[bool, float | None]:
        """Insert the claim (and take the slot) in one transaction; (won, first slot)."""
        if pace is None:
            return bool(self._run(sql, params)), None
        with self._lock, self._transaction(self._conn):
            cur = self._execute(self._conn, sql, params)
            won = bool(cur.fetchall())
            slot = self._take(self._conn, pace, now) if pace is not None else None
        return won, slot

    def get(self, channel: str, key: str) -> Entry | None:
        rows = self._run(self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE channel = ? AND key = ?"),
                         (channel, key))
        return _entry(rows[0]) if rows else None

    def find(self, key: str) -> list[Entry]:
        return [_entry(row) for row in self._run(
            self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE key = ? ORDER BY channel"), (key,))]

    def complete(self, entry: Entry, *, wait: bool = True) -> None:
        params = (entry.channel, entry.key, entry.state, entry.owner, entry.created_at,
                  entry.updated_at, entry.expires_at, entry.status, entry.content,
                  entry.content_type, entry.message_id, entry.detail)
        if wait:
            self._count(self.q(COMPLETE), params)
        else:
            self._later(COMPLETE, params)

    def release(self, channel: str, key: str, owner: str, *, wait: bool = True) -> None:
        if wait:
            self._count(self.q(RELEASE), (channel, key, owner))
        else:
            self._later(RELEASE, (channel, key, owner))

    # -- write-behind -------------------------------------------------------------

    def _later(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._queued:
            self._queue.append((sql, params))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_behind, daemon=True,
                                                name="waba-state-writer")
                self._writer.start()
            if len(self._queue) == 1:  # the writer sleeps only while the queue is empty
                self._queued.notify()

    #: The writer thread opens its own connection (PostgreSQL); SQLite shares the
    #: main one under the lock, since a second connection would only wait on the file lock.
    own_writer_connection = True

    def _write_batch(self, conn: Any, batch: list[tuple[str, tuple[Any, ...]]]) -> Any:
        if not self.own_writer_connection:
            with self._lock, self._transaction(self._conn):
                for sql, params in batch:
                    self._execute(self._conn, self.q(sql), params)
            return None
        conn = conn or self._connect()
        with self._transaction(conn):
            for sql, params in batch:
                self._execute(conn, self.q(sql), params)
        return conn

    def _write_behind(self) -> None:
        conn: Any = None
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    self._queued.wait()
                if not self._queue:
                    break
                self._busy = True
            if not self._closing:
                time.sleep(WRITE_LINGER)  # let a batch gather: one commit for many outcomes
            with self._queued:
                batch, self._queue = self._queue, []
            try:
                conn = self._write_batch(conn, batch)
            except Exception as exc:  # the claims' leases run out: those keys turn unknown
                log.error("could not record %d outcome(s) in %s: %s", len(batch), self.where, exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            with self._queued:
                self._busy = False
                self._queued.notify_all()
        if conn is not None:
            conn.close()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued outcomes are written; False if that took over ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._queued:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queued.wait(left)
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
        return [_entry(row) for row in self._run(self.q(sql), params)]

    def prune(self, now: float) -> int:
        states = ", ".join(f"'{s}'" for s in OPEN_STATES)
        n = self._count(self.q(f"DELETE FROM wm_keys WHERE state NOT IN ({states}) "
                               "AND expires_at <= ?"), (now,))
        self._count(self.q("DELETE FROM wm_media WHERE created_at <= ?"), (now - MEDIA_TTL,))
        return n

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < PRUNE_EVERY:
            return
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
        with self._lock:
            return self._take(self._conn, SlotRequest(name, count, interval, tolerance), now)

    def _take(self, conn: Any, pace: SlotRequest, now: float) -> float:
        span = pace.count * pace.interval
        rows = self._execute(conn, self.q(TAKE.format(g=self.greatest)),
                             (pace.name, now + span, now, span)).fetchall()
        return first_slot(float(rows[0][0]), float(rows[0][1]), span, pace.tolerance, now)

    def pause(self, name: str, until: float) -> None:
        g = self.greatest
        self._count(self.q(
            "INSERT INTO wm_pace AS p (name, tat, paused) VALUES (?, 0, ?) "
            f"ON CONFLICT (name) DO UPDATE SET paused = {g}(p.paused, excluded.paused)"
        ), (name, until))

    def close(self) -> None:
        self.flush()
        with self._queued:
            self._closing = True
            self._queued.notify_all()
        if self._writer is not None:
            self._writer.join(10)
        with self._lock:
            self._conn.close()


CLAIM: Final = (
    "INSERT INTO wm_keys AS k (channel, key, state, owner, created_at, updated_at, "
    "expires_at, status, content, content_type) VALUES (?, ?, 'pending', ?, ?, ?, ?, 0, "
    "?, 'application/json') ON CONFLICT (channel, key) DO UPDATE SET state = 'pending', "
    "owner = excluded.owner, created_at = excluded.created_at, updated_at = "
    "excluded.updated_at, expires_at = excluded.expires_at, status = 0, content = "
    "excluded.content, message_id = NULL, detail = NULL "
    "WHERE k.state NOT IN ('pending', 'unknown') AND k.expires_at <= ? RETURNING owner"
)

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


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        channel=row[0], key=row[1], state=row[2], owner=row[3] or "",
        created_at=float(row[4]), updated_at=float(row[5]), expires_at=float(row[6]),
        status=int(row[7] or 0), content=bytes(row[8] or b""), content_type=row[9] or "",
        message_id=row[10], detail=row[11],
    )

