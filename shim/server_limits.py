"""Connection limits for every server we run (gateway, relay, sandbox) through uvicorn.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and
answers 503 past ``limit_concurrency``, but a connection that opens and never
finishes its request headers (or stops half-way through a body) is kept
forever: a few thousand of them exhaust file descriptors. The protocol here
is uvicorn's own HTTP protocol (httptools) plus two timers:

* header timeout: the request line and headers must be complete this many
  seconds after the connection opens (or after the first byte of a further
  request on a kept-alive connection);
* read timeout: while a request body is arriving, at most this many seconds
  may pass between two reads (while the app itself is not reading, the
  client is not blamed).

A timed-out connection is closed. Past ``max_connections`` open connections
a new one is answered 503 and closed at once; uvicorn's ``limit_concurrency``
(the same number) answers 503 to requests over it.

========================  =======  ==========================
Limit                     Default  Flag (serve, relay, sandbox)
========================  =======  ==========================
header timeout            10 s     ``--header-timeout``
read timeout              30 s     ``--read-timeout``
keep-alive timeout        5 s      ``--keep-alive-timeout``
connections               1000     ``--max-connections``
========================  =======  ==========================
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "DEFAULT_LIMITS",
    "LimitedConfig",
    "LimitedHttpProtocol",
    "ServerLimits",
    "limit_options",
    "limits_from",
]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-connection limits of one server (see the module docstring)."""

    header_timeout: float = 10.0
    read_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000

    def __post_init__(self) -> None:
        if min(self.header_timeout, self.read_timeout, self.keep_alive_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


DEFAULT_LIMITS: Final = ServerLimits()

_BUSY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 27\r\n\r\ntoo many open connections\r\n"
)


class LimitedConfig(uvicorn.Config):
    """A ``uvicorn.Config`` that applies :class:`ServerLimits` (picklable, for workers)."""

    def __init__(self, app: Any, *, limits: ServerLimits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        kwargs["timeout_keep_alive"] = limits.keep_alive_timeout
        kwargs["limit_concurrency"] = limits.max_connections
        kwargs["http"] = LimitedHttpProtocol
        super().__init__(app, **kwargs)
        self.limits = limits


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and read timeouts and a connection cap."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = getattr(config, "limits", DEFAULT_LIMITS)
        self._limits: ServerLimits = limits
        self._timer: asyncio.TimerHandle | None = None
        self._in_body = False

    # -- connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            transport.write(_BUSY)
            transport.close()
            return
        self._arm(self._limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_body:
            self._arm(self._limits.read_timeout)
        super().data_received(data)

    # -- parser callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_body = False
        if self._timer is None:  # a further request on a kept-alive connection
            self._arm(self._limits.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._in_body = True
        self._arm(self._limits.read_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._disarm()

    # -- timers ----------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._in_body and self.flow is not None and self.flow.read_paused:
            # The app has not read what arrived yet: the client is not the slow one.
            self._arm(self._limits.read_timeout)
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


F = TypeVar("F", bound=Callable[..., Any])


def limit_options(command: F) -> F:
    """The four limit flags, for a click command taking ``limits: ServerLimits``."""

    options = [
        click.option("--header-timeout", type=click.FloatRange(min=0.001), show_default=True,
                     default=DEFAULT_LIMITS.header_timeout,
                     help="Seconds a connection may take to send its request headers."),
        click.option("--read-timeout", type=click.FloatRange(min=0.001), show_default=True,
                     default=DEFAULT_LIMITS.read_timeout,
                     help="Seconds a request body may pause between two reads."),
        click.option("--keep-alive-timeout", type=click.FloatRange(min=0.001),
                     show_default=True, default=DEFAULT_LIMITS.keep_alive_timeout,
                     help="Seconds an idle kept-alive connection stays open."),
        click.option("--max-connections", type=click.IntRange(min=1), show_default=True,
                     default=DEFAULT_LIMITS.max_connections,
                     help="Open connections at most; more are answered 503 and closed."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def limits_from(header_timeout: float, read_timeout: float, keep_alive_timeout: float,
                max_connections: int) -> ServerLimits:
    """:class:`ServerLimits` from the values of :func:`limit_options`' flags."""
    return ServerLimits(header_timeout, read_timeout, keep_alive_timeout, max_connections)
