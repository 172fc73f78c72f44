"""An httpx transport for HTTP/1.1 straight over asyncio, answers parsed by httptools.

Why: behind the gateway, the backend exchange was most of the gateway's CPU.
httpx's own transport (httpcore) wraps every socket operation in anyio cancel
scopes, writes a request in three sends and, on every request, asks each
pooled connection's socket whether it is still usable: about 60 % of the
gateway's CPU per request under 64 concurrent callers. A first replacement
drove h11 over asyncio; h11 alone then cost about 85 us per exchange (pure
Python validation and parsing) where httptools, the C parser (llhttp) uvicorn
already uses for the gateway's own requests, parses an answer in about 2 us.

So this transport keeps httpx's request and response models (the client code
does not change), lets httptools parse answers, writes each request in one
piece (request line and headers checked as h11 would: a token for names, no
control characters in values or the target) and only moves bytes otherwise:
a read per arriving segment, a timer only when it has to wait.

Errors are httpx's own classes, raised where httpcore raises them, so
``shim.client.steps.classify`` sorts them as before: ``ConnectError``,
``ConnectTimeout`` and ``PoolTimeout`` happen before a byte of the request is
written (safe to retry); everything after the write (``ReadTimeout``,
``ReadError``, ``RemoteProtocolError``, ``WriteTimeout``) may have reached the
server and is never resent by this transport. The only recovery here is
skipping a pooled connection already known to be closed, before anything is
written to it.

The blocking twin, :class:`shim.client.http1_sync.HTTP1Transport`, shares
everything but the byte moving (``shim.client.http1_common``).

Not supported (the shim needs none of it): HTTP/2, proxies, Unix sockets,
``Expect: 100-continue`` waits, upgrades.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, cast

import httpx

from shim.client.http1_common import (
    MAX_CONNECTIONS,
    Answer,
    Origin,
    PoolBook,
    Timeouts,
    closed_transport,
    connect_failure,
    origin_of,
    pool_timeout,
    read_failure,
    request_bytes,
    timeouts_of,
)

__all__ = ["MAX_CONNECTIONS", "AsyncHTTP1Transport"]

#: Unread bytes above which the socket stops being read until the body is consumed.
_HIGH_WATER: Final = 256 * 1024


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Wire(asyncio.Protocol):
    """Bytes in and out of one socket: a buffer of arrived data and a way to wait for more."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.writing_paused = False
        #: set while the connection is pooled: the peer closing it or sending bytes
        #: nobody asked for makes the pool drop it at once
        self.on_close: Callable[[], None] | None = None

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()
        self._unsolicited()

    def eof_received(self) -> bool:
        self._closing()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self.writing_paused = False
        self._closing()

    def _closing(self) -> None:
        self.eof = True
        self._wake()
        self._unsolicited()

    def _unsolicited(self) -> None:
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the exchange --------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.eof or self.transport is None or self.transport.is_closing()

    async def _wait(self, timeout: float | None) -> None:
        waiter = self.waiter = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    async def read(self, timeout: float | None) -> bytes:
        """Whatever has arrived (waiting up to ``timeout``); ``b""`` once the peer closed."""
        if not self.chunks and not self.eof:
            await self._wait(timeout)  # TimeoutError when nothing came
        if self.chunks:
            data = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
            self.chunks.clear()
            self.buffered = 0
            if self.reading_paused and self.transport is not None:
                self.reading_paused = False
                self.transport.resume_reading()
            return data
        if self.error is not None:
            raise self.error
        return b""

    async def drain(self, timeout: float | None) -> None:
        while self.writing_paused and not self.eof:
            await self._wait(timeout)


class _Connection:
    """One socket; serves one exchange at a time."""

    __slots__ = ("idle_since", "origin", "wire")

    def __init__(self, origin: Origin, wire: _Wire) -> None:
        self.origin = origin
        self.wire = wire
        self.idle_since = 0.0

    def reusable(self) -> bool:
        """Open, and nothing unasked-for arrived (it would be read as the next answer)."""
        return not self.wire.closed and not self.wire.chunks

    def unpool(self) -> None:
        self.wire.on_close = None

    def close(self) -> None:
        transport = self.wire.transport
        if transport is not None and not transport.is_closing():
            transport.close()


