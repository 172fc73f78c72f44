"""Idempotency keys: one per logical send, reused across retries, echoed by Cloud.

The Cloud messages endpoint has no server-side idempotency, so the shim keeps
its own: every non-repeatable call gets a key (the caller's ``Idempotency-Key``
header or helper argument, else a fresh one) that is set once before the retry
loop. On Cloud sends the key also travels as ``biz_opaque_callback_data``, which
Meta echoes in status webhooks, so an outcome-unknown send can be reconciled
(the relay sees ``sent``/``failed`` for that key, or nothing).

Decision: when the caller already set ``biz_opaque_callback_data`` and gave no
explicit key, that value *is* the key (it is what the webhooks will carry); an
explicit key never overwrites the caller's own callback data.

A client-side store maps key -> the On-Prem response of a completed call:
calling again with a key that already succeeded returns the stored response
instead of sending twice (Stripe-style). Outcome-unknown keys are remembered as
such and can be settled with :meth:`MemoryIdempotencyStore.record` once a status
webhook arrives.
"""

from __future__ import annotations

import os
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from shim.mapping.limits import MAX_CALLBACK_DATA

__all__ = [
    "CALLBACK_FIELD",
    "IDEMPOTENCY_HEADERS",
    "MAX_CALLBACK_DATA",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "StoredOutcome",
    "key_from",
    "new_key",
    "stamp_callback_data",
]

#: Request headers a caller may carry its own key in (first found wins).
IDEMPOTENCY_HEADERS: Final = ("Idempotency-Key", "X-Idempotency-Key")
CALLBACK_FIELD: Final = "biz_opaque_callback_data"
KEY_PREFIX: Final = "wm-"


# Keys must be unique, not secret: a PRNG seeded from the OS (and reseeded in
# forked children) is enough, and much cheaper per send than os.urandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)


def new_key() -> str:
    """A fresh key: 128 random bits, URL-safe, recognisably ours in webhook data."""
    return f"{KEY_PREFIX}{_rng.getrandbits(128):032x}"


def key_from(header: Callable[[str], str | None], body: Any) -> tuple[str | None, str]:
    """(explicit key or None, where it came from) from request headers / body.

    ``header`` looks a request header up by name, case-insensitively.
    """
    for name in IDEMPOTENCY_HEADERS:
        value = header(name)
        if value:
            return str(value), f"header {name}"
    if isinstance(body, dict):
        data = body.get(CALLBACK_FIELD)
        if isinstance(data, str) and data:
            return data, f"$.{CALLBACK_FIELD}"
    return None, ""


def stamp_callback_data(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The Cloud send body carrying ``key`` as callback data (caller's own data kept)."""
    if CALLBACK_FIELD in body:
        return body
    return {**body, CALLBACK_FIELD: key}


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """What became of a keyed call: its On-Prem response, or "unknown"."""

    state: Literal["ok", "unknown"]
    status: int = 0
    content: bytes = b""
    content_type: str = "application/json"
    message_id: str | None = None


class IdempotencyStore(Protocol):
    """Where outcomes of keyed calls are kept (swap in Redis/SQL for many workers)."""

    def get(self, channel: str, key: str) -> StoredOutcome | None: ...

    def put(self, channel: str, key: str, outcome: StoredOutcome) -> None: ...


class MemoryIdempotencyStore:
    """A bounded, thread-safe LRU of outcomes (per process)."""

    def __init__(self, max_entries: int = 50_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, str], StoredOutcome] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, channel: str, key: str) -> StoredOutcome | None:
        with self._lock:
            found = self._data.get((channel, key))
            if found is not None:
                self._data.move_to_end((channel, key))
            return found

    def put(self, channel: str, key: str, outcome: StoredOutcome) -> None:
        with self._lock:
            self._data[(channel, key)] = outcome
            self._data.move_to_end((channel, key))
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def record(self, channel: str, key: str, message_id: str) -> None:
        """Settle a key from a status webhook: the send did go out as ``message_id``."""
        import json

        body = json.dumps({"messages": [{"id": message_id}]}, separators=(",", ":")).encode()
        self.put(channel, key, StoredOutcome("ok", 200, body, message_id=message_id))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
