"""An httpx transport that speaks HTTP/1.1 through h11 straight over asyncio.

Why: behind the gateway, the backend exchange was most of the gateway's CPU.
httpx's own transport (httpcore) wraps every socket operation in anyio cancel
scopes, writes a request in three sends, reads in two passes and, on every
request, asks each pooled connection's socket whether it is still usable;
profiled under 64 concurrent callers that was about 60 % of the gateway's CPU
per request. This transport keeps httpx's request and response models (so the
client code does not change) and h11 for the HTTP/1.1 protocol work, and only
moves bytes: one write per request, a read per arriving segment, a timer only
when it has to wait.

Errors are httpx's own classes, raised where httpcore raises them, so
``shim.client.steps.classify`` sorts them as before: ``ConnectError``,
``ConnectTimeout`` and ``PoolTimeout`` happen before a byte of the request is
written (safe to retry); everything after the write (``ReadTimeout``,
``ReadError``, ``RemoteProtocolError``, ``WriteTimeout``) may have reached the
server and is never resent by this transport. The only resend-free recovery
here is skipping a pooled connection already known to be closed, before
anything is written to it.

Not supported (the shim needs none of it): HTTP/2, proxies, Unix sockets.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import h11
import httpx

__all__ = ["H11AsyncTransport"]

#: Connections per origin (scheme, host, port); callers beyond this wait for one.
MAX_CONNECTIONS: Final = 256
#: Unread bytes above which the socket stops being read until the body is consumed.
_HIGH_WATER: Final = 256 * 1024

Origin = tuple[str, str, int]


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
        #: called when the peer closes or the socket fails (the pool drops idle ones)
        self.on_close: Callable[[], None] | None = None

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

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

    # -- used by the connection ------------------------------------------------

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
    """One socket and its h11 state; serves one exchange at a time."""

    __slots__ = ("h11", "idle_since", "origin", "wire")

    def __init__(self, origin: Origin, wire: _Wire) -> None:
        self.origin = origin
        self.wire = wire
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self) -> bool:
        """Idle, open, and nothing unasked-for arrived (it would be read as the next answer)."""
        return (
            not self.wire.closed
            and not self.wire.chunks
            and not self.h11.trailing_data[0]
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
        )

    def close(self) -> None:
        transport = self.wire.transport
        if transport is not None and not transport.is_closing():
            transport.close()


class H11AsyncTransport(httpx.AsyncBaseTransport):
    """A keep-alive pool per origin (LIFO, so light traffic stays on warm connections)."""

    def __init__(
        self,
        *,
        max_connections: int = MAX_CONNECTIONS,
        keepalive_expiry: float = 4.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._tls = verify
        self._idle: dict[Origin, collections.deque[_Connection]] = {}
        #: connections per origin counted against the limit: open, opening, or promised
        #: to a waiter (a freed slot handed over)
        self._count: dict[Origin, int] = {}
        self._waiters: dict[Origin, collections.deque[asyncio.Future[_Connection | None]]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False

    # -- introspection (tests, metrics) -------------------------------------------

    def open_connections(self) -> int:
        """Connections counted against the limits right now (busy, idle or opening)."""
        return sum(self._count.values())

    def in_flight(self) -> int:
        """Exchanges whose response body is not closed yet."""
        return len(self._busy)

    # -- the exchange ------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"the URL must start with http:// or https://, not {scheme or 'nothing'}",
                request=request,
            )
        if not url.host:
            raise httpx.UnsupportedProtocol("the URL has no host", request=request)
        stream = request.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            raise TypeError("an async transport needs a request body it can iterate asynchronously")
        timeouts = request.extensions.get("timeout", {})
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        conn = await self._acquire(origin, timeouts, request)
        self._busy.add(conn)
        try:
            # Nothing is awaited between the liveness check in _acquire and this write
            # (an in-memory body is iterated without suspending), so a connection the
            # peer had closed was skipped before a byte went out.
            data = [conn.h11.send(h11.Request(
                method=request.method, target=url.raw_path, headers=request.headers.raw))]
            async for chunk in stream:
                if chunk:
                    data.append(conn.h11.send(h11.Data(data=chunk)))
            data.append(conn.h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            self._discard(conn)
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except BaseException:
            self._discard(conn)
            raise
        read_timeout = timeouts.get("read")
        try:
            wire = conn.wire
            assert wire.transport is not None
            wire.transport.write(b"".join(b for b in data if b))
            if wire.writing_paused:
                try:
                    await wire.drain(timeouts.get("write"))
                except TimeoutError:
                    raise httpx.WriteTimeout("timed out writing the request", request=request
                                             ) from None
            head = await _response_head(conn, read_timeout, request)
        except BaseException:
            self._discard(conn)
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, conn, read_timeout, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    # -- the pool ----------------------------------------------------------------

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        loop = asyncio.get_running_loop()
        idle = self._idle.get(origin)
        if idle:
            now = loop.time()
            while idle:
                conn = idle.pop()
                conn.wire.on_close = None
                if now - conn.idle_since < self._expiry and conn.reusable():
                    _sweep(idle, now - self._expiry, self._discard)
                    return conn
                self._discard(conn)
        count = self._count.get(origin, 0)
        if count >= self._max:
            got = await self._wait_for_slot(origin, timeouts.get("pool"), request)
            if got is not None:
                return got
        else:
            self._count[origin] = count + 1
        try:
            return await self._connect(origin, timeouts.get("connect"), request)
        except BaseException:
            self._free_slot(origin)
            raise

    async def _wait_for_slot(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> _Connection | None:
        """A connection handed over by a finished exchange, or None: a slot to connect in."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.setdefault(origin, collections.deque()).append(waiter)
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        except TimeoutError:
            raise httpx.PoolTimeout("no connection to the backend was free in time",
                                    request=request) from None
        except BaseException:
            # Cancelled after a connection or slot was handed over: give it back.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is None:
                    self._free_slot(origin)
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
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s",
                                       request=request) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return _Connection(origin, wire)

    def _release(self, conn: _Connection) -> None:
        """A finished exchange: the connection goes to a waiter, or idle, or away."""
        self._busy.discard(conn)
        if self._closed or not conn.reusable():
            self._discard(conn)
            return
        waiters = self._waiters.get(conn.origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(conn.origin, collections.deque()).append(conn)
        conn.wire.on_close = functools.partial(self._closed_while_idle, conn)

    def _closed_while_idle(self, conn: _Connection) -> None:
        """The server closed a pooled connection (idle timeout): forget it now."""
        idle = self._idle.get(conn.origin)
        if idle is not None and conn in idle:
            idle.remove(conn)
            self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        conn.close()
        self._free_slot(conn.origin)

    def _free_slot(self, origin: Origin) -> None:
        """One connection fewer: a waiter may open one in its place."""
        waiters = self._waiters.get(origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter; the count stays
                return
        self._count[origin] -= 1

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                conn = idle.pop()
                conn.wire.on_close = None
                self._discard(conn)
        for conn in list(self._busy):
            conn.close()


def _sweep(idle: collections.deque[_Connection], cutoff: float,
           discard: Callable[[_Connection], None]) -> None:
    """Close connections idle since before ``cutoff`` (the oldest are at the left)."""
    while idle and idle[0].idle_since < cutoff:
        conn = idle.popleft()
        conn.wire.on_close = None
        discard(conn)


async def _response_head(
    conn: _Connection, timeout: float | None, request: httpx.Request
) -> h11.Response:
    state = conn.h11
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        if event is h11.NEED_DATA:
            data = await _read(conn, timeout, request)
            if not data and state.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request)
            state.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        # InformationalResponse (1xx): the real answer follows


async def _read(conn: _Connection, timeout: float | None, request: httpx.Request) -> bytes:
    try:
        return await conn.wire.read(timeout)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no answer within {timeout} s", request=request) from None
    except Exception as exc:  # the connection was reset or failed (OSError, TLS)
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc


class _Body(httpx.AsyncByteStream):
    """The response body; closing it returns the connection (only if the exchange completed)."""

    __slots__ = ("_closed", "_conn", "_pool", "_request", "_timeout")

    def __init__(self, pool: H11AsyncTransport, conn: _Connection, timeout: float | None,
                 request: httpx.Request) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = timeout
        self._request = request
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        state = self._conn.h11
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
            if event is h11.NEED_DATA:
                state.receive_data(await _read(self._conn, self._timeout, self._request))
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # ConnectionClosed before the end of the body
                raise httpx.RemoteProtocolError("the server closed the connection mid-body",
                                                request=self._request)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        state = conn.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            self._pool._release(conn)
        else:
            self._pool._discard(conn)