class AsyncHTTP1Transport(httpx.AsyncBaseTransport):
    """A keep-alive pool per origin (LIFO, so light traffic stays on warm connections)."""

    def __init__(
        self,
        *,
        max_connections: int = MAX_CONNECTIONS,
        keepalive_expiry: float = 4.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """``verify``: the TLS context for https backends (default: httpx's, built once)."""
        self._book: PoolBook[_Connection] = PoolBook(max_connections, keepalive_expiry)
        self._tls: ssl.SSLContext | None = verify

    # -- introspection (tests, metrics) -------------------------------------------

    def open_connections(self) -> int:
        """Connections counted against the limits right now (busy, idle or opening)."""
        return self._book.open_connections()

    def in_flight(self) -> int:
        """Exchanges whose response body is not closed yet."""
        return len(self._book.busy)

    # -- the exchange ------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = origin_of(request)
        stream = request.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            raise TypeError("an async transport needs a request body it can iterate asynchronously")
        body = [chunk async for chunk in stream]
        data = request_bytes(request, body)
        timeouts = timeouts_of(request)
        conn = await self._acquire(origin, timeouts, request)
        self._book.busy.add(conn)
        answer = Answer()
        read_timeout = timeouts.get("read")
        try:
            # Nothing is awaited between the liveness check in _acquire and this write,
            # so a pooled connection the peer had closed was skipped before a byte went out.
            wire = conn.wire
            assert wire.transport is not None
            wire.transport.write(data)
            if wire.writing_paused:
                try:
                    await wire.drain(timeouts.get("write"))
                except TimeoutError:
                    raise httpx.WriteTimeout("timed out writing the request", request=request
                                             ) from None
            while not answer.head_done:
                await _receive(conn, answer, read_timeout, request)
        except BaseException:
            self._book.discard(conn)
            raise
        return answer.response(request, _Body(self, conn, answer, read_timeout, request))

    # -- the pool ----------------------------------------------------------------

    async def _acquire(
        self, origin: Origin, timeouts: Timeouts, request: httpx.Request
    ) -> _Connection:
        book = self._book
        if book.closed:
            raise closed_transport(request)
        loop = asyncio.get_running_loop()
        conn = book.take_idle(origin, loop.time())
        if conn is not None:
            return conn
        if not book.reserve(origin):
            got = await self._wait_for_slot(origin, timeouts.get("pool"), request)
            if got is not None:
                if got.reusable():
                    return got
                # Closed by the server while it was handed over: nothing was written to
                # it; a fresh connection takes its slot.
                got.close()
        try:
            return await self._connect(origin, timeouts.get("connect"), request)
        except BaseException:
            book.free_slot(origin)
            raise

    async def _wait_for_slot(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> _Connection | None:
        """A connection handed over by a finished exchange, or None: a slot to connect in."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._book.wait(origin, waiter)
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        except TimeoutError:
            raise pool_timeout(request) from None
        except BaseException:
            # Cancelled after a connection or slot was handed over: give it back.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is None:
                    self._book.free_slot(origin)
                else:
                    self._release(handed)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _connect(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            tls = self._tls
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, wire = await loop.create_connection(
                    lambda: _Wire(loop), host, port, ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except (TimeoutError, OSError) as exc:
            raise connect_failure(exc, origin, timeout, request) from exc
        return _Connection(origin, wire)

    def _release(self, conn: _Connection) -> None:
        """A finished exchange: the connection goes to a waiter, or idle, or away."""
        if self._book.release(conn, asyncio.get_running_loop().time()):
            conn.wire.on_close = functools.partial(self._book.drop_idle, conn)

    async def aclose(self) -> None:
        for conn in self._book.close():
            conn.close()


async def _receive(
    conn: _Connection, answer: Answer, timeout: float | None, request: httpx.Request
) -> None:
    """Feed the next bytes to the parser."""
    try:
        data = await conn.wire.read(timeout)
    except Exception as exc:  # timed out, or the connection was reset or failed (OSError, TLS)
        raise read_failure(exc, timeout, request) from exc
    answer.take(data, request)


class _Body(httpx.AsyncByteStream):
    """The response body; closing it returns the connection (only if the exchange completed)."""

    __slots__ = ("_answer", "_closed", "_conn", "_pool", "_request", "_timeout")

    def __init__(self, pool: AsyncHTTP1Transport, conn: _Connection, answer: Answer,
                 timeout: float | None, request: httpx.Request) -> None:
        self._pool = pool
        self._conn = conn
        self._answer = answer
        self._timeout = timeout
        self._request = request
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        answer = self._answer
        while True:
            if answer.body:
                yield answer.next_chunk()
            if answer.done:
                return
            await _receive(self._conn, answer, self._timeout, self._request)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._answer.reusable_after():
            self._pool._release(self._conn)
        else:
            self._pool._book.discard(self._conn)
