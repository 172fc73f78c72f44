"""Outbound pacing: a per-channel rate limiter and a per-recipient pair limiter.

Both are GCRA schedulers (the "virtual scheduling" form of a token bucket):
each caller *reserves* the next free slot under a lock and is told how long to
wait for it. Reservation is pure arithmetic, so the same objects serve threads
and event loops; the sync and async clients only differ in how they sleep.
Because slots are handed out on an absolute timeline, a late wake-up does not
lower the achieved rate: the next slot is still one interval after the last.

Cloud limits (api-mapping reference section 13): 80 messages/s per number by
default, up to 1,000; a business may message one user about once per 6 s with
bursts up to 45 that borrow from future quota (error 131056 otherwise).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from shim.mapping.limits import PAIR_BACKOFF_BASE, PAIR_BURST, PAIR_INTERVAL_S

__all__ = [
    "PAIR_BURST",
    "PAIR_INTERVAL_S",
    "PairLimit",
    "PairLimiter",
    "RateLimiter",
    "channel_burst",
    "pair_backoff",
    "recipient_key",
]

Clock = Callable[[], float]


#: Forget recipients idle long enough to have their full burst back, this often.
_PRUNE_EVERY: Final = 4096


#: The client keeps 2 % under Cloud's pair rate, so that network jitter between
#: a recipient's first and a later send cannot land the later one early.
PAIR_SAFETY: Final = 1.02


@dataclass(frozen=True, slots=True)
class PairLimit:
    """The pair-rate budget: ``burst`` messages at once, then one per ``interval_s``."""

    interval_s: float = PAIR_INTERVAL_S * PAIR_SAFETY
    burst: int = PAIR_BURST


def channel_burst(mps: int) -> int:
    """How many sends may go back-to-back (50 ms worth of the rate, at least 1).

    Small on purpose: Cloud measures throughput over short windows, and a
    limiter that bursts a full second's budget doubles the rate for a moment.
    """
    return max(1, math.ceil(mps / 20))


def pair_backoff(retry_number: int) -> float:
    """Seconds to wait before the ``retry_number``-th resend (1-based) after a 131056."""
    return float(PAIR_BACKOFF_BASE ** max(0, retry_number - 1))


class RateLimiter:
    """``rate`` events per second with a tolerance of ``burst`` back-to-back events."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self.interval = 1.0 / rate
        self._tolerance = (burst - 1) * self.interval
        self._tat = -math.inf  # theoretical arrival time of the next event
        self._paused_until = -math.inf
        self._clock = clock
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; returns seconds to wait before using it (0 = now)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._tat - self._tolerance, self._paused_until)
            self._tat = max(self._tat, slot) + self.interval
            return _wait(slot - now)

    def pause(self, seconds: float) -> None:
        """Nobody gets a slot for ``seconds`` (the backend said: slow down)."""
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)

    def paused_for(self) -> float:
        """Seconds until a pause ends (0 when not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class PairLimiter:
    """One GCRA per recipient: ``burst`` at once, then one per ``interval`` seconds."""

    def __init__(
        self,
        interval: float = PAIR_INTERVAL_S,
        burst: int = PAIR_BURST,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if interval <= 0 or burst < 1:
            raise ValueError("interval must be positive and burst at least 1")
        self.interval = interval
        self.burst = burst
        self._tolerance = (burst - 1) * interval
        self._tat: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._since_prune = 0

    def reserve(self, recipient: str) -> float:
        """Take this recipient's next slot; seconds to wait before sending."""
        key = recipient_key(recipient)
        with self._lock:
            now = self._clock()
            tat = self._tat.get(key, -math.inf)
            slot = max(now, tat - self._tolerance)
            self._tat[key] = max(tat, slot) + self.interval
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._prune(now)
            return _wait(slot - now)

    def penalize(self, recipient: str, seconds: float) -> None:
        """The backend answered 131056: no slot for this recipient for ``seconds``."""
        key = recipient_key(recipient)
        with self._lock:
            blocked_until = self._clock() + seconds
            self._tat[key] = max(self._tat.get(key, -math.inf), blocked_until + self._tolerance)

    def tracked(self) -> int:
        with self._lock:
            return len(self._tat)

    def _prune(self, now: float) -> None:
        # A recipient whose TAT is in the past has its whole burst back: same
        # as never seen, so the entry can go.
        self._since_prune = 0
        stale = [k for k, tat in self._tat.items() if tat <= now]
        for k in stale:
            del self._tat[k]


def _wait(seconds: float) -> float:
    # Float drift in the slot arithmetic must not turn "now" into a 1e-16 s sleep.
    return seconds if seconds > _EPSILON else 0.0


_EPSILON: Final = 1e-9


def recipient_key(recipient: str) -> str:
    """``+49 151 …`` and ``49151…`` are the same user: compare digits (BSUIDs as is)."""
    if recipient.isdigit():
        return recipient
    if _PHONE_LIKE.fullmatch(recipient):
        return _NON_DIGITS.sub("", recipient)
    return recipient


_PHONE_LIKE: Final = re.compile(r"[0-9+ ().-]+")
_NON_DIGITS: Final = re.compile(r"\D")
