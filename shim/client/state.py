"""State the shim shares between processes: keys, outcomes, pacing budgets, media owners.

One process keeps it in memory (:class:`MemoryStateStore`, the default). A
fleet (``serve --workers N``, several gateways, a gateway and the relay) points
every member at one store: SQLite (one machine, one WAL file) or PostgreSQL
(several machines), opened by :func:`open_state` from a ``[state] url``.

Idempotency ledger, one row per (channel, key):

* ``pending``: claimed by ``owner`` until ``lease_until``; the send is on its
  way. Another caller with the key waits for it; a claim whose lease ran out
  (its owner died mid-send) turns ``unknown``, never back into "send".
* ``ok``: a success; its On-Prem response is replayed until ``expires_at``.
* ``unknown``: sent, fate unknown. Never resent; answered 504 with the key
  until a status webhook settles it (or the caller forces a resend).
* ``happened`` / ``failed``: settled by the relay from a status webhook
  (``sent``/``delivered``/``read`` vs ``failed``), with the wamid or the error.

A definite failure (the backend refused, nothing was sent) deletes the row,
so a retry with the key sends again.

Pacing: a shared GCRA timeline per channel. An instance takes a *lease* on a
few consecutive slots at once (:meth:`take_slots`), so the store is hit once
per chunk, not once per message; slots a dead instance leased simply pass.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

__all__ = [
    "DEFAULT_OUTCOME_TTL",
    "STATES",
    "Claim",
    "Entry",
    "MemoryStateStore",
    "SlotRequest",
    "StateStore",
    "open_state",
]

State = Literal["pending", "ok", "unknown", "happened", "failed"]
STATES: Final = ("pending", "ok", "unknown", "happened", "failed")
#: States a status webhook may still settle.
OPEN_STATES: Final = ("pending", "unknown")
#: Completed outcomes are replayed this long (seconds) unless configured otherwise.
DEFAULT_OUTCOME_TTL: Final = 24 * 3600.0
#: A pacing timeline whose TAT and pause lie this far (seconds) in the past is dropped:
#: it gives the same slots as none, and each recipient paced once would otherwise stay
#: forever. The margin covers clocks of a fleet's machines that disagree.
TIMELINE_IDLE: Final = 60.0
#: The memory store looks for idle timelines every this many slot leases.
TIMELINE_PRUNE_TAKES: Final = 4096


@dataclass(frozen=True, slots=True)
class Entry:
    """One key of the ledger (see the module docstring for the states)."""

    channel: str
    key: str
    state: State
    owner: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    #: pending: the claim's lease; other states: when the row may be forgotten
    expires_at: float = 0.0
    status: int = 0
    content: bytes = b""
    content_type: str = "application/json"
    message_id: str | None = None
    #: why the outcome is unknown, or the error a ``failed`` status carried (JSON text)
    detail: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "key": self.key,
            "state": self.state,
            "message_id": self.message_id,
            "status": self.status or None,
            "detail": self.detail,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """Slots to lease with a claim, in the same round trip (see :meth:`StateStore.take_slots`)."""

    name: str
    count: int
    interval: float
    tolerance: float = 0.0


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to :meth:`StateStore.claim`: ours to send, or someone's entry."""

    won: bool
    entry: Entry | None = None
    #: the first slot leased with the claim (when one was asked for; SQLite leases none
    #: for a claim that lost, the others do)
    slot: float | None = None


