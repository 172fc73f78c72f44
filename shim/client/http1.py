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

Not supported (the shim needs none of it): HTTP/2, proxies, Unix sockets,
``Expect: 100-continue`` waits, upgrades.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import re
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, cast

import httptools
import httpx

__all__ = ["AsyncHTTP1Transport"]

#: Connections per origin (scheme, host, port); callers beyond this wait for one.
MAX_CONNECTIONS: Final = 256
#: Unread bytes above which the socket stops being read until the body is consumed.
_HIGH_WATER: Final = 256 * 1024
#: Status line and headers of an answer larger than this are refused (h11 allows 16 KiB).
MAX_HEAD_BYTES: Final = 64 * 1024

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET: Final = re.compile(rb"[\x00-\x20\x7f]")

Origin = tuple[str, str, int]


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _request_bytes(request: httpx.Request, body: list[bytes]) -> bytes:
    """The request line, headers and framed body, refused (before sending) if malformed."""
    method = request.method.encode("ascii", "replace")
    target = request.url.raw_path
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"invalid method {request.method!r}", request=request)
    if not target or _BAD_TARGET.search(target):
        raise httpx.LocalProtocolError("invalid request target", request=request)
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    length: int | None = None
    chunked = False
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise httpx.LocalProtocolError(
                f"invalid header {name[:100]!r} (control characters or not a token)",
                request=request)
        lower = name.lower()
        if lower == b"content-length":
            if not value.strip().isdigit():
                raise httpx.LocalProtocolError("invalid Content-Length", request=request)
            length = int(value)
        elif lower == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    size = sum(len(chunk) for chunk in body)
    if chunked:
        for chunk in body:
            if chunk:
                parts += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
        parts.append(b"0\r\n\r\n")
    elif size != (length or 0):
        raise httpx.LocalProtocolError(
            f"the body has {size} bytes, its Content-Length says {length or 0}", request=request)
    else:
        parts += body
    return b"".join(parts)


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


class _Answer:
    """httptools callbacks for one response; anything after its end marks the line dirty."""

    __slots__ = ("body", "done", "eof_framed", "head_bytes", "head_done", "headers",
                 "keep_alive", "parser", "reason", "status", "stray")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.body: list[bytes] = []
        self.status = 0
        self.head_bytes = 0
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.stray = False
        #: no Content-Length and not chunked: the body ends when the server closes
        self.eof_framed = True

    def on_message_begin(self) -> None:
        if self.done:
            self.stray = True

    def on_status(self, reason: bytes) -> None:
        if not self.done:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done:
            return
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or (
            lower == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.eof_framed = False

    def on_headers_complete(self) -> None:
        if self.done:
            return
        self.status = self.parser.get_status_code()
        if self.status >= 200 or self.status == 101:
            self.head_done = True
        if self.status in (204, 304):
            self.eof_framed = False

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.done:
            self.stray = True
        elif not self.head_done:  # an interim 1xx answer: the real one follows
            self.headers = []
            self.reason = b""
            self.eof_framed = True
        else:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def feed(self, data: bytes, request: httpx.Request) -> None:
        if self.done:  # bytes after the answer: never read them as the next one
            self.stray = True
            return
        if not self.head_done:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.done:
                self.stray = True
                return
            raise httpx.RemoteProtocolError(f"malformed answer: {exc}", request=request
                                            ) from None
        if not self.head_done and self.head_bytes > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError(
                f"the answer's head is larger than {MAX_HEAD_BYTES} bytes", request=request)


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
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._tls: ssl.SSLContext | None = verify
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
        body = [chunk async for chunk in stream]
        data = _request_bytes(request, body)
        timeouts = request.extensions.get("timeout", {})
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        conn = await self._acquire(origin, timeouts, request)
        self._busy.add(conn)
        answer = _Answer()
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
            self._discard(conn)
            raise
        if request.method == "HEAD":  # no body follows, whatever the headers say
            answer.done = True
            answer.keep_alive = False
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_Body(self, conn, answer, read_timeout, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.strip()},
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
        if count < self._max:
            self._count[origin] = count + 1
        else:
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
        """The server closed a pooled connection (idle timeout) or spoke unasked: drop it."""
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


async def _receive(
    conn: _Connection, answer: _Answer, timeout: float | None, request: httpx.Request
) -> None:
    """Feed the next bytes to the parser; the server closing first is an error unless
    the body is delimited by the close."""
    try:
        data = await conn.wire.read(timeout)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no answer within {timeout} s", request=request) from None
    except Exception as exc:  # the connection was reset or failed (OSError, TLS)
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
    if data:
        answer.feed(data, request)
    elif not answer.head_done:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                        request=request)
    elif answer.eof_framed:
        answer.done = True
        answer.keep_alive = False
    else:
        raise httpx.RemoteProtocolError("the server closed the connection mid-body",
                                        request=request)


class _Body(httpx.AsyncByteStream):
    """The response body; closing it returns the connection (only if the exchange completed)."""

    __slots__ = ("_answer", "_closed", "_conn", "_pool", "_request", "_timeout")

    def __init__(self, pool: AsyncHTTP1Transport, conn: _Connection, answer: _Answer,
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
                chunks = answer.body
                answer.body = []
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if answer.done:
                return
            await _receive(self._conn, answer, self._timeout, self._request)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        answer = self._answer
        if answer.done and answer.keep_alive and not answer.stray:
            self._pool._release(self._conn)
        else:
            self._pool._discard(self._conn)
