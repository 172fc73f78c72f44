"""Injected failures for the next N API calls (control endpoints never count).

Three kinds, combinable with a delay: an error status (429/500/503 in the
surface's own envelope), a delay, and ``drop_after_accept``: the request is
handled in full (a send is recorded) and then the TCP connection is closed
before a single response byte is written, the "outcome unknown" case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_STATUSES",
    "Fault",
    "FaultMiddleware",
    "FaultQueue",
    "parse_fault",
]

FAULT_STATUSES = (429, 500, 503)
#: Ceilings for a fault's fields: the control routes need no credentials, so a
#: single call must not be able to park the sandbox for days.
MAX_FAULT_COUNT = 100_000
MAX_FAULT_DELAY_MS = 600_000
MAX_QUEUED_FAULTS = 1_000
CONTROL_PREFIX = "/_sandbox/"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Fault:
    count: int
    status: int | None = None
    delay_ms: int = 0
    drop_after_accept: bool = False
    #: Only calls whose path contains this string count (e.g. "/messages").
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path in path

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"count": self.count}
        if self.status is not None:
            data["status"] = self.status
        if self.delay_ms:
            data["delay_ms"] = self.delay_ms
        if self.drop_after_accept:
            data["drop_after_accept"] = True
        if self.path is not None:
            data["path"] = self.path
        if self.method is not None:
            data["method"] = self.method
        return data


def _int_field(
    data: Mapping[str, Any], name: str, default: int | None, minimum: int, maximum: int
) -> int | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be an integer")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}")
    if value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}")
    return value


def parse_fault(data: Any) -> Fault:
    """Validate a ``POST /_sandbox/faults`` body; ValueError names the bad field."""
    if not isinstance(data, Mapping):
        raise ValueError("body: must be a JSON object")
    known = {"status", "count", "delay_ms", "drop_after_accept", "path", "method"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(known))})")
    count = _int_field(data, "count", 1, 1, MAX_FAULT_COUNT)
    status = _int_field(data, "status", None, 100, 599)
    if status is not None and status not in FAULT_STATUSES:
        raise ValueError(f"status: must be one of {', '.join(map(str, FAULT_STATUSES))}")
    delay_ms = _int_field(data, "delay_ms", 0, 0, MAX_FAULT_DELAY_MS)
    drop = data.get("drop_after_accept", False)
    if not isinstance(drop, bool):
        raise ValueError("drop_after_accept: must be true or false")
    if drop and status is not None:
        raise ValueError("drop_after_accept: cannot be combined with status")
    if status is None and not drop and not delay_ms:
        raise ValueError("body: give status, delay_ms or drop_after_accept")
    path = data.get("path")
    if path is not None and (not isinstance(path, str) or len(path) > 2048):
        raise ValueError("path: must be a string of at most 2048 characters")
    method = data.get("method")
    if method is not None and (not isinstance(method, str) or len(method) > 16):
        raise ValueError("method: must be an HTTP method name")
    assert count is not None and delay_ms is not None
    return Fault(
        count=count,
        status=status,
        delay_ms=delay_ms,
        drop_after_accept=drop,
        path=path,
        method=method.upper() if method else None,
    )


class FaultQueue:
    """Faults in the order they were posted; the first matching one applies."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if len(self._faults) >= MAX_QUEUED_FAULTS:
            raise ValueError(
                f"body: {MAX_QUEUED_FAULTS} faults are already queued; "
                "DELETE /_sandbox/faults first"
            )
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[Fault]:
        return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        if not self._faults:
            return None
        for index, fault in enumerate(self._faults):
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    del self._faults[index]
                return fault
        return None


class FaultMiddleware:
    """Outermost ASGI layer: applies the next queued fault to an API call."""

    def __init__(
        self,
        app: ASGIApp,
        queue: FaultQueue,
        render_status: Callable[[int], Response],
    ) -> None:
        self.app = app
        self.queue = queue
        self.render_status = render_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.queue.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay_ms:
            # Read the request first: a slow server has the message even if the
            # client gives up waiting (the send still happens after the delay).
            receive = await _buffered(receive)
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.status is not None:
            await self.render_status(fault.status)(scope, receive, send)
        elif fault.drop_after_accept:
            await self._drop_after_accept(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _drop_after_accept(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        if not await _close_connection(send):
            # Not served by uvicorn (e.g. an in-process transport): fail loudly instead.
            raise ConnectionAbortedError("sandbox fault: connection dropped after accept")


async def _buffered(receive: Receive) -> Receive:
    """Drain the request body now; replay it later even if the client has gone."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


async def _close_connection(send: Send) -> bool:
    """Close the client's TCP connection without writing a response.

    uvicorn hands each request a bound ``send`` of its request cycle, which
    holds the transport. Closing it marks the cycle disconnected (on the next
    loop turn), so uvicorn does not try to answer with a 500 afterwards.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        return False
    transport.close()
    for _ in range(3):
        await asyncio.sleep(0)
        if getattr(cycle, "disconnected", True):
            break
    return True
