"""The SQL both shared state stores run; the dialects differ in DDL, placeholders and GREATEST.

Every operation is one or two autocommitted statements, so a claim costs one
round trip and no lock is held across statements. Races between statements
are benign: the second statement re-checks the state it changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Final

from shim.client.state import OPEN_STATES, Claim, Entry

__all__ = ["MEDIA_TTL", "SQLStateStore"]

#: Cloud media ids are valid for 30 days; ownership is kept as long.
MEDIA_TTL: Final = 30 * 24 * 3600.0
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

    # -- dialect ---------------------------------------------------------------

    def q(self, sql: str) -> str:
        return sql

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one autocommitted statement; rows it returns (if any)."""
        raise NotImplementedError

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one autocommitted statement; rows it changed."""
        raise NotImplementedError

    # -- idempotency ledger -----------------------------------------------------

    def claim(self, channel: str, key: str, owner: str, lease_s: float, now: float) -> Claim:
        self._maybe_prune(now)
        won = self._run(self.q(
            "INSERT INTO wm_keys AS k (channel, key, state, owner, created_at, updated_at, "
            "expires_at, status, content, content_type) VALUES (?, ?, 'pending', ?, ?, ?, ?, 0, "
            "?, 'application/json') ON CONFLICT (channel, key) DO UPDATE SET state = 'pending', "
            "owner = excluded.owner, created_at = excluded.created_at, updated_at = "
            "excluded.updated_at, expires_at = excluded.expires_at, status = 0, content = "
            "excluded.content, message_id = NULL, detail = NULL "
            "WHERE k.state NOT IN ('pending', 'unknown') AND k.expires_at <= ? RETURNING owner"
        ), (channel, key, owner, now, now, now + lease_s, b"", now))
        if won:
            return Claim(True)
        # Someone holds it. A claim whose lease ran out becomes unknown, never "send again".
        self._count(self.q(
            "UPDATE wm_keys SET state = 'unknown', updated_at = ?, expires_at = 0, detail = ? "
            "WHERE channel = ? AND key = ? AND state = 'pending' AND expires_at <= ?"
        ), (now, _UNKNOWN_DETAIL, channel, key, now))
        found = self.get(channel, key)
        if found is None:  # released between our statements: try once more
            return self.claim(channel, key, owner, lease_s, now)
        return Claim(False, found)

    def get(self, channel: str, key: str) -> Entry | None:
        rows = self._run(self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE channel = ? AND key = ?"),
                         (channel, key))
        return _entry(rows[0]) if rows else None

    def find(self, key: str) -> list[Entry]:
        return [_entry(row) for row in self._run(
            self.q(f"SELECT {COLUMNS} FROM wm_keys WHERE key = ? ORDER BY channel"), (key,))]

    def complete(self, entry: Entry) -> None:
        self._count(self.q(
            f"INSERT INTO wm_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (channel, key) DO UPDATE SET state = excluded.state, owner = "
            "excluded.owner, updated_at = excluded.updated_at, expires_at = excluded.expires_at, "
            "status = excluded.status, content = excluded.content, content_type = "
            "excluded.content_type, message_id = excluded.message_id, detail = excluded.detail"
        ), (entry.channel, entry.key, entry.state, entry.owner, entry.created_at,
            entry.updated_at, entry.expires_at, entry.status, entry.content, entry.content_type,
            entry.message_id, entry.detail))

    def release(self, channel: str, key: str, owner: str) -> None:
        self._count(self.q("DELETE FROM wm_keys WHERE channel = ? AND key = ? "
                           "AND state = 'pending' AND owner = ?"), (channel, key, owner))

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
        span = count * interval
        g = self.greatest
        rows = self._run(self.q(
            "INSERT INTO wm_pace AS p (name, tat, paused) VALUES (?, ?, 0) "
            f"ON CONFLICT (name) DO UPDATE SET tat = {g}(p.tat, ?, p.paused) + ? "
            "RETURNING tat, paused"
        ), (name, now + span, now, span))
        tat, paused = float(rows[0][0]), float(rows[0][1])
        # GCRA: the first slot is the later of now, the pause and (new TAT - span - tolerance).
        return max(now, paused, tat - span - tolerance)

    def pause(self, name: str, until: float) -> None:
        g = self.greatest
        self._count(self.q(
            "INSERT INTO wm_pace AS p (name, tat, paused) VALUES (?, 0, ?) "
            f"ON CONFLICT (name) DO UPDATE SET paused = {g}(p.paused, excluded.paused)"
        ), (name, until))

    def close(self) -> None:
        raise NotImplementedError


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        channel=row[0], key=row[1], state=row[2], owner=row[3] or "",
        created_at=float(row[4]), updated_at=float(row[5]), expires_at=float(row[6]),
        status=int(row[7] or 0), content=bytes(row[8] or b""), content_type=row[9] or "",
        message_id=row[10], detail=row[11],
    )


def now() -> float:
    return time.time()
