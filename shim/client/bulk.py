"""``send_many``: many sends on one channel, paced, with one result per message.

Pacing is split so no worker idles behind a busy recipient: pair-rate slots
for *all* messages are reserved up front, in input order, and the messages are
worked off in the order their slots come free. Messages to one recipient are
also sent one after the other (each waits for the answer to the previous one),
so a burst to one user arrives in input order. The channel's rate limiter is
taken per send inside the plan, so the channel never exceeds its mps.
Retries, outcome-unknown handling and idempotency work exactly as for single
sends: each message gets its own key (the caller's, or a generated one) sent
as ``biz_opaque_callback_data``.

How many sends are in flight adapts to the backend (:class:`Workforce`): the
channel rate times the backend's observed round trip, with headroom. Loopback
needs a handful of workers; 1,000 msg/s to Graph at ~250 ms needs a few hundred. Too
many workers on a fast backend only add GIL and pool contention, too few on a
slow one cap the rate below the limit.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from shim.client.core import RequestOptions, Router
from shim.client.errors import ApiError
from shim.client.idempotency import new_key
from shim.client.pacing import recipient_key
from shim.client.response import ShimResponse

__all__ = [
    "BulkMessage",
    "Queued",
    "SendResult",
    "Workforce",
    "default_concurrency",
    "plan_bulk",
    "result_of",
]

MAX_CONCURRENCY: Final = 256
MIN_CONCURRENCY: Final = 4
#: In-flight sends = rate x round trip x this (room for the round trip's spread).
HEADROOM: Final = 3.0
#: Answers seen (with the minimum of workers) before the worker count moves.
CALIBRATION: Final = 16


@dataclass(frozen=True, slots=True)
class BulkMessage:
    """An On-Prem send body, optionally with its own idempotency key."""

    body: Mapping[str, Any]
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one message of a ``send_many`` batch."""

    index: int
    to: str | None
    message_id: str | None
    status_code: int
    idempotency_key: str | None
    outcome_unknown: bool = False
    error_code: int | None = None
    error: str | None = None
    response: ShimResponse | None = None

    @property
    def ok(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True, slots=True)
class Queued:
    """A message waiting in a ``send_many`` batch."""

    index: int
    body: Mapping[str, Any]
    key: str
    ready_at: float
    #: index of the previous message to the same recipient (sent first), if any
    after: int | None


def default_concurrency(mps: int, round_trip_s: float) -> int:
    """Sends to keep in flight to hold ``mps`` at ``round_trip_s`` per send."""
    wanted = math.ceil(mps * round_trip_s * HEADROOM) + 1
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, wanted))


class Workforce:
    """Hands out items to workers and says when to add or retire one.

    Thread-safe and free of I/O, so the thread-based and the task-based
    ``send_many`` share it; they only differ in how a worker is started.
    ``fixed`` pins the number of workers (the caller's ``concurrency=``).
    """

    def __init__(self, items: list[Queued], mps: int, fixed: int | None = None) -> None:
        self._cursor: Iterator[Queued] = iter(items)
        self._left = len(items)  # not yet handed out
        self.mps = mps
        self.fixed = fixed
        self._min_round_trip = math.inf
        self._answers = 0
        self._wanted = MIN_CONCURRENCY  # until calibrated
        self._running = 0
        self._stopped = False
        self._lock = threading.Lock()

    def wanted(self) -> int:
        if self.fixed is not None:
            return max(1, self.fixed)
        return self._wanted

    def hire(self) -> int:
        """How many workers to start now (the caller starts exactly that many)."""
        with self._lock:
            extra = max(0, min(self.wanted(), self._left) - self._running)
            self._running += extra
            return extra

    def next_item(self) -> Queued | None:
        """The worker's next item, or None: it should stop (done, or too many workers)."""
        with self._lock:
            if self._stopped or self._running > self.wanted() or self._left == 0:
                self._running -= 1
                return None
            self._left -= 1
            return next(self._cursor)

    def quit(self) -> None:
        """A worker stops early because it raised: everyone stops taking items."""
        with self._lock:
            self._running -= 1
            self._stopped = True

    def observe(self, response: ShimResponse) -> None:
        """Learn the backend's round trip from an answer (exchange time, not pacing waits).

        The estimate is the *minimum* round trip seen, taken once the first
        answers (new connections included) are in. Queueing we cause ourselves
        (GIL, CPU, pool) inflates every other statistic and would ask for ever
        more workers, a feedback loop that collapses throughput; a minimum
        cannot be pushed up by it (BBR's min-RTT idea). A backend that slows
        down later is not followed: pass ``concurrency=`` for such cases.
        """
        if response.elapsed > 0 and response.attempts:
            with self._lock:
                self._answers += 1
                self._min_round_trip = min(
                    self._min_round_trip, response.elapsed / response.attempts
                )
                if self._answers >= CALIBRATION:
                    self._wanted = default_concurrency(self.mps, self._min_round_trip)


def plan_bulk(
    router: Router, channel: str, messages: Iterable[Mapping[str, Any] | BulkMessage]
) -> list[Queued]:
    """Reserve pair slots in input order; return the items in send order."""
    pair = router.pair_limiter(channel)
    now = router.clock()
    items: list[Queued] = []
    last: dict[str, int] = {}
    for index, message in enumerate(messages):
        if isinstance(message, BulkMessage):
            body, key = message.body, message.idempotency_key
        else:
            body, key = message, None
        to = body.get("to") if isinstance(body, Mapping) else None
        after = None
        wait = 0.0
        if isinstance(to, str):
            wait = pair.reserve(to)
            after = last.get(recipient_key(to))
            last[recipient_key(to)] = index
        items.append(Queued(index, body, key or new_key(), now + wait, after))
    items.sort(key=lambda item: item.ready_at)  # stable: input order among equals
    return items


def options_for(item: Queued) -> RequestOptions:
    return RequestOptions(idempotency_key=item.key, pace_pair=False)


def result_of(item: Queued, response: ShimResponse) -> SendResult:
    to = item.body.get("to")
    to = to if isinstance(to, str) else None
    if response.is_success:
        message_id = None
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("messages"), list) and body["messages"]:
            first = body["messages"][0]
            message_id = first.get("id") if isinstance(first, dict) else None
        return SendResult(
            item.index,
            to,
            message_id,
            response.status_code,
            response.idempotency_key or item.key,
            response=response,
        )
    if response.outcome_unknown:
        return SendResult(
            item.index,
            to,
            None,
            response.status_code,
            response.idempotency_key or item.key,
            outcome_unknown=True,
            error=response.outcome_detail,
            response=response,
        )
    err = ApiError(response)
    return SendResult(
        item.index,
        to,
        None,
        response.status_code,
        response.idempotency_key or item.key,
        error_code=err.code,
        error=str(err),
        response=response,
    )


def want_progress(progress: bool | None) -> bool:
    """Show a bar only on a terminal unless told otherwise."""
    if progress is not None:
        return progress
    return sys.stderr.isatty()


class Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
