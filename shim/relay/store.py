"""What the relay keeps durably, and the interface every store offers.

Two tables. ``relay_events``: every acknowledged POST, raw bytes, committed
before the 200 (state ``new`` until the worker has split it), with the other
channels whose credentials also accepted it (``peers``). ``relay_deliveries``:
one row per item to forward, its body as UTF-8 bytes (state ``pending`` ->
``inflight`` -> ``done``, or ``dead`` after the max age, when it cannot be
stored, or when it was refused); a unique (channel, dedupe_key) drops
redeliveries, and ``channel`` is always a channel that authenticated the POST.
A delivery may go out only while no earlier delivery of the same conversation
is pending or in flight, so each conversation keeps its order and a failing
one holds back nobody else.

That rule is kept as a flag, not a query: ``head`` is 1 on exactly the oldest
active delivery of each conversation (set on insert when the conversation has
nothing active, passed on when the head is done or dead). Claims read a
partial index over pending heads ordered by due time, so their cost does not
grow with the number of deliveries waiting behind the heads (an app outage
queues them up by the hundred thousand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from shim.relay.dedupe import Item

__all__ = [
    "DeadLetter",
    "Delivery",
    "Outcome",
    "QueueStats",
    "Split",
    "Step",
    "Store",
    "open_store",
]

#: Turns a stored raw event into deliveries; raises on bad input. Arguments: the
#: channel whose URL received it, the raw body, and the other channels whose
#: credentials also accepted the POST (the only ones it may be routed to).
Split = Callable[[str, bytes, tuple[str, ...]], list[Item]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: POST ``body`` (On-Prem JSON, UTF-8) to the channel's forward URL."""

    id: int
    channel: str
    conv_key: str
    dedupe_key: str | None
    phone_number_id: str | None
    body: bytes
    attempts: int
    created_at: float
    #: Until when this claim is ours; after that the store hands the item out again.
    lease_until: float = float("inf")
    #: Sent as ``X-Waba-Migrate-Delivery-Id``: the same on every attempt and replay.
    uid: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one delivery attempt: ``done`` at ``at``, ``pending`` again from
    ``at`` (a retry), or ``dead`` since ``at``."""

    state: Literal["done", "pending", "dead"]
    at: float
    error: str | None = None
    #: False when the item was put back without being sent (its attempt is not counted).
    attempted: bool = True

    @classmethod
    def done(cls, now: float) -> Outcome:
        return cls("done", now)

    @classmethod
    def retry(cls, next_at: float, error: str) -> Outcome:
        return cls("pending", next_at, error)

    @classmethod
    def defer(cls, next_at: float, error: str) -> Outcome:
        return cls("pending", next_at, error, attempted=False)

    @classmethod
    def dead(cls, now: float, error: str) -> Outcome:
        return cls("dead", now, error)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery given up on (``kind`` "body"), an event that could not be split or
    stored ("event"), or an item refused for its channel ("refused", never replayed)."""

    id: int
    event_id: int | None
    channel: str
    kind: str
    dedupe_key: str | None
    attempts: int
    created_at: float
    failed_at: float | None
    last_error: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Step:
    """What one worker round trip did: ``expanded`` events split, deliveries ``claimed``,
    and when the next pending head or lease comes due (None: nothing active, or not
    looked up because the claim was full and more may be due at once). A shared
    store leaves leases out (its callers poll: other instances add work anyway)."""

    expanded: int
    claimed: list[Delivery]
    next_due: float | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending_deliveries: int
    new_events: int
    dead_letters: int
    oldest_pending_at: float | None
    #: Dead letters by (channel, kind, count).
    dead_by: tuple[tuple[str, str, int], ...] = ()

    @property
    def refused(self) -> int:
        return sum(n for _, kind, n in self.dead_by if kind == "refused")

    @property
    def queue_depth(self) -> int:
        return self.pending_deliveries + self.new_events


class Store(Protocol):  # pragma: no mutate block
    """Durable queue behind the relay; see ``SQLiteStore`` and ``PostgresStore``.

    Only a type: its method bodies never run, and the stores carry their own
    defaults (so the mutation check leaves this class alone)."""

    #: True when several relay processes may share this store.
    shared: bool

    async def add_event(self, channel: str, body: bytes, received_at: float,
                        peers: Sequence[str] = ()) -> None:
        """Commit one raw event; returns only once it is durable. ``peers``: other
        channels whose credentials also accepted it."""

    async def expand(self, split: Split, limit: int) -> int:
        """Split up to ``limit`` new events into deliveries; returns how many events."""

    async def claim(self, limit: int, now: float, lease: float) -> list[Delivery]:
        """Take up to ``limit`` due conversation heads for ``lease`` seconds."""

    async def finish(self, delivery_id: int, outcome: Outcome, *, claim_next: int = 0,
                     now: float = 0.0, lease: float = 30.0) -> list[Delivery]:
        """Record an attempt's outcome and, in the same transaction, claim up to
        ``claim_next`` more (so a delivery slot costs one round trip per item)."""

    async def step(self, outcomes: Sequence[tuple[Delivery, Outcome]], split: Split | None, *,
                   expand: int, claim: int, now: float, lease: float) -> Step:
        """The worker's one round trip: record ``outcomes`` (each applies only while that
        claim is still in flight), split up to ``expand`` new events, claim up to ``claim``
        due heads, and say when the next one comes due; one transaction."""

    async def stats(self) -> QueueStats: ...

    async def prune(self, before: float) -> int:
        """Forget done deliveries and split events older than ``before`` (ends their dedupe)."""

    def dead_letters(self, ids: Sequence[int] = (), limit: int = 1000) -> list[DeadLetter]: ...

    def replay(self, ids: Sequence[int] = (), now: float = 0.0) -> int:
        """Queue dead letters again (all when ``ids`` is empty); returns how many.
        Refused items are never queued again."""

    def drop(self, ids: Sequence[int]) -> int:
        """Forget these dead letters (after review); returns how many."""

    def close(self) -> None: ...


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str, *, exclusive: bool = True, instance: str | None = None) -> Store:
    """The store ``db`` names: a PostgreSQL URL or a SQLite file path.

    ``exclusive``: a relay server owns a SQLite file alone (a second server on
    the same file is refused); admin commands (dlq) open it shared.
    ``instance``: a relay server's stable name on a shared PostgreSQL queue
    (its in-flight deliveries are taken back when it starts again).
    """
    if is_postgres(db):
        from shim.relay.store_postgres import PostgresStore

        return PostgresStore(db, instance=instance)
    from shim.relay.store_sqlite import SQLiteStore

    return SQLiteStore(db, exclusive=exclusive)