class StateStore(Protocol):
    """What the router, the gateway and the relay share (all methods are thread-safe)."""

    #: True when other processes see the same state (SQLite file, PostgreSQL).
    shared: bool
    #: Where the state lives, with any password masked (for logs and /healthz).
    where: str

    # -- idempotency ledger -------------------------------------------------

    def claim(self, channel: str, key: str, owner: str, lease_s: float,
              now: float, pace: SlotRequest | None = None) -> Claim:
        """Take ``key`` for one send, atomically; or return the entry already there.

        An expired ``pending`` claim is turned into ``unknown`` first (its
        owner may have sent), and completed rows past ``expires_at`` are
        forgotten (the key is free again). ``pace``: also lease slots, in
        the same round trip (``Claim.slot``).
        """

    def get(self, channel: str, key: str) -> Entry | None: ...

    def find(self, key: str) -> list[Entry]:
        """``key`` on every channel that holds it."""

    def complete(self, entry: Entry, *, wait: bool = True) -> None:
        """Record the outcome of a send we claimed (``ok`` or ``unknown``); upsert.

        ``wait=False``: queue the write and return (see ``state_sql``).
        """

    def release(self, channel: str, key: str, owner: str, *, wait: bool = True) -> None:
        """Forget our claim: the call failed for sure, a retry may send again."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued writes landed; False if that took over ``timeout``."""

    def forget(self, channel: str, key: str) -> bool:
        """Drop a key whatever its state (an explicit ``force`` resend); True if it was there."""

    def settle(self, channel: str, key: str, *, happened: bool, message_id: str | None,
               detail: str | None, now: float, ttl: float) -> bool:
        """A status webhook told what became of ``key``; True if an open key was settled."""

    def entries(self, states: Sequence[str] = (), limit: int = 1000) -> list[Entry]:
        """Ledger rows, oldest first (all states when ``states`` is empty)."""

    def prune(self, now: float) -> int:
        """Forget completed rows past ``expires_at`` (unknown keys are kept), and pacing
        timelines idle since ``TIMELINE_IDLE`` seconds before ``now``."""

    # -- media ownership ------------------------------------------------------

    def record_media(self, media_id: str, channel: str, now: float) -> None: ...

    def media_owner(self, media_id: str) -> str | None: ...

    # -- pacing -----------------------------------------------------------------

    def take_slots(self, name: str, count: int, interval: float, now: float,
                   tolerance: float = 0.0) -> float:
        """Lease ``count`` consecutive slots ``interval`` apart on ``name``'s timeline.

        Returns the first slot's time (wall clock); the others follow at
        ``interval``. A slot nobody used by its time is gone. ``tolerance``
        lets that many seconds of slots be taken early (a GCRA burst).
        """

    def pause(self, name: str, until: float) -> None:
        """No slot on ``name``'s timeline before ``until`` (the backend said: slow down)."""

    def timelines(self) -> int:
        """Pacing timelines kept (one per channel and recipient recently paced)."""

    def close(self) -> None: ...


