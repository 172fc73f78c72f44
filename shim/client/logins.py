"""Tokens the in-process router mints for ``POST /v1/users/login``.

Self-hosted On-Prem code logs in before it sends. Cloud has no login, so the
in-process router (never the gateway) answers it itself with an opaque random
token for the channel the call was routed to, and remembers the token in
memory so a later ``Authorization: Bearer <token>`` routes to that channel from
any URL. The token is never derived from a configured secret and never logged;
only its SHA-256 digest is kept, so a lookup's timing says nothing about it.
It grants nothing a keyless in-process call to that channel's host does not.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

#: how long a minted token routes (On-Prem's own tokens lasted 7 days)
TOKEN_LIFETIME_S: Final = 7 * 24 * 3600.0
#: tokens remembered per router; the oldest is forgotten first
MAX_TOKENS: Final = 4096


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def onprem_time(when: float) -> str:
    """On-Prem's ``expires_after`` format: ``2026-12-14 17:20:00+00:00``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


class MintedTokens:
    """Login tokens of one router: digest -> (channel, expiry), bounded, thread-safe."""

    def __init__(
        self,
        *,
        lifetime_s: float = TOKEN_LIFETIME_S,
        limit: int = MAX_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lifetime_s = lifetime_s
        self.limit = limit
        self.clock = clock
        self._tokens: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tokens)

    def mint(self, channel: str) -> tuple[str, float]:
        """A new token for ``channel`` and the wall-clock time it expires."""
        token = secrets.token_urlsafe(32)
        expires = self.clock() + self.lifetime_s
        with self._lock:
            while len(self._tokens) >= self.limit:
                del self._tokens[next(iter(self._tokens))]
            self._tokens[_digest(token)] = (channel, expires)
        return token, expires

    def channel_of(self, presented: str) -> str | None:
        """The channel ``presented`` was minted for, while it has not expired."""
        key = _digest(presented)
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                return None
            if found[1] <= self.clock():
                del self._tokens[key]
                return None
            return found[0]
