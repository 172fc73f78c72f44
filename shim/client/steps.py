"""The vocabulary between the router's plans and the I/O drivers.

A plan is a generator: it yields :class:`Sleep` (wait this long) and
:class:`Exchange` (perform this HTTP request) steps, receives the outcome of
each exchange (an ``httpx.Response`` with its body read, or a
:class:`TransportFailure`), and finally returns the On-Prem-shaped
:class:`~shim.client.response.ShimResponse`. All decisions live in the plan;
a driver only sleeps and does HTTP, so the sync and async clients cannot drift.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import httpx

from shim.client.response import ShimResponse
from shim.client.retry import FailureKind

__all__ = ["Exchange", "Plan", "Sleep", "Step", "StepResult", "TransportFailure", "classify"]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Exchange:
    request: httpx.Request
    follow_redirects: bool = False


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No response: ``kind`` says whether the request can have reached the server."""

    kind: FailureKind
    error: str  # exception class and message (never headers or bodies)


Step = Sleep | Exchange
StepResult = httpx.Response | TransportFailure | None
Plan = Generator[Step, StepResult, ShimResponse]

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_LOCAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


def classify(exc: Exception) -> TransportFailure:
    """Sort an httpx failure by whether the request may have been delivered."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, _NOT_SENT):
        return TransportFailure(FailureKind.CONNECT, detail)
    if isinstance(exc, _LOCAL):
        return TransportFailure(FailureKind.LOCAL, detail)
    return TransportFailure(FailureKind.SENT, detail)
