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
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from shim.client.core import RequestOptions, Router
from shim.client.errors import ApiError
from shim.client.idempotency import new_key
from shim.client.pacing import recipient_key
from shim.client.response import ShimResponse

__all__ = ["BulkMessage", "SendResult", "default_concurrency", "plan_bulk", "result_of"]

MAX_CONCURRENCY: Final = 32
MIN_CONCURRENCY: Final = 4


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
class _Item:
    index: int
    body: Mapping[str, Any]
    key: str
    ready_at: float
    #: index of the previous message to the same recipient (sent first), if any
    after: int | None


def default_concurrency(mps: int) -> int:
    """Enough sends in flight to hold the rate at ~20 ms per round trip, no more.

    More in-flight requests than that only add connections and scheduling
    overhead (httpx's pool and the GIL), which lowers throughput.
    """
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, math.ceil(mps / 50)))


def plan_bulk(
    router: Router, channel: str, messages: Iterable[Mapping[str, Any] | BulkMessage]
) -> list[_Item]:
    """Reserve pair slots in input order; return the items in send order."""
    pair = router.pair_limiter(channel)
    now = router.clock()
    items: list[_Item] = []
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
        items.append(_Item(index, body, key or new_key(), now + wait, after))
    items.sort(key=lambda item: item.ready_at)  # stable: input order among equals
    return items


def options_for(item: _Item) -> RequestOptions:
    return RequestOptions(idempotency_key=item.key, pace_pair=False)


def result_of(item: _Item, response: ShimResponse) -> SendResult:
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