class MemoryStateStore:
    """The state of one process: bounded LRU maps and in-process timelines."""

    shared = False
    where = "memory"

    def __init__(self, max_entries: int = 50_000, max_media: int = 100_000) -> None:
        if max_entries < 1 or max_media < 1:
            raise ValueError("max_entries and max_media must be at least 1")
        self.max_entries = max_entries
        self.max_media = max_media
        self._rows: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._media: OrderedDict[str, str] = OrderedDict()
        self._tat: dict[str, float] = {}
        self._paused: dict[str, float] = {}
        self._takes = 0
        self._lock = threading.Lock()

    def _put(self, entry: Entry) -> None:
        ident = (entry.channel, entry.key)
        self._rows[ident] = entry
        self._rows.move_to_end(ident)
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)

    def claim(self, channel: str, key: str, owner: str, lease_s: float, now: float,
              pace: SlotRequest | None = None) -> Claim:
        slot = None
        if pace is not None:
            slot = self.take_slots(pace.name, pace.count, pace.interval, now, pace.tolerance)
        with self._lock:
            found = self._rows.get((channel, key))
            if found is not None:
                found = _aged(found, now)
                if found is None:
                    del self._rows[(channel, key)]
                else:
                    self._rows[(channel, key)] = found
                    return Claim(False, found, slot)
            self._put(Entry(channel, key, "pending", owner, now, now, now + lease_s))
            return Claim(True, slot=slot)

    def get(self, channel: str, key: str) -> Entry | None:
        with self._lock:
            return self._rows.get((channel, key))

    def find(self, key: str) -> list[Entry]:
        with self._lock:
            return [e for (_, k), e in self._rows.items() if k == key]

    def complete(self, entry: Entry, *, wait: bool = True) -> None:
        with self._lock:
            found = self._rows.get((entry.channel, entry.key))
            if found is None or found.state in OPEN_STATES or entry.state == "ok":
                self._put(entry)  # a key a status webhook settled stays settled

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def release(self, channel: str, key: str, owner: str, *, wait: bool = True) -> None:
        with self._lock:
            found = self._rows.get((channel, key))
            if found is not None and found.state == "pending" and found.owner == owner:
                del self._rows[(channel, key)]

    def forget(self, channel: str, key: str) -> bool:
        with self._lock:
            return self._rows.pop((channel, key), None) is not None

    def settle(self, channel: str, key: str, *, happened: bool, message_id: str | None,
               detail: str | None, now: float, ttl: float) -> bool:
        with self._lock:
            found = self._rows.get((channel, key))
            if found is None or found.state not in OPEN_STATES:
                return False
            self._put(replace(found, state="happened" if happened else "failed",
                              message_id=message_id or found.message_id, detail=detail,
                              updated_at=now, expires_at=now + ttl))
            return True

    def entries(self, states: Sequence[str] = (), limit: int = 1000) -> list[Entry]:
        with self._lock:
            rows = [e for e in self._rows.values() if not states or e.state in states]
        return sorted(rows, key=lambda e: (e.created_at, e.channel, e.key))[:limit]

    def prune(self, now: float) -> int:
        with self._lock:
            old = [k for k, e in self._rows.items()
                   if e.state not in OPEN_STATES and e.expires_at <= now]
            for k in old:
                del self._rows[k]
            self._drop_idle_timelines(now)
            return len(old)

    def _drop_idle_timelines(self, now: float) -> None:
        """(Lock held.) A timeline whose TAT and pause are past is the same as none."""
        idle = now - TIMELINE_IDLE
        for name in [n for n, tat in self._tat.items()
                     if tat <= idle and self._paused.get(n, idle) <= idle]:
            del self._tat[name]
            self._paused.pop(name, None)
        for name in [n for n, until in self._paused.items()
                     if until <= idle and n not in self._tat]:
            del self._paused[name]

    def record_media(self, media_id: str, channel: str, now: float) -> None:
        with self._lock:
            self._media[media_id] = channel
            self._media.move_to_end(media_id)
            while len(self._media) > self.max_media:
                self._media.popitem(last=False)

    def media_owner(self, media_id: str) -> str | None:
        with self._lock:
            return self._media.get(media_id)

    def take_slots(self, name: str, count: int, interval: float, now: float,
                   tolerance: float = 0.0) -> float:
        with self._lock:
            tat = self._tat.get(name, now)
            paused = self._paused.get(name, now)
            first = max(now, tat - tolerance, paused)
            self._tat[name] = max(tat, first) + count * interval
            self._takes += 1
            if self._takes >= TIMELINE_PRUNE_TAKES:
                self._takes = 0
                self._drop_idle_timelines(now)
            return first

    def pause(self, name: str, until: float) -> None:
        with self._lock:
            self._paused[name] = max(self._paused.get(name, until), until)

    def timelines(self) -> int:
        with self._lock:
            return len(self._tat.keys() | self._paused.keys())

    def close(self) -> None:
        pass


def _aged(entry: Entry, now: float) -> Entry | None:
    """``entry`` as it stands at ``now``: expired claims are unknown, old outcomes gone."""
    if entry.state == "pending":
        if entry.expires_at > now:
            return entry
        return replace(entry, state="unknown", updated_at=now, expires_at=0.0,
                       detail="the process that claimed this key stopped before it recorded "
                              "an outcome; the send may have gone out")
    if entry.state != "unknown" and entry.expires_at <= now:
        return None
    return entry


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def mask_url(url: str) -> str:
    """``url`` with any password replaced, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    return f"{scheme}://{auth.partition(':')[0]}:***@{host}"


def open_state(url: str | None) -> StateStore:
    """The store ``url`` names: ``memory`` (or None), ``sqlite:///PATH``, ``postgresql://...``,
    or ``env:NAME`` (the variable holds one of them)."""
    if url is not None and url.startswith("env:"):
        value = os.environ.get(url[4:])
        if not value:
            raise ValueError(f"environment variable {url[4:]} (the state URL) is not set")
        url = value
    if url is None or url in ("", "memory", "memory://"):
        return MemoryStateStore()
    if url.startswith("sqlite:"):
        from shim.client.state_sqlite import SQLiteStateStore

        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute/path.db
        path = url.removeprefix("sqlite:///")
        if path == url or not path:
            raise ValueError("a sqlite state URL names a file: sqlite:///relative/state.db "
                             "or sqlite:////absolute/state.db")
        return SQLiteStateStore(path)
    if is_postgres_url(url):
        from shim.client.state_postgres import PostgresStateStore

        return PostgresStateStore(url)
    raise ValueError(
        "a state URL is memory, sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def wall_clock() -> float:
    return time.time()
