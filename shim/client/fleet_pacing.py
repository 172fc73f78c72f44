"""Pacing that holds for a whole fleet: limiters over a shared :class:`StateStore` timeline.

The channel limiter leases a chunk of consecutive slots (50 ms worth of the
rate) from the store and hands them out locally, so the store sees one
statement per chunk, not per message, and the fleet's sends are spaced one
interval apart whichever instance makes them. A slot not used by its time is
dropped, never spent late in a burst; the slots a dead instance leased just
pass. A throttling answer pauses the channel's timeline for everyone.

The pair limiter keeps one GCRA per recipient in the store (``burst`` at
once, then one per ``interval``). Recipients are spread over all instances,
so every paced send takes its recipient's slot from the store: a keyed send
in its key's claim statement (:meth:`SharedPairLimiter.request`), any other
in a statement of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from shim.client.pacing import PairLimit, channel_burst, recipient_key
from shim.client.state import SlotRequest, StateStore

__all__ = ["FLEET_SAFETY", "SharedPairLimiter", "SharedRateLimiter"]

Clock = Callable[[], float]

#: The fleet keeps 2 % under the channel's rate: instances send from different
#: event loops, and their scheduling jitter must not bunch sends above ``mps``.
FLEET_SAFETY: Final = 1.02

#: A leased slot may be used this late (seconds) before it counts as missed.
_LATE_OK: Final = 0.002


class SharedRateLimiter:
    """``rate`` sends per second for every instance on ``state`` together."""

    def __init__(self, state: StateStore, name: str, rate: float, *,
                 chunk: int | None = None, clock: Clock = time.time) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.state = state
        self.name = name
        self.rate = rate
        self.interval = FLEET_SAFETY / rate
        self.chunk = chunk or channel_burst(int(rate))
        self._clock = clock
        self._next = 0.0
        self._left = 0
        self._paused_until = 0.0
        self._lock = threading.Lock()
        #: chunks leased from the store (how often it was hit)
        self.leases = 0

    def reserve(self) -> float:
        """Take the next slot; seconds to wait before using it (0 = now)."""
        with self._lock:
            now = self._clock()
            while self._left and self._next < now - _LATE_OK:  # missed: let them pass
                self._next += self.interval
                self._left -= 1
            if not self._left:
                self._next = self.state.take_slots(self.name, self.chunk, self.interval, now)
                self._left = self.chunk
                self.leases += 1
            slot = self._next
            self._next += self.interval
            self._left -= 1
            wait = slot - now
            return wait if wait > 1e-9 else 0.0

    def pause(self, seconds: float) -> None:
        """Nobody in the fleet gets a slot for ``seconds``."""
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            self._left = 0  # leased slots inside the pause are void
        self.state.pause(self.name, until)

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class SharedPairLimiter:
    """The business-to-user pair rate for every instance on ``state`` together."""

    def __init__(self, state: StateStore, channel: str, limit: PairLimit, *,
                 clock: Clock = time.time) -> None:
        self.state = state
        self.channel = channel
        self.interval = limit.interval_s
        self.burst = limit.burst
        self._clock = clock

    def _name(self, recipient: str) -> str:
        return f"pair:{self.channel}:{recipient_key(recipient)}"

    def request(self, recipient: str) -> SlotRequest:
        """The lease of this recipient's next slot (to take along with a key's claim)."""
        return SlotRequest(self._name(recipient), 1, self.interval,
                           (self.burst - 1) * self.interval)

    def reserve(self, recipient: str) -> float:
        now = self._clock()
        slot = self.state.take_slots(self._name(recipient), 1, self.interval, now,
                                     tolerance=(self.burst - 1) * self.interval)
        wait = slot - now
        return wait if wait > 1e-9 else 0.0

    def penalize(self, recipient: str, seconds: float) -> None:
        self.state.pause(self._name(recipient), self._clock() + seconds)

    def tracked(self) -> int:
        return 0
