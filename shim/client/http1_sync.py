"""The blocking twin of :class:`shim.client.http1.AsyncHTTP1Transport`.

Why: the sync client's CPU per send was mostly httpcore's per-request work
(three writes per request, h11's pure-Python parsing, a socket poll on every
pooled connection). This transport moves bytes with plain blocking sockets
and shares with the async one everything else (``shim.client.http1_common``):
request checks and framing in one write, httptools parsing, the pool's
bookkeeping and httpx's exception classes raised at the same points, so
``classify`` and the "never resend after the write" rule are unchanged.

Thread-safe: the pool's bookkeeping runs under one lock (``send_many`` sends
from several threads); the I/O of an exchange runs outside it. A pooled
connection is checked just before its write: one the server closed or that
received bytes nobody asked for is closed and replaced, before any byte of
the request is written to it.

Not supported (the shim needs none of it): HTTP/2, proxies, Unix sockets,
``Expect: 100-continue`` waits, upgrades.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator

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

__all__ = ["HTTP1Transport"]

_READ_SIZE = 65536
_UNSET = -1.0  # a socket timeout never set


class _Connection:
    """One socket; serves one exchange at a time."""

    __slots__ = ("idle_since", "origin", "poll", "sock", "timeout")

    def __init__(self, origin: Origin, sock: socket.socket) -> None:
        self.origin = origin
        self.sock = sock
        self.idle_since = 0.0
        self.timeout: float | None = _UNSET
        self.poll = select.poll()
        self.poll.register(sock, select.POLLIN)

    def settimeout(self, timeout: float | None) -> None:
        if timeout != self.timeout:  # each change is a system call
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def reusable(self) -> bool:
        """Open, and nothing arrived since the last answer: not even the server's
        close (it would be read as the next answer, or lose the request)."""
        if self.sock.fileno() < 0:
            return False
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return False
        return not self.poll.poll(0)

    def unpool(self) -> None:
        pass  # nothing watches an idle socket: reusable() checks it when taken

    def close(self) -> None:
        self.sock.close()


class _Waiter:
    """A caller waiting for a connection or a slot (``PoolBook`` hands it over)."""

    __slots__ = ("event", "given", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.given = False
        self.result: _Connection | None = None

    def done(self) -> bool:
        return self.given

    def set_result(self, result: _Connection | None, /) -> None:
        self.given = True
        self.result = result
        self.event.set()


class HTTP1Transport(httpx.BaseTransport):
    """A keep-alive pool per origin (LIFO), shared by any number of threads."""

    def __init__(
        self,
        *,
        max_connections: int = MAX_CONNECTIONS,
        keepalive_expiry: float = 4.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """``verify``: the TLS context for https backends (default: httpx's, built once)."""
        self._book: PoolBook[_Connection] = PoolBook(max_connections, keepalive_expiry)
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = verify

    # -- introspection (tests, metrics) -------------------------------------------

    def open_connections(self) -> int:
        """Connections counted against the limits right now (busy, idle or opening)."""
        with self._lock:
            return self._book.open_connections()

    def in_flight(self) -> int:
        """Exchanges whose response body is not closed yet."""
        with self._lock:
            return len(self._book.busy)

    # -- the exchange ------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = origin_of(request)
        stream = request.stream
        if not isinstance(stream, httpx.SyncByteStream):
            raise TypeError("a sync transport needs a request body it can iterate")
        data = request_bytes(request, list(stream))
        timeouts = timeouts_of(request)
        conn = self._acquire(origin, timeouts, request)
        answer = Answer()
        read_timeout = timeouts.get("read")
        try:
            write_timeout = timeouts.get("write")
            conn.settimeout(write_timeout)
            try:
                conn.sock.sendall(data)
            except TimeoutError:
                raise httpx.WriteTimeout("timed out writing the request", request=request
                                         ) from None
            except OSError as exc:  # part of the request may have left: never resent
                raise httpx.WriteError(f"{type(exc).__name__}: {exc}", request=request
                                       ) from exc
            while not answer.head_done:
                _receive(conn, answer, read_timeout, request)
        except BaseException:
            self._discard(conn)
            raise
        return answer.response(request, _Body(self, conn, answer, read_timeout, request))

    # -- the pool ----------------------------------------------------------------

    def _acquire(self, origin: Origin, timeouts: Timeouts, request: httpx.Request
                 ) -> _Connection:
        book = self._book
        waiter = None
        with self._lock:
            if book.closed:
                raise closed_transport(request)
            conn = book.take_idle(origin, time.monotonic())
            if conn is not None:
                book.busy.add(conn)
                return conn
            if not book.reserve(origin):
                waiter = _Waiter()
                book.wait(origin, waiter)
        if waiter is not None:
            got = self._wait_for_slot(waiter, timeouts.get("pool"), request)
            if got is not None:
                if got.reusable():
                    with self._lock:
                        book.busy.add(got)
                    return got
                # Closed by the server while it was handed over: nothing was written to
                # it; a fresh connection takes its slot.
                got.close()
        try:
            conn = self._connect(origin, timeouts.get("connect"), request)
        except BaseException:
            with self._lock:
                book.free_slot(origin)
            raise
        with self._lock:
            book.busy.add(conn)
        return conn

    def _wait_for_slot(self, waiter: _Waiter, timeout: float | None,
                       request: httpx.Request) -> _Connection | None:
        """A connection handed over by a finished exchange, or None: a slot to connect in."""
        if not waiter.event.wait(timeout):
            with self._lock:
                if not waiter.given:  # still queued: withdraw (the pool skips it)
                    waiter.given = True
                    raise pool_timeout(request)
        return waiter.result

    def _connect(self, origin: Origin, timeout: float | None, request: httpx.Request
                 ) -> _Connection:
        scheme, host, port = origin
        started = time.monotonic()
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise connect_failure(exc, origin, timeout, request) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                with self._lock:
                    if self._tls is None:
                        self._tls = httpx.create_ssl_context()
                    tls = self._tls
                if timeout is not None:  # the handshake shares the connect budget
                    sock.settimeout(max(0.001, timeout - (time.monotonic() - started)))
                sock = tls.wrap_socket(sock, server_hostname=host)
        except (TimeoutError, OSError) as exc:  # TLS handshake or certificate
            sock.close()
            raise connect_failure(exc, origin, timeout, request) from exc
        conn = _Connection(origin, sock)
        conn.timeout = sock.gettimeout()  # what the connect (or the handshake) left set
        return conn

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            self._book.release(conn, time.monotonic())

    def _discard(self, conn: _Connection) -> None:
        with self._lock:
            self._book.discard(conn)

    def close(self) -> None:
        with self._lock:
            busy = self._book.close()
        for conn in busy:
            conn.close()


def _receive(conn: _Connection, answer: Answer, timeout: float | None,
             request: httpx.Request) -> None:
    """Feed the next bytes to the parser."""
    conn.settimeout(timeout)
    try:
        data = conn.sock.recv(_READ_SIZE)
    except Exception as exc:  # timed out, or the connection was reset or failed (OSError, TLS)
        raise read_failure(exc, timeout, request) from exc
    answer.take(data, request)


class _Body(httpx.SyncByteStream):
    """The response body; closing it returns the connection (only if the exchange completed)."""

    __slots__ = ("_answer", "_closed", "_conn", "_pool", "_request", "_timeout")

    def __init__(self, pool: HTTP1Transport, conn: _Connection, answer: Answer,
                 timeout: float | None, request: httpx.Request) -> None:
        self._pool = pool
        self._conn = conn
        self._answer = answer
        self._timeout = timeout
        self._request = request
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        answer = self._answer
        while True:
            if answer.body:
                yield answer.next_chunk()
            if answer.done:
                return
            _receive(self._conn, answer, self._timeout, self._request)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._answer.reusable_after():
            self._pool._release(self._conn)
        else:
            self._pool._discard(self._conn)
