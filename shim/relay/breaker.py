"""A circuit breaker per forward target, so a slow or failing app is not flooded.

Without one, every queued item is re-sent each back-off round: an app that
answers after the timeout (and so did process the body) receives each item
again and again. After ``threshold`` failures in a row (timeout, connection
error, 5xx, 429) a target's circuit opens: nothing is sent to it for a
cooldown; then one probe at a time goes out (half-open). A good answer closes
the circuit; a failed probe opens it again for twice as long, up to
``max_cooldown``. Items that find the circuit open are put back in the queue
without counting an attempt.

The target is the forward URL's origin (scheme, host, port): channels that
deliver to the same app server share one breaker. Breakers live in the
process; relay instances sharing a PostgreSQL queue each keep their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Breakers", "target_of"]

State = Literal["closed", "open", "half-open"]


def target_of(url: str) -> str:
    """The breaker key of a forward URL: its origin, without credentials or path."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass(slots=True)
class _Circuit:
    state: State = "closed"
    failures: int = 0
    cooldown: float = 0.0
    until: float = 0.0
    probing: bool = False
    last_error: str = ""


class Breakers:
    """Every target's circuit; all calls happen on the worker's event loop."""

    def __init__(self, *, threshold: int = 5, cooldown: float = 5.0,
                 max_cooldown: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.base = cooldown
        self.max_cooldown = max(cooldown, max_cooldown)
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def admit(self, target: str) -> float | None:
        """None: send now (maybe as the probe). Else: seconds to wait before trying again."""
        circuit = self._circuits.get(target)
        if circuit is None or circuit.state == "closed":
            return None
        now = self.clock()
        if circuit.state == "open":
            if now < circuit.until:
                return circuit.until - now
            circuit.state = "half-open"
        if circuit.probing:  # one probe at a time
            return min(circuit.cooldown, self.base)
        circuit.probing = True
        return None

    def success(self, target: str) -> None:
        circuit = self._circuits.get(target)
        if circuit is not None:
            circuit.state, circuit.failures, circuit.probing = "closed", 0, False
            circuit.cooldown = 0.0

    def failure(self, target: str, error: str = "") -> None:
        circuit = self._circuits.setdefault(target, _Circuit())
        circuit.failures += 1
        circuit.last_error = error
        if circuit.state == "half-open" or (
                circuit.state == "closed" and circuit.failures >= self.threshold):
            circuit.cooldown = min(self.max_cooldown, circuit.cooldown * 2 or self.base)
            circuit.state, circuit.probing = "open", False
            circuit.until = self.clock() + circuit.cooldown

    def last_error(self, target: str) -> str:
        """What the target's last failure was (for the items put back meanwhile)."""
        circuit = self._circuits.get(target)
        return circuit.last_error if circuit is not None else ""

    def release(self, target: str) -> None:
        """A probe ended without an answer either way (e.g. the relay is stopping)."""
        circuit = self._circuits.get(target)
        if circuit is not None:
            circuit.probing = False

    def states(self) -> list[tuple[str, State]]:
        return sorted((t, c.state) for t, c in self._circuits.items())

    def open_targets(self) -> list[tuple[str, State]]:
        return [(t, s) for t, s in self.states() if s != "closed"]
